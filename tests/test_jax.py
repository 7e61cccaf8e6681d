"""The JAX samplers and NumPyro distributions: the torch sampler's closed forms, derivatives and
law, and SVI that reaches a known optimum. Fixed seeds; 5 standard errors; KS p > 1e-4."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import (
    COUNT_OBSERVED,
    COUNT_PRIOR,
    N_SE,
    assert_close_se,
    assert_count_model_optimum,
    mean_and_se,
    variance_and_se,
)
from scipy import stats

import poissongrad as pg
from poissongrad.samplers.indicators import INDICATORS, get_indicator

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
numpyro = pytest.importorskip("numpyro")

from poissongrad.jax import _parts, relaxed_poisson, window_slots  # noqa: E402
from poissongrad.numpyro import (  # noqa: E402
    CountELBO,
    RelaxedNegativeBinomial,
    RelaxedPoisson,
    negative_binomial_slots,
)

EAT = [f"eat_{name}" for name in sorted(INDICATORS)]
CELLS = [(0.7, 0.3), (6.0, 0.1), (25.0, 0.5)]
N = 100_000


def _t(x) -> torch.Tensor:
    return torch.from_numpy(np.asarray(x, dtype=np.float64))


def _draw(method, lam, tau, seed=0, n=N):
    rate = jnp.full((n,), lam)
    return relaxed_poisson(jax.random.key(seed), rate, tau, method)


@pytest.mark.parametrize("method", EAT)
@pytest.mark.parametrize(("lam", "tau"), CELLS)
def test_eat_moments_and_derivatives_match_the_closed_forms(method, lam, tau):
    indicator = get_indicator(method[4:])
    g1, g2 = indicator.integral(tau), indicator.integral_sq(tau)
    z = _draw(method, lam, tau)
    assert_close_se(*mean_and_se(_t(z)), lam * g1, f"{method} mean")
    assert_close_se(*variance_and_se(_t(z)), lam * g2, f"{method} variance")
    rate = jnp.full((N,), lam)
    slots = window_slots(lam, tau, method)

    def draw(r):
        return relaxed_poisson(jax.random.key(1), r, tau, method, capacity=slots)

    slope = jax.grad(lambda r: draw(r).sum())(rate)
    assert_close_se(*mean_and_se(_t(slope)), g1, f"{method} E ∂z̃/∂λ")
    if indicator.second_derivative is None:
        return
    # Forward over reverse, elementwise: d²(z̃²)/dλ², whose mean is 2(∫g)².
    _, second = jax.jvp(jax.grad(lambda r: (draw(r) ** 2).sum()), (rate,), (jnp.ones_like(rate),))
    assert_close_se(*mean_and_se(_t(second)), 2 * g1**2, f"{method} E d²z̃²/dλ²")


@pytest.mark.parametrize("method", EAT)
@pytest.mark.parametrize(("lam", "tau"), [(0.7, 0.3), (6.0, 0.1)])
def test_jax_and_torch_samplers_have_the_same_law(method, lam, tau):
    z_jax = np.asarray(_draw(method, lam, tau, seed=3, n=40_000), dtype=np.float64)
    rate = torch.full((40_000,), lam, dtype=torch.float64, requires_grad=True)
    z_torch = pg.relaxed_poisson(rate, tau, method, generator=torch.Generator().manual_seed(3))
    (s_torch,) = torch.autograd.grad(z_torch.sum(), rate)
    slots = window_slots(lam, tau, method)
    s_jax = jax.grad(
        lambda r: relaxed_poisson(jax.random.key(4), r, tau, method, capacity=slots).sum()
    )(jnp.full((40_000,), lam))
    assert stats.ks_2samp(z_jax, z_torch.detach().numpy()).pvalue > 1e-4
    assert stats.ks_2samp(np.asarray(s_jax), s_torch.numpy()).pvalue > 1e-4


@pytest.mark.parametrize(("lam", "tau"), [(0.7, 0.3), (6.0, 0.1), (25.0, 0.5)])
def test_jax_gsm_has_the_law_of_the_torch_gsm(lam, tau):
    z_jax = np.asarray(
        relaxed_poisson(jax.random.key(5), jnp.full((40_000,), lam), tau, "gsm", support_size=60),
        dtype=np.float64,
    )
    rate = torch.full((40_000,), lam, dtype=torch.float64)
    z_torch = pg.relaxed_poisson(rate, tau, "gsm", support_size=60, sampler="softmax")
    # JAX draws in float32: compare at float32 resolution (near-integer values at small τ).
    z_torch = z_torch.float().double().numpy()
    assert stats.ks_2samp(z_jax, z_torch).pvalue > 1e-4


@pytest.mark.parametrize("name", sorted(INDICATORS))
def test_both_backends_evaluate_the_same_indicator(name):
    indicator = get_indicator(name)
    tau = 0.3
    lo, hi = indicator.window(tau)
    t = np.linspace(max(lo, 0.0) + 1e-6, hi - 1e-6, 101)
    g, dg, d2g = (np.asarray(a, dtype=np.float64) for a in _parts(name, jnp.asarray(t), tau))
    tt = torch.from_numpy(t)
    np.testing.assert_allclose(g, indicator.value(tt, tau).numpy(), atol=1e-5)
    np.testing.assert_allclose(dg, indicator.derivative(tt, tau).numpy(), rtol=1e-4, atol=1e-4)
    if indicator.second_derivative is not None:
        d2 = indicator.second_derivative(tt, tau).numpy()
        np.testing.assert_allclose(d2g, d2, rtol=1e-4, atol=1e-3)


def _float64():
    """JAX in float64 for one test (the derivatives of a softmax differ by float32 rounding
    between modes)."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64

    return enable_x64()


