import math

import pytest
import torch
from scipy import integrate

from poissongrad.samplers.indicators import INDICATORS, SIGMOID_CUTOFF, get_indicator

TAUS = [0.02, 0.1, 0.5, 1.0, 1.7]


def _quad(f, tau):
    lo, hi = get_indicator("cubic").window(tau)
    pts = [max(lo, 0.0), 1.0, hi]
    return integrate.quad(f, 0.0, 1.0 + 60 * tau, points=pts, limit=400, epsabs=1e-12)[0]


@pytest.mark.parametrize("name", sorted(INDICATORS))
@pytest.mark.parametrize("tau", TAUS)
def test_closed_form_integrals_match_quadrature(name, tau):
    ind = INDICATORS[name]

    def g(t):
        return float(ind.value(torch.tensor(t, dtype=torch.float64), tau))

    assert ind.integral(tau) == pytest.approx(_quad(g, tau), abs=1e-8)
    assert ind.integral_sq(tau) == pytest.approx(_quad(lambda t: g(t) ** 2, tau), abs=1e-8)


@pytest.mark.parametrize("name", ["linear", "cubic", "quintic", "cosine"])
@pytest.mark.parametrize("tau", [0.05, 0.5, 1.0])
def test_compact_indicators_have_unit_integral_for_tau_at_most_one(name, tau):
    assert INDICATORS[name].integral(tau) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("tau", [0.05, 0.3, 0.9])
def test_cubic_second_moment_is_one_minus_nine_tau_over_35(tau):
    assert INDICATORS["cubic"].integral_sq(tau) == pytest.approx(1 - 9 * tau / 35, abs=1e-12)


def test_paper_check_values():
    sig, cub = INDICATORS["sigmoid"], INDICATORS["cubic"]
    assert sig.integral(0.5) == pytest.approx(1.064, abs=1e-3)
    assert sig.integral_sq(0.5) == pytest.approx(0.623, abs=1e-3)
    assert cub.integral_sq(0.5) == pytest.approx(0.871, abs=1e-3)
    assert 20 * sig.integral(0.5) == pytest.approx(21.27, abs=1e-2)


@pytest.mark.parametrize("name", sorted(INDICATORS))
@pytest.mark.parametrize("tau", [0.1, 0.7])
def test_derivative_matches_autograd(name, tau):
    ind = INDICATORS[name]
    t = torch.linspace(0.0, 2.5, 1001, dtype=torch.float64, requires_grad=True)
    (auto,) = torch.autograd.grad(ind.value(t, tau).sum(), t)
    # The linear profile has kinks at the window edges, where a one-sided derivative is moot.
    lo, hi = ind.window(tau)
    smooth = ((t.detach() - lo).abs() > 1e-9) & ((t.detach() - hi).abs() > 1e-9)
    torch.testing.assert_close(
        ind.derivative(t.detach(), tau)[smooth], auto[smooth], atol=1e-10, rtol=1e-8
    )


@pytest.mark.parametrize("name", sorted(INDICATORS))
@pytest.mark.parametrize("tau", [0.05, 0.4])
def test_indicator_is_hard_outside_its_window(name, tau):
    ind = INDICATORS[name]
    lo, hi = ind.window(tau)
    tol = 1 / (1 + math.exp(SIGMOID_CUTOFF)) if name == "sigmoid" else 0.0
    after = torch.linspace(hi, hi + 5, 50, dtype=torch.float64)
    if lo > 0:
        before = torch.linspace(0.0, lo, 50, dtype=torch.float64)
        assert torch.all(ind.value(before, tau) >= 1 - tol - 1e-15)
    assert torch.all(ind.value(after, tau) <= tol + 1e-15)
    assert float(ind.value(torch.tensor(1.0, dtype=torch.float64), tau)) == pytest.approx(0.5)


def test_unknown_indicator_is_a_value_error():
    with pytest.raises(ValueError, match="tanh"):
        get_indicator("tanh")
