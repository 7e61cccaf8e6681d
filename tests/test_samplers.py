"""Statistical behaviour of every relaxation: moments, gradients, sampler agreement."""

import pytest
import torch
from conftest import assert_close_se, expected_mean_gradient, mean_and_se, variance_and_se
from scipy import stats

import poissongrad as pg
from poissongrad.registry import REGISTRY
from poissongrad.samplers.eat import eat_reference, eat_windowed, reference_n_exp
from poissongrad.samplers.gsm import gumbel_softmax_counts, poisson_logits
from poissongrad.samplers.indicators import INDICATORS

EAT_METHODS = [m for m in pg.METHODS if REGISTRY[m].family == "eat"]
# (λ, τ, n draws): small and large rates, τ inside and beyond the τ ≤ 1 regime.
SETTINGS = [(1.0, 0.5, 40_000), (20.0, 0.1, 20_000), (0.3, 1.0, 40_000), (5.0, 1.6, 10_000)]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("method", EAT_METHODS)
@pytest.mark.parametrize("lam,tau,n", SETTINGS)
def test_eat_moments_match_campbell_closed_forms(method, lam, tau, n):
    rate = torch.full((n,), lam, dtype=torch.float64)
    z = pg.relaxed_poisson(rate, tau, method, generator=_gen(1))
    mean, se = mean_and_se(z)
    var, var_se = variance_and_se(z)
    assert_close_se(mean, se, float(pg.relaxed_mean(method, torch.tensor(lam), tau)), "mean")
    assert_close_se(var, var_se, float(pg.relaxed_variance(method, torch.tensor(lam), tau)), "var")


def test_cubic_mean_is_the_rate_and_sigmoid_mean_is_biased_up():
    lam, tau = 4.0, 0.5
    assert float(pg.relaxed_mean("eat_cubic", torch.tensor(lam), tau)) == pytest.approx(lam)
    expected = lam * (1 + tau * torch.log1p(torch.exp(torch.tensor(-1 / tau))))
    assert float(pg.relaxed_mean("eat_sigmoid", torch.tensor(lam), tau)) == pytest.approx(
        float(expected)
    )
    assert float(pg.relaxed_variance("eat_cubic", torch.tensor(lam), tau)) == pytest.approx(
        lam * (1 - 9 * tau / 35)
    )


def _per_element_gradients(sampler, lam, n, seed, **kw):
    rate = torch.full((n,), lam, dtype=torch.float64, requires_grad=True)
    z = sampler(rate, generator=_gen(seed), **kw)
    (g,) = torch.autograd.grad(z.sum(), rate)
    return z.detach(), g


@pytest.mark.parametrize("method", EAT_METHODS)
@pytest.mark.parametrize("lam,tau", [(3.0, 0.3), (0.7, 0.05), (8.0, 1.0)])
def test_mean_pathwise_gradient_is_the_derivative_of_the_closed_form_mean(method, lam, tau):
    ind = INDICATORS[method[4:]]

    def sampler(rate, generator):
        return pg.relaxed_poisson(rate, tau, method, generator=generator)

    _, g = _per_element_gradients(sampler, lam, 40_000, seed=2)
    mean, se = mean_and_se(g)
    assert_close_se(mean, se, ind.integral(tau), "dE[z]/dλ")  # = 1 for compact, τ ≤ 1


@pytest.mark.parametrize("method", EAT_METHODS)
def test_windowed_and_reference_samplers_agree_in_law_and_mean_gradient(method):
    lam, tau, n = 3.0, 0.3, 20_000
    ind = INDICATORS[method[4:]]
    zw, gw = _per_element_gradients(
        lambda r, generator: eat_windowed(r, tau, ind, generator=generator), lam, n, seed=3
    )
    zr, gr = _per_element_gradients(
        lambda r, generator: eat_reference(r, tau, ind, generator=generator), lam, n, seed=4
    )
    assert stats.ks_2samp(zw.numpy(), zr.numpy()).pvalue > 1e-3
    (mw, sw), (mr, sr) = mean_and_se(gw), mean_and_se(gr)
    assert_close_se(mw - mr, (sw**2 + sr**2) ** 0.5, 0.0, "mean gradient windowed − reference")


def test_reference_with_the_paper_n_exp_rule_warns_about_truncation():
    ind = INDICATORS["sigmoid"]
    assert reference_n_exp(50.0, 0.5, ind, "paper") < reference_n_exp(50.0, 0.5, ind, "auto")
    with pytest.warns(UserWarning, match="dropped"):
        eat_reference(torch.full((10,), 50.0), 0.5, ind, n_exp="paper")


@pytest.mark.parametrize("name", ["cubic", "quintic", "cosine", "sigmoid"])
def test_gradcheck_of_the_reference_map_from_noise_to_sample(name):
    ind = INDICATORS[name]
    rate = torch.tensor([0.4, 2.0, 7.5], dtype=torch.float64, requires_grad=True)

    def f(r):
        return eat_reference(r, 0.3, ind, generator=_gen(5))

    assert torch.autograd.gradcheck(f, (rate,))


def test_gradcheck_of_the_gumbel_softmax_map_from_noise_to_sample():
    rate = torch.tensor([0.4, 2.0, 7.5], dtype=torch.float64, requires_grad=True)

    def f(r):
        return gumbel_softmax_counts(poisson_logits(r, 25), 0.5, generator=_gen(6))

    assert torch.autograd.gradcheck(f, (rate,))


