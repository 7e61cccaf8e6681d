"""Unbiased control-variate estimators (REBAR, RELAX, Stein) and the conditional EAT sampler.

Every statistical check uses a fixed seed and a tolerance of 5 standard errors; exact gradients
come from the linear decoder's closed form, enumeration and the difference identity."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from conftest import N_SE, assert_close_se, mean_and_se, variance_and_se
from scipy import integrate

from poissongrad.control_variates import ControlVariate, make_control
from poissongrad.estimators import gradient_samples, learn_control, surrogate_loss
from poissongrad.exact import (
    difference_identity,
    enumerate_expectation,
    linear_decoder_grad_hessian,
)
from poissongrad.registry import REGISTRY, tagged
from poissongrad.samplers.eat_conditional import conditional_relaxation
from poissongrad.samplers.indicators import INDICATORS, get_indicator

UNBIASED_CV = ("rebar_cubic", "rebar_sigmoid", "rebar_linear", "relax_cubic", "stein")


def _integral(function, lo: float, hi: float) -> float:
    points = [p for p in (1.0,) if lo < p < hi]
    return integrate.quad(function, lo, hi, points=points or None, limit=200, epsabs=1e-13)[0]


def _g(name: str, tau: float):
    ind = get_indicator(name)
    return lambda t: float(ind.value(torch.tensor(t, dtype=torch.float64), tau))


def _dg(name: str, tau: float):
    ind = get_indicator(name)
    return lambda t: float(ind.derivative(torch.tensor(t, dtype=torch.float64), tau))


@pytest.mark.parametrize("name", sorted(INDICATORS))
@pytest.mark.parametrize(("lam", "tau"), [(0.7, 0.3), (6.0, 0.1), (6.0, 0.6)])
def test_conditional_draw_has_the_eat_law_when_the_count_is_poisson(name, lam, tau):
    # k ~ Poisson(λ), then the process given k: Campbell's moments λ∫g, λ∫g² and E slope = ∫g.
    ind = get_indicator(name)
    gen = torch.Generator().manual_seed(11)
    rate = torch.full((100_000,), lam, dtype=torch.float64)
    k = torch.poisson(rate, generator=gen)
    draw = conditional_relaxation(k, rate, tau, ind, gen)
    mean, se = mean_and_se(draw.relaxed)
    assert_close_se(mean, se, lam * ind.integral(tau), f"{name} mean")
    var, var_se = variance_and_se(draw.relaxed)
    assert_close_se(var, var_se, lam * ind.integral_sq(tau), f"{name} variance")
    slope, slope_se = mean_and_se(draw.slope)
    assert_close_se(slope, slope_se, ind.integral(tau), f"{name} unconditional slope")


@pytest.mark.parametrize("name", ["cubic", "sigmoid", "quintic"])
@pytest.mark.parametrize("k", [0.0, 1.0, 4.0])
def test_conditional_slope_is_the_derivative_of_the_conditional_mean(name, k):
    # Given k, E[z̃ | k] = k − k·w + k·w·avg_[lo,1] g + λ∫_1^hi g (w = 1 − lo): its λ-derivative
    # is ∫_1^hi g dt whatever k is; the conditional mean is checked too.
    tau, lam = 0.3, 2.5
    ind = get_indicator(name)
    lo, hi = ind.window(tau)
    lo = max(lo, 0.0)
    after = _integral(_g(name, tau), 1.0, hi)
    before = _integral(_g(name, tau), lo, 1.0) / (1.0 - lo)
    gen = torch.Generator().manual_seed(5)
    counts = torch.full((200_000,), k, dtype=torch.float64)
    draw = conditional_relaxation(counts, torch.full_like(counts, lam), tau, ind, gen)
    mean, se = mean_and_se(draw.relaxed)
    expected = k * lo + k * (1.0 - lo) * before + lam * after
    assert_close_se(mean, se, expected, f"{name} E[z̃ | k = {k}]")
    slope, slope_se = mean_and_se(draw.conditional_slope)
    assert_close_se(slope, slope_se, after, f"{name} ∂E[z̃ | k]/∂λ")


def test_conditional_draw_moves_only_window_arrivals_and_keeps_the_hard_count():
    ind = get_indicator("cubic")
    gen = torch.Generator().manual_seed(2)
    k = torch.poisson(torch.full((5000,), 3.0), generator=gen)
    draw = conditional_relaxation(k, torch.full_like(k, 3.0), 0.05, ind, gen)
    assert bool(((draw.relaxed - k).abs() <= draw.window_arrivals).all())
    # A tiny window: almost every draw equals its hard count.
    assert float((draw.relaxed == k).double().mean()) > 0.5


def test_conditional_draw_is_differentiable_in_a_tensor_temperature():
    ind = get_indicator("cubic")
    tau = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    k = torch.tensor([2.0, 5.0], dtype=torch.float64)
    draw = conditional_relaxation(k, torch.tensor([3.0, 4.0], dtype=torch.float64), tau, ind,
                                  torch.Generator().manual_seed(0))
    (d_tau,) = torch.autograd.grad(draw.relaxed.sum() + draw.slope.sum(), tau)
    assert torch.isfinite(d_tau)


# --- closed-form variance-optimal η (moments of a Poisson process) ------------------------


def _process_moment(functions: list, lam: float, hi: float) -> float:
    """E[Π_i Σ_T φ_i(T)] over a rate-λ Poisson process on [0, hi]: the sum over set partitions
    of the product of λ∫Π φ (Poisson-process cumulants)."""

    def partitions(items):
        if not items:
            yield []
            return
        first, rest = items[0], items[1:]
        for part in partitions(rest):
            for i in range(len(part)):
                yield part[:i] + [[first, *part[i]]] + part[i + 1 :]
            yield [[first], *part]

    total = 0.0
    for part in partitions(list(range(len(functions)))):
        term = 1.0
        for block in part:
            term *= lam * _integral(
                lambda t, block=block: math.prod(functions[i](t) for i in block), 0.0, hi
            )
        total += term
    return total


def _centred_moment(factors: list, lam: float, hi: float) -> float:
    """E[Π (X_i − c_i)] for linear statistics X_i (φ_i) and constants c_i."""
    total = 0.0
    for keep in itertools.product((True, False), repeat=len(factors)):
        kept = [phi for (phi, _), k in zip(factors, keep, strict=True) if k]
        const = math.prod(-c for (_, c), k in zip(factors, keep, strict=True) if not k)
        if const:
            total += const * (_process_moment(kept, lam, hi) if kept else 1.0)
    return total


def _optimal_eta(lam: float, tau: float) -> float:
    """η* = E[A·D]/E[D²] for f(z) = z, one latent, in s = log λ: ĝ = A − η D with
    A = b(b − λ) and D = z̃(b − λ) + Q, Q = Σ_{T≤1} T g'(T) + Σ_{T>1} g'(T)."""
    hi = 1.0 + tau
    g, dg = _g("cubic", tau), _dg("cubic", tau)

    def b(t):
        return 1.0 if t <= 1.0 else 0.0

    def q(t):
        return t * dg(t) if t <= 1.0 else dg(t)

    def m(*factors):
        return _centred_moment(list(factors), lam, hi)

    ad = m((b, 0), (b, lam), (g, 0), (b, lam)) + m((b, 0), (b, lam), (q, 0))
    dd = m((g, 0), (g, 0), (b, lam), (b, lam)) + 2 * m((g, 0), (b, lam), (q, 0)) + m((q, 0), (q, 0))
    return ad / dd


def test_the_learned_scale_reaches_its_closed_form_variance_optimum():
    lam, tau = 3.0, 0.4
    eta_star = _optimal_eta(lam, tau)
    control = ControlVariate(tau, eta=0.5, learn_temperature=False, lr=3e-3)
    log_rate = torch.full((16, 1), math.log(lam), dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    path = []
    for _ in range(1600):
        surrogate_loss(lambda z: z.sum(-1), log_rate, "rebar_cubic", 16, tau, gen, control=control)
        path.append(float(control.eta.detach()))
    assert control.temperature == pytest.approx(tau)  # τ stays when it is not learned
    tail = torch.tensor(path[600:], dtype=torch.float64).reshape(10, 100).mean(1)
    estimate, se = float(tail.mean()), float(tail.std() / 10**0.5)
    assert abs(estimate - eta_star) <= N_SE * se + 1e-3, (estimate, eta_star, se)
    assert abs(eta_star - 0.5) > 0.3  # the optimum is far from the starting value


# --- unbiasedness -------------------------------------------------------------------------


def _linear_problem(rate: float, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    phi = torch.randn(6, 4, generator=gen, dtype=torch.float64) / 6**0.5
    log_rate = math.log(rate) + 0.3 * torch.randn(8, 4, generator=gen, dtype=torch.float64)
    x = torch.poisson(log_rate.exp(), generator=gen) @ phi.T
    return x, phi, log_rate


def _assert_unbiased(samples: torch.Tensor, exact: torch.Tensor, what: str) -> None:
    mean = samples.mean(0)
    se = samples.std(0) / samples.shape[0] ** 0.5
    z = ((mean - exact) / se.clamp_min(1e-12)).abs()
    assert float(z.max()) <= N_SE, f"{what}: max |z| = {float(z.max()):.2f}"


@pytest.mark.parametrize("estimator", UNBIASED_CV)
@pytest.mark.parametrize(("rate", "tau"), [(1.0, 0.1), (5.0, 0.5), (20.0, 0.1)])
def test_control_variate_estimators_match_the_linear_decoders_exact_gradient(
    estimator, rate, tau
):
    x, phi, log_rate = _linear_problem(rate)
    exact, _ = linear_decoder_grad_hessian(x, phi, log_rate)

    def f(z):
        return (x - z @ phi.T).pow(2).sum(-1)

    gen = torch.Generator().manual_seed(7)
    samples = gradient_samples(f, log_rate, estimator, 20_000, tau, gen)
    _assert_unbiased(samples, exact, f"{estimator} λ={rate} τ={tau}")


NONLINEAR = {
    "sin+quadratic": lambda z: (torch.sin(z) + 0.3 * (z - 4.0).pow(2)).sum(-1),
    "coupled": lambda z: torch.tanh(z[..., 0] - 0.5 * z[..., 1]) * (z[..., 1] + 1.0).sqrt(),
}


@pytest.mark.parametrize("estimator", ["rebar_cubic", "rebar_sigmoid", "relax_cubic", "stein"])
@pytest.mark.parametrize("name", sorted(NONLINEAR))
def test_control_variate_estimators_match_enumeration_for_nonlinear_losses(estimator, name):
    f = NONLINEAR[name]
    rate = torch.tensor([4.0, 1.5], dtype=torch.float64, requires_grad=True)
    value, dropped = enumerate_expectation(f, rate)
    assert dropped < 1e-9
    (d_rate,) = torch.autograd.grad(value, rate)
    exact = (d_rate * rate).detach()  # ∂/∂ log λ
    gen = torch.Generator().manual_seed(13)
    control = learn_control(f, rate.detach().log(), estimator, 0.3, 100, 16, gen)
    samples = gradient_samples(f, rate.detach().log(), estimator, 40_000, 0.3, gen, control)
    _assert_unbiased(samples, exact, f"{estimator} on {name}")


def test_rebar_agrees_with_the_difference_identity_on_a_neural_decoder():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    net = net.double()
    x = torch.randn(5, 2, dtype=torch.float64)

    def f(z):
        return (x - net(z)).pow(2).sum(-1)

    log_rate = torch.randn(5, 3, dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        rate = log_rate.exp()
        z = torch.poisson(rate.expand(40_000, 5, 3), generator=gen)
        reference = rate * difference_identity(f, z)  # per-draw unbiased, ∂/∂ log λ
    control = learn_control(f, log_rate, "rebar_cubic", 0.3, 100, 16, gen)
    samples = gradient_samples(f, log_rate, "rebar_cubic", 40_000, 0.3, gen, control)
    diff = samples.mean(0) - reference.mean(0)
    se = (samples.var(0) / 40_000 + reference.var(0) / 40_000).sqrt()
    assert float((diff.abs() / se).max()) <= N_SE


def test_the_decoder_gets_the_gradient_of_the_hard_sample_only():
    # f's own parameters must see ∇_w f(b): the control variate's terms carry no gradient to w.
    w = torch.tensor([0.7, -1.2], dtype=torch.float64, requires_grad=True)
    log_rate = torch.log(torch.tensor([[2.0, 3.0]], dtype=torch.float64))

    def f(z):
        return (1.0 - z @ w).pow(2)

    for estimator, tau in (("rebar_cubic", 0.4), ("relax_cubic", 0.4), ("stein", 0.0)):
        gen = torch.Generator().manual_seed(4)
        state = gen.get_state()
        control = make_control(estimator, 0.4, 2)
        loss = surrogate_loss(f, log_rate, estimator, 3, tau, gen, control=control)
        (got,) = torch.autograd.grad(loss.sum(), w)
        gen.set_state(state)
        b = torch.poisson(log_rate.exp().expand(3, 1, 2), generator=gen)
        (want,) = torch.autograd.grad(f(b).sum(), w)
        torch.testing.assert_close(got, want)
        torch.testing.assert_close(loss.detach(), f(b).detach())


def test_learning_lowers_the_variance_and_freezes_in_eval_mode():
    x, phi, log_rate = _linear_problem(5.0)

    def f(z):
        return (x - z @ phi.T).pow(2).sum(-1)

    gen = torch.Generator().manual_seed(8)
    fixed = gradient_samples(f, log_rate, "rebar_cubic", 4000, 0.05, gen)
    control = learn_control(f, log_rate, "rebar_cubic", 0.05, 300, 16, gen)
    before = (float(control.eta.detach()), control.temperature)
    learned = gradient_samples(f, log_rate, "rebar_cubic", 4000, 0.05, gen, control)
    assert (float(control.eta.detach()), control.temperature) == before  # eval(): frozen
    v_fixed, se_fixed = variance_and_se(fixed.sum((1, 2)))
    v_learned, se_learned = variance_and_se(learned.sum((1, 2)))
    assert v_learned + N_SE * math.hypot(se_fixed, se_learned) < v_fixed


def test_registry_records_say_unbiased_and_cost():
    for name in UNBIASED_CV:
        assert REGISTRY[name].unbiased
    assert REGISTRY["rebar_cubic"].cost.evaluations(4, 10) == 8
    assert REGISTRY["stein"].cost.evaluations(4, 10) == 5
    assert REGISTRY["difference"].cost.evaluations(4, 10) == 44
    assert not REGISTRY["eat_cubic"].unbiased and not REGISTRY["score_mean"].unbiased
    assert set(tagged("unbiased_cv")) == {"rebar_cubic", "relax_cubic", "stein"}


def test_bad_control_use_is_refused():
    log_rate = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="learns no control variate"):
        surrogate_loss(lambda z: z.sum(-1), log_rate, "eat_cubic", 1, 0.1,
                       control=ControlVariate(0.1))
    with pytest.raises(ValueError, match="ControlVariate"):
        surrogate_loss(lambda z: z.sum(-1), log_rate, "rebar_cubic", 1, 0.1, control=object())
    with pytest.raises(ValueError, match="temperature > 0"):
        surrogate_loss(lambda z: z.sum(-1), log_rate, "rebar_cubic", 1, 0.0)
    with pytest.raises(ValueError, match="n_samples >= 2"):
        surrogate_loss(lambda z: z.sum(-1), log_rate, "stein", 1)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        ControlVariate(0.0)
    with pytest.raises(ValueError, match="n_latents"):
        make_control("relax_cubic", 0.5)
    with pytest.raises(ValueError, match="takes no sampler options"):
        surrogate_loss(lambda z: z.sum(-1), log_rate, "rebar_cubic", 1, 0.1, capacity=10)
