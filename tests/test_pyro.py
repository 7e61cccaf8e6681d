"""Pyro: relaxed sample sites in SVI with plates, to_event and Predictive (skipped without Pyro)."""

import numpy as np
import pytest
import torch
from conftest import COUNT_OBSERVED, COUNT_PRIOR, assert_count_model_optimum

pyro = pytest.importorskip("pyro")
import pyro.distributions as pdist  # noqa: E402
from pyro.infer import SVI, Predictive, Trace_ELBO, TraceMeanField_ELBO  # noqa: E402

import poissongrad as pg  # noqa: E402
from poissongrad.pyro import (  # noqa: E402
    CountELBO,
    RelaxedCOMPoisson,
    RelaxedCount,
    RelaxedNegativeBinomial,
    RelaxedPoisson,
)

K, D, N = 3, 6, 200


def _data():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(D, K, generator=gen)
    z = torch.poisson(torch.full((N, K), 2.0), generator=gen)
    return z @ w.T + 0.3 * torch.randn(N, D, generator=gen), w


def model(x, w):
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample(
            "z", RelaxedPoisson(rate=torch.full((K,), 2.0), temperature=0.2).to_event(1)
        )
        pyro.sample("x", pdist.Normal(z @ w.T, 0.3).to_event(1), obs=x)


def guide(x, w):
    log_rate = pyro.param("log_rate", torch.zeros(x.shape[0], K))
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", RelaxedPoisson(log_rate=log_rate, temperature=0.2).to_event(1))


def test_svi_with_a_relaxed_prior_and_guide_trains_and_predicts():
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    x, w = _data()
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), Trace_ELBO())
    losses = [svi.step(x, w) for _ in range(150)]
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10
    draws = Predictive(model, guide=guide, num_samples=4)(x, w)
    assert draws["z"].shape == (4, N, K) and draws["x"].shape == (4, N, D)
    assert bool((draws["z"] >= 0).all())


def test_a_poisson_prior_rejects_a_relaxed_guide_sample_as_documented():
    pyro.clear_param_store()
    x, w = _data()

    def poisson_model(x, w):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", pdist.Poisson(torch.full((K,), 2.0)).to_event(1))

    with pytest.raises(ValueError, match="support"):
        Trace_ELBO().loss(poisson_model, guide, x, w)


def test_the_negative_binomial_is_a_pyro_site_too():
    def nb_model():
        with pyro.plate("n", 5):
            return pyro.sample(
                "z", RelaxedNegativeBinomial(torch.tensor(3.0), probs=torch.tensor(0.5))
            )

    assert nb_model().shape == (5,)


def test_constrained_params_use_the_registered_bijections():
    pyro.clear_param_store()
    rate = pyro.param(
        "rate", torch.tensor([0.5, 2.0]), constraint=RelaxedPoisson.arg_constraints["rate"]
    )
    log_rate = pyro.param(
        "log_rate_c",
        torch.tensor([-1.0, 3.0]),
        constraint=RelaxedPoisson.arg_constraints["log_rate"],
    )
    torch.testing.assert_close(rate.detach(), torch.tensor([0.5, 2.0]))
    torch.testing.assert_close(log_rate.detach(), torch.tensor([-1.0, 3.0]))
    unconstrained = pyro.get_param_store()._params["rate"]
    torch.testing.assert_close(unconstrained.detach(), torch.tensor([0.5, 2.0]).log())


def test_no_poisson_kl_stands_in_for_the_kl_of_two_relaxations():
    # With a Poisson KL registered, TraceMeanField_ELBO optimised another objective than
    # Trace_ELBO; without one it estimates the same Monte-Carlo term on the same draws.
    p = pg.RelaxedPoisson(rate=torch.tensor(2.0), temperature=0.3, method="eat_sigmoid")
    with pytest.raises(NotImplementedError):
        torch.distributions.kl_divergence(p, p)

    def prior():
        pyro.sample(
            "z", RelaxedPoisson(rate=torch.tensor(2.0), temperature=0.3, method="eat_sigmoid")
        )

    def posterior():
        pyro.sample(
            "z", RelaxedPoisson(rate=torch.tensor(3.0), temperature=0.3, method="eat_sigmoid")
        )

    losses = []
    for elbo in (
        Trace_ELBO(num_particles=500, vectorize_particles=True),
        TraceMeanField_ELBO(num_particles=500, vectorize_particles=True),
    ):
        pyro.set_rng_seed(0)
        losses.append(elbo.loss(prior, posterior))
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


def test_com_poisson_and_count_laws_are_pyro_sites():
    def sites():
        with pyro.plate("n", 4):
            a = pyro.sample("a", RelaxedCOMPoisson(torch.tensor(3.0), torch.tensor(1.5)))
            b = pyro.sample("b", RelaxedCount(torch.zeros(5), temperature=0.2))
        return a, b

    a, b = sites()
    assert a.shape == b.shape == (4,)
    assert type(RelaxedCount(torch.zeros(5)).expand((3,))) is RelaxedCount


# -- CountELBO: the library's estimators inside SVI --------------------------------------------
OBSERVED = torch.tensor(COUNT_OBSERVED)


def _count_model():
    z = pyro.sample("z", pdist.Poisson(torch.tensor(COUNT_PRIOR)))
    with pyro.plate("obs", len(OBSERVED)):
        pyro.sample("x", pdist.Poisson(0.5 + 0.3 * z), obs=OBSERVED)


def _count_guide():
    rate = pyro.param("rate", torch.tensor(1.0), constraint=pdist.constraints.positive)
    pyro.sample("z", pdist.Poisson(rate))


@pytest.mark.parametrize("estimator", ["rebar_cubic", "stein"])
def test_svi_with_a_control_variate_elbo_reaches_the_enumerated_optimum(estimator):
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    elbo = CountELBO(estimator, num_particles=4, temperature=0.5)
    svi = SVI(_count_model, _count_guide, pyro.optim.Adam({"lr": 0.05}), elbo)
    rates = []
    for _ in range(250):
        svi.step()
        rates.append(float(pyro.param("rate").detach()))
    assert_count_model_optimum(float(np.mean(rates[-100:])))
    assert (elbo.control is not None) == (estimator == "rebar_cubic")  # REBAR learns η, τ


def test_count_elbo_refuses_guides_it_cannot_estimate():
    def normal_guide():
        pyro.sample("z", pdist.Normal(torch.tensor(0.0), 1.0))

    with pytest.raises(ValueError, match="Poisson sites only"):
        CountELBO("stein", 4).loss(_count_model, normal_guide)
    with pytest.raises(ValueError, match="needs n_samples >= 2"):
        CountELBO("stein", 1)