@pytest.mark.parametrize("method", pg.METHODS)
def test_straight_through_forwards_exact_poisson_counts_and_the_relaxed_gradient(method):
    lam, n = 2.5, 40_000
    rate = torch.full((n,), lam, dtype=torch.float64, requires_grad=True)
    options = {"support_size": 40} if method == "gsm" else {}
    z = pg.relaxed_poisson(rate, 0.3, method, straight_through=True, generator=_gen(7), **options)
    assert torch.equal(z, z.round())
    mean, se = mean_and_se(z.detach())
    var, var_se = variance_and_se(z.detach())
    assert_close_se(mean, se, lam, "straight-through mean")
    assert_close_se(var, var_se, lam, "straight-through variance")
    (g,) = torch.autograd.grad(z.sum(), rate)
    # The backward pass is the relaxation's: its mean is d/dλ E z̃ of the soft sample.
    m, se = mean_and_se(g)
    expected, expected_se = expected_mean_gradient(method, lam, 0.3)
    assert_close_se(m, (se**2 + expected_se**2) ** 0.5, expected, "straight-through dz̃/dλ")


@pytest.mark.parametrize("method", pg.METHODS)
def test_temperature_zero_gives_hard_counts_without_gradient(method):
    rate = torch.full((1000,), 3.0, requires_grad=True)
    z = pg.relaxed_poisson(rate, 0.0, method, generator=_gen(8))
    assert torch.equal(z, z.round()) and not z.requires_grad


def test_gsm_at_small_temperature_is_close_to_poisson():
    lam, n = 4.0, 40_000
    z = pg.relaxed_poisson(torch.full((n,), lam), 0.05, "gsm", generator=_gen(9))
    mean, se = mean_and_se(z)
    # The soft weights put at most O(e^{-1/τ}) mass off the argmax; allow that on top of 5 se.
    assert abs(mean - lam) < 5 * se + 0.02


def test_same_generator_seed_gives_same_samples():
    rate = torch.linspace(0.1, 30, 100)
    for method in pg.METHODS:
        a = pg.relaxed_poisson(rate, 0.2, method, generator=_gen(10))
        b = pg.relaxed_poisson(rate, 0.2, method, generator=_gen(10))
        assert torch.equal(a, b), method


@pytest.mark.parametrize("method", pg.METHODS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("tau", [1e-3, 1.0])
def test_no_nan_or_inf_across_extreme_rates_and_temperatures(method, dtype, tau):
    rate = torch.tensor([0.0, 1e-8, 1e-3, 1.0, 1e3, 1e5], dtype=dtype, requires_grad=True)
    z = pg.relaxed_poisson(rate, tau, method, generator=_gen(11))
    (g,) = torch.autograd.grad(z.sum(), rate)
    assert z.dtype == dtype and torch.isfinite(z).all() and torch.isfinite(g).all()
    assert float(z[0].detach()) == 0.0
    if (
        REGISTRY[method].family == "eat"
    ):  # large rates stay within a few standard deviations of the relaxed mean
        expected = float(pg.relaxed_mean(method, torch.tensor(1e5), tau))
        assert abs(float(z[-1].detach()) - expected) < 10 * 1e5**0.5


def test_gsm_keeps_float32_precision_at_large_rates():
    lam, n = 1e4, 20_000
    rate = torch.full((n,), lam, dtype=torch.float32)
    z = pg.relaxed_poisson(rate, 0.1, "gsm", straight_through=True, generator=_gen(12))
    m, se = mean_and_se(z)
    v, v_se = variance_and_se(z)
    assert_close_se(m, se, lam, "GSM-ST mean at λ = 1e4")
    assert_close_se(v, v_se, lam, "GSM-ST variance at λ = 1e4")
    # The logits the softmax sees agree with float64 ones to float32 resolution.
    wide = poisson_logits(torch.tensor([lam], dtype=torch.float64), 11_000)
    narrow = poisson_logits(torch.tensor([lam]), 11_000)
    near = wide > -50
    torch.testing.assert_close(narrow[near].double(), wide[near], atol=1e-4, rtol=0)


def test_tracing_gsm_with_an_automatic_support_is_refused_and_a_fixed_one_traces_right():
    def auto(rate):
        return pg.relaxed_poisson(rate, 0.1, "gsm", validate_args=False)

    with pytest.raises(ValueError, match="cannot be traced"):
        torch.jit.trace(auto, torch.full((4,), 2.0), check_trace=False)

    def fixed(rate):
        return pg.relaxed_poisson(
            rate, 0.1, "gsm", straight_through=True, support_size=80, validate_args=False
        )

    traced = torch.jit.trace(fixed, torch.full((4,), 2.0), check_trace=False)
    z = traced(torch.full((20_000,), 30.0))  # far above the trace-time rate
    m, se = mean_and_se(z)
    assert_close_se(m, se, 30.0, "traced GSM-ST mean at λ = 30")


def test_the_gsm_soft_count_has_softmax_derivatives_of_every_order():
    from poissongrad.samplers.gsm import _SoftCount

    y = torch.randn(5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    k = torch.arange(7, dtype=torch.float64)

    def reference(v):
        return torch.softmax(v, -1) @ k

    y.requires_grad_(True)

    def first_and_second(f):
        (g,) = torch.autograd.grad(f(y).pow(3).sum(), y, create_graph=True)
        return g, torch.autograd.grad(g.sin().sum(), y)[0]

    torch.testing.assert_close(first_and_second(_SoftCount.apply), first_and_second(reference))
    t = torch.randn(5, 7, dtype=torch.float64)
    x = y.detach()
    torch.testing.assert_close(
        torch.func.jvp(_SoftCount.apply, (x,), (t,)), torch.func.jvp(reference, (x,), (t,))
    )
    torch.testing.assert_close(torch.func.vmap(_SoftCount.apply)(x), reference(x))
