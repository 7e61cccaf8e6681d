"""The torch.distributions contract of RelaxedPoisson: shapes, expand, validation, KL."""

import math

import pytest
import torch
from conftest import assert_close_se, expected_mean_gradient, mean_and_se
from torch.distributions import Poisson, kl_divergence

import poissongrad as pg


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_shapes_follow_sample_and_batch_shape():
    rate = torch.rand(3, 4) * 5
    d = pg.RelaxedPoisson(rate=rate, temperature=0.2)
    assert d.batch_shape == (3, 4) and d.event_shape == ()
    assert d.rsample().shape == (3, 4)
    assert d.rsample((7,)).shape == (7, 3, 4)
    assert d.sample((2, 5)).shape == (2, 5, 3, 4)
    assert d.log_prob(torch.ones(3, 4)).shape == (3, 4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("method", pg.METHODS)
def test_dtype_is_preserved_and_the_mean_gradient_is_the_derivative_of_the_mean(dtype, method):
    lam, tau, n = 4.0, 0.3, 20_000
    rate = torch.full((n,), lam, dtype=dtype, requires_grad=True)
    options = {"support_size": 40} if method == "gsm" else {}
    d = pg.RelaxedPoisson(rate=rate, temperature=tau, method=method, generator=_gen(1), **options)
    z = d.rsample()
    assert z.dtype == dtype and z.shape == (n,)
    z.sum().backward()  # elements are independent: rate.grad holds n per-draw dz̃/dλ
    assert rate.grad.dtype == dtype
    m, se = mean_and_se(rate.grad)
    expected, expected_se = expected_mean_gradient(method, lam, tau)
    assert_close_se(m, (se**2 + expected_se**2) ** 0.5, expected, f"{method} mean dz̃/dλ")


def test_expand_keeps_temperature_method_straight_through_and_options():
    d = pg.RelaxedPoisson(
        rate=torch.tensor([1.0, 2.0]),
        temperature=0.3,
        method="gsm",
        straight_through=True,
        support_size=20,
    )
    e = d.expand((5, 2))
    assert e.batch_shape == (5, 2)
    assert (e.temperature, e.method, e.straight_through) == (0.3, "gsm", True)
    assert e.options == {"support_size": 20}
    z = e.rsample()
    assert torch.equal(z, z.round())  # straight-through survived the expand


def test_log_rate_parameterisation_matches_rate():
    log_rate = torch.tensor([-1.0, 0.5, 3.0], requires_grad=True)
    d = pg.RelaxedPoisson(log_rate=log_rate, temperature=0.1)
    torch.testing.assert_close(d.rate, log_rate.exp())
    assert d.expand((2, 3)).rate.shape == (2, 3)
    # d/ds E z̃ = λ ∫g = λ for EAT-cubic (τ ≤ 1): per-draw gradients average to λ.
    many = log_rate.detach().expand(20_000, 3).clone().requires_grad_(True)
    pg.RelaxedPoisson(log_rate=many, temperature=0.1, generator=_gen(2)).rsample().sum().backward()
    for k in range(3):
        m, se = mean_and_se(many.grad[:, k])
        lam = float(log_rate[k].detach().exp())
        assert_close_se(m, se, lam, f"d/ds E z̃ at λ = {lam:g}")


def test_sample_gives_exact_hard_counts_and_log_prob_is_the_poisson_pmf():
    rate = torch.tensor([0.5, 3.0, 12.0])
    d = pg.RelaxedPoisson(rate=rate, temperature=0.5)
    k = d.sample((100,))
    assert torch.equal(k, k.round()) and not k.requires_grad
    torch.testing.assert_close(d.log_prob(k), Poisson(rate).log_prob(k))


def test_moments_are_those_of_the_relaxation():
    rate = torch.tensor([1.0, 20.0])
    cubic = pg.RelaxedPoisson(rate=rate, temperature=0.5)
    torch.testing.assert_close(cubic.mean, rate)
    torch.testing.assert_close(cubic.variance, rate * (1 - 9 * 0.5 / 35))
    sig = pg.RelaxedPoisson(rate=rate, temperature=0.5, method="eat_sigmoid")
    torch.testing.assert_close(sig.mean, rate * (1 + 0.5 * math.log1p(math.exp(-2))))
    st = pg.RelaxedPoisson(rate=rate, temperature=0.5, method="eat_sigmoid", straight_through=True)
    torch.testing.assert_close(st.variance, rate)
    with pytest.raises(NotImplementedError, match="no closed-form"):
        _ = pg.RelaxedPoisson(rate=rate, temperature=0.5, method="gsm").mean


def test_no_kl_is_registered_for_relaxations_and_the_poisson_kl_is_a_function():
    # A relaxation has no density: the Poisson KL is not the KL of two relaxations (see
    # test_pyro.py), so kl_divergence refuses rather than answer another question.
    p, q = torch.tensor([0.5, 3.0]), torch.tensor([2.0, 1.0])
    rp = pg.RelaxedPoisson(rate=p, temperature=0.1)
    rq = pg.RelaxedPoisson(rate=q, temperature=0.7, method="gsm")
    for a, b in [(rp, Poisson(q)), (rp, rq), (Poisson(p), rq)]:
        with pytest.raises(NotImplementedError):
            kl_divergence(a, b)
    torch.testing.assert_close(pg.poisson_kl(p, q), kl_divergence(Poisson(p), Poisson(q)))


def test_rate_zero_is_allowed_and_gives_zero():
    d = pg.RelaxedPoisson(rate=torch.zeros(4), temperature=0.2)
    assert torch.equal(d.rsample(), torch.zeros(4))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"rate": torch.tensor([1.0, -0.5])}, "rate"),
        ({"rate": torch.tensor([float("nan")])}, "rate"),
        ({"rate": torch.tensor([float("inf")])}, "rate"),
        ({"log_rate": torch.tensor([float("inf")])}, "log_rate"),
        ({"rate": torch.tensor([1, 2])}, "floating dtype"),
        ({"rate": torch.ones(2), "temperature": -0.1}, "-0.1"),
        ({"rate": torch.ones(2), "temperature": float("nan")}, "temperature"),
        ({"rate": torch.ones(2), "method": "eat_tanh"}, "eat_tanh"),
        ({"rate": torch.ones(2), "method": "gsm", "n_exp": 10}, "n_exp"),
        ({"rate": torch.ones(2), "method": "gsm", "support_size": 0}, "support_size"),
        ({"rate": torch.ones(2), "sampler": "fast"}, "fast"),
        ({}, "exactly one"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pg.RelaxedPoisson(**kwargs)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_functional_sampler_rejects_bad_rates(bad):
    with pytest.raises(ValueError, match="rate must be finite"):
        pg.relaxed_poisson(torch.tensor([1.0, bad]), 0.1)


@pytest.mark.parametrize("shape", [(3,), (4, 3), (2, 5)])
def test_log_prob_of_a_wrongly_shaped_value_is_a_value_error(shape):
    d = pg.RelaxedPoisson(rate=torch.ones(2), temperature=0.1)
    with pytest.raises(ValueError, match="not broadcastable"):
        d.log_prob(torch.ones(shape))
    assert d.log_prob(torch.ones(5, 2)).shape == (5, 2)  # sample_shape + batch_shape is fine


def test_log_prob_rejects_negative_counts():
    d = pg.RelaxedPoisson(rate=torch.ones(2), temperature=0.1)
    with pytest.raises(ValueError, match="counts"):
        d.log_prob(torch.tensor([1.0, -1.0]))


def test_mode_is_the_poisson_mode():
    rate = torch.tensor([0.4, 3.7, 12.0])
    d = pg.RelaxedPoisson(rate=rate, temperature=0.2)
    torch.testing.assert_close(d.mode, Poisson(rate).mode)