@pytest.mark.parametrize("method", ["eat_cubic", "eat_sigmoid", "gsm"])
def test_every_transform_gives_the_same_derivatives_on_the_same_draw(method):
    with _float64():
        _same_derivatives_in_every_mode(method)


def _same_derivatives_in_every_mode(method):
    rate = jnp.array([0.5, 3.0, 8.0, 20.0], dtype=jnp.float64)
    if method == "gsm":
        static = {"support_size": 60}
    else:
        static = {"capacity": window_slots(20, 0.2, method)}

    def draw(r):
        return relaxed_poisson(jax.random.key(7), r, 0.2, method, **static)

    tol = {"rtol": 1e-9, "atol": 1e-12}
    grad = jax.grad(lambda r: draw(r).sum())(rate)
    np.testing.assert_allclose(jnp.diag(jax.jacfwd(draw)(rate)), grad, **tol)
    np.testing.assert_allclose(jnp.diag(jax.jacrev(draw)(rate)), grad, **tol)
    _, tangent = jax.jvp(draw, (rate,), (jnp.ones_like(rate),))
    np.testing.assert_allclose(tangent, grad, **tol)
    np.testing.assert_allclose(jax.jit(draw)(rate), draw(rate), rtol=1e-12)

    def square(r):
        return (draw(r) ** 2).sum()

    hessian = jnp.diag(jax.hessian(square)(rate))
    _, fwd_rev = jax.jvp(jax.grad(square), (rate,), (jnp.ones_like(rate),))
    rev_rev = jnp.diag(jax.jacrev(jax.grad(square))(rate))
    np.testing.assert_allclose(hessian, fwd_rev, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(rev_rev, fwd_rev, rtol=1e-8, atol=1e-10)
    batched = jax.vmap(lambda k: relaxed_poisson(k, rate, 0.2, method, **static))(
        jax.random.split(jax.random.key(8), 3)
    )
    assert batched.shape == (3, 4) and bool(jnp.isfinite(batched).all())


def test_third_derivatives_and_the_linear_indicators_second_are_nan_not_wrong():
    rate = jnp.array([3.0, 5.0])

    def draw(r, method="eat_cubic"):
        return relaxed_poisson(jax.random.key(9), r, 0.3, method, capacity=20)

    def slope(r):
        return jax.grad(lambda p: draw(p).sum())(r)

    def curvature(r):
        return jax.grad(lambda q: slope(q).sum())(r)

    third = jax.grad(lambda r: curvature(r).sum())(rate)
    assert bool(jnp.isnan(third).all())
    linear = jax.grad(lambda r: jax.grad(lambda q: draw(q, "eat_linear").sum())(r).sum())(rate)
    assert bool(jnp.isnan(linear).all())


def test_more_arrivals_than_slots_is_nan_under_jit_never_a_truncation():
    draw = jax.jit(lambda r: relaxed_poisson(jax.random.key(10), r, 0.5, capacity=3))
    z = draw(jnp.full((1000,), 50.0))
    assert bool(jnp.isnan(z).any())
    assert int(jnp.isnan(z).sum()) == 1000 - int((jnp.isfinite(z)).sum())
    assert window_slots(50.0, 0.5) > 50  # the default bound is far above the mean (50 arrivals)


def test_static_sizes_are_required_under_jit_and_bad_input_is_refused():
    with pytest.raises(ValueError, match="pass capacity="):
        jax.jit(lambda r: relaxed_poisson(jax.random.key(0), r, 0.1))(jnp.ones(3))
    with pytest.raises(ValueError, match="pass support_size="):
        jax.jit(lambda r: relaxed_poisson(jax.random.key(0), r, 0.1, "gsm"))(jnp.ones(3))
    with pytest.raises(ValueError, match="temperature must be finite and > 0"):
        relaxed_poisson(jax.random.key(0), jnp.ones(3), 0.0)
    with pytest.raises(ValueError, match="Python float"):
        relaxed_poisson(jax.random.key(0), jnp.ones(3), jnp.array(0.1))
    with pytest.raises(ValueError, match="floating dtype"):
        relaxed_poisson(jax.random.key(0), jnp.ones(3, dtype=jnp.int32), 0.1)
    with pytest.raises(ValueError, match="finite, >= 0 and <="):
        relaxed_poisson(jax.random.key(0), jnp.array([1.0, jnp.nan]), 0.1)
    with pytest.raises(ValueError, match="unknown method"):
        relaxed_poisson(jax.random.key(0), jnp.ones(3), 0.1, "eat_cubical")


def test_numpyro_negative_binomial_has_its_closed_form_moments():
    r, p, tau = 3.0, 0.6, 0.3
    d = RelaxedNegativeBinomial(r, probs=p, temperature=tau, capacity=negative_binomial_slots(
        r, p, tau))
    z = d.sample(jax.random.key(11), (N,))
    assert_close_se(*mean_and_se(_t(z)), float(d.mean), "NB mean")
    assert_close_se(*variance_and_se(_t(z)), float(d.variance), "NB variance")
    # d E z̃ / dr = p/(1 − p) ∫g (∫g = 1 for the cubic indicator): pathwise through the Gamma.
    slope = jax.grad(
        lambda total: RelaxedNegativeBinomial(
            total, probs=p, temperature=tau, capacity=negative_binomial_slots(4.0, p, tau)
        ).sample(jax.random.key(12), (N,)).mean()
    )(r)
    assert abs(float(slope) - p / (1 - p)) < 0.05  # one mean of N draws: SE ≈ 0.01


def test_numpyro_svi_reaches_the_known_optimum():
    # A relaxed prior Poisson(3) and a relaxed guide Poisson(θ) per site: the ELBO is the
    # Poisson KL at the same relaxed draws, whose expectation under EAT-cubic (E z̃ = θ) is
    # θ log(θ/3) − θ + 3, minimised at θ* = 3.
    from numpyro import handlers, param, plate, sample  # noqa: F401
    from numpyro.infer import SVI, Trace_ELBO
    from numpyro.optim import Adam

    slots = window_slots(10.0, 0.3)

    def model():
        with plate("latents", 64):
            sample("z", RelaxedPoisson(3.0, 0.3, capacity=slots))

    def guide():
        theta = param("theta", 1.0, constraint=numpyro.distributions.constraints.positive)
        with plate("latents", 64):
            sample("z", RelaxedPoisson(theta, 0.3, capacity=slots))

    svi = SVI(model, guide, Adam(0.02), Trace_ELBO())
    path = _svi_path(svi, jax.random.key(13), 2500, "theta")
    tail = torch.tensor(path[1500:], dtype=torch.float64).reshape(10, 100).mean(1)
    estimate, se = float(tail.mean()), float(tail.std() / math.sqrt(10))
    assert abs(estimate - 3.0) <= N_SE * se + 0.02, (estimate, se)
    assert path[0] < 1.5  # it started far away


# -- CountELBO for NumPyro: Stein and score functions with hard Poisson sites -------------------
def _count_model():
    z = numpyro.sample("z", numpyro.distributions.Poisson(COUNT_PRIOR))
    with numpyro.plate("obs", len(COUNT_OBSERVED)):
        observed = np.array(COUNT_OBSERVED)
        numpyro.sample("x", numpyro.distributions.Poisson(0.5 + 0.3 * z), obs=observed)


def _count_guide():
    positive = numpyro.distributions.constraints.positive
    rate = numpyro.param("rate", 1.0, constraint=positive)
    numpyro.sample("z", numpyro.distributions.Poisson(rate))


@pytest.mark.parametrize("estimator", ["stein", "score_loo"])
def test_numpyro_svi_with_a_count_elbo_reaches_the_enumerated_optimum(estimator):
    svi = numpyro.infer.SVI(
        _count_model, _count_guide, numpyro.optim.Adam(0.05), CountELBO(estimator, 4)
    )
    rates = _svi_path(svi, jax.random.key(0), 400, "rate")
    assert_count_model_optimum(float(np.mean(rates[-150:])))


def test_the_numpyro_count_elbo_refuses_what_it_cannot_estimate():
    with pytest.raises(ValueError, match="REBAR and RELAX"):
        CountELBO("rebar_cubic", 4)
    with pytest.raises(ValueError, match="needs n_samples >= 2"):
        CountELBO("stein", 1)

    def normal_guide():
        numpyro.sample("z", numpyro.distributions.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match="Poisson sites only"):
        CountELBO("stein", 4).loss(jax.random.key(0), {}, _count_model, normal_guide)
    # a rate beyond exact draws: NaN, not a number from clipped draws
    huge = CountELBO("stein", 4).loss(jax.random.key(0), {"rate": 1e30}, _count_model, _count_guide)
    assert math.isnan(float(huge))


def _svi_path(svi, key, steps: int, name: str) -> list[float]:
    """The parameter ``name`` after each of ``steps`` jit-compiled SVI updates from ``key``."""
    state = svi.init(key)
    update = jax.jit(svi.update)
    path = []
    for _ in range(steps):
        state, _ = update(state)
        path.append(float(svi.get_params(state)[name]))
    return path
