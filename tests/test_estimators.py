"""Unbiasedness of the score-function and difference estimators; the surrogate contract."""

from functools import partial

import pytest
import torch
from conftest import assert_close_se, mean_and_se

from poissongrad.estimators import ESTIMATORS, Surrogate, gradient_samples, surrogate_loss
from poissongrad.exact import enumerate_expectation, relaxed_linear_decoder_loss
from poissongrad.registry import METHODS, REGISTRY, get_estimator

LOG_RATE = torch.log(torch.tensor([0.8, 3.5], dtype=torch.float64))


def nonlinear(z: torch.Tensor) -> torch.Tensor:
    return (torch.sin(z) + z**2).sum(-1)


def _exact_log_rate_gradient() -> torch.Tensor:
    s = LOG_RATE.clone().requires_grad_(True)
    value, tail = enumerate_expectation(nonlinear, s.exp())
    assert tail < 1e-9
    return torch.autograd.grad(value, s)[0]


@pytest.mark.parametrize("estimator", ["difference", "score", "score_loo", "score_mean"])
def test_unbiased_estimators_match_enumeration_within_five_standard_errors(estimator):
    n_groups, group = 4000, 10
    batch = LOG_RATE.expand(n_groups, 2)  # independent groups of `group` coupled samples
    gen = torch.Generator().manual_seed(3)
    g = gradient_samples(nonlinear, batch, estimator, group, generator=gen)
    per_group = g.mean(0)  # (n_groups, 2): independent, so their spread gives the error
    exact = _exact_log_rate_gradient()
    # The in-sample mean baseline scales the expected gradient by (1 − 1/S).
    expected = exact * (1 - 1 / group) if estimator == "score_mean" else exact
    for k in range(2):
        m, se = mean_and_se(per_group[:, k])
        assert_close_se(m, se, float(expected[k]), f"{estimator} coordinate {k}")


@pytest.mark.parametrize("method", [m for m in METHODS if REGISTRY[m].family == "eat"])
@pytest.mark.parametrize("tau", [0.05, 0.5])
def test_eat_pathwise_gradients_average_to_the_gradient_of_the_relaxed_objective(method, tau):
    # Linear decoder: E‖x − Φz̃‖² is closed form from the relaxation's moments, so the expected
    # pathwise gradient is known exactly and the check is 5 standard errors, no bias allowance.
    gen = torch.Generator().manual_seed(12)
    phi = torch.randn(6, 3, generator=gen, dtype=torch.float64) / 6**0.5
    x = torch.randn(2, 6, generator=gen, dtype=torch.float64)
    log_rate = torch.log(torch.tensor([[0.7, 3.0, 12.0], [2.0, 0.2, 6.0]], dtype=torch.float64))

    def loss(z):
        return (x - z @ phi.T).pow(2).sum(-1)

    g = gradient_samples(loss, log_rate, method, 40_000, tau, gen)
    s = log_rate.clone().requires_grad_(True)
    relaxed = relaxed_linear_decoder_loss(x, phi, s.exp(), method, tau).sum()
    (expected,) = torch.autograd.grad(relaxed, s)
    for idx in [(i, k) for i in range(2) for k in range(3)]:
        m, se = mean_and_se(g[(slice(None), *idx)])
        assert_close_se(m, se, float(expected[idx]), f"{method} τ={tau} item/latent {idx}")


@pytest.mark.parametrize("estimator", ["eat_cubic", "gsm_st", "score_loo", "difference"])
def test_surrogate_gradient_equals_the_sum_of_per_sample_estimates(estimator):
    s = LOG_RATE.clone().requires_grad_(True)
    losses = surrogate_loss(nonlinear, s, estimator, 8, 0.3, torch.Generator().manual_seed(5))
    assert losses.shape == (8,)
    (grad,) = torch.autograd.grad(losses.sum(), s)
    per_sample = gradient_samples(
        nonlinear, LOG_RATE, estimator, 8, 0.3, torch.Generator().manual_seed(5)
    )
    torch.testing.assert_close(grad, per_sample.sum(0))


@pytest.mark.parametrize("estimator", ["eat_cubic", "gsm", "score_loo", "rebar_cubic"])
def test_a_surrogate_checked_once_gives_the_same_losses_and_gradients(estimator):
    surrogate = Surrogate(estimator, 6, 0.4)
    results = []
    for build in (surrogate, lambda f, s, g: surrogate_loss(f, s, estimator, 6, 0.4, g)):
        s = LOG_RATE.clone().requires_grad_(True)
        losses = build(nonlinear, s, torch.Generator().manual_seed(2))
        results.append((losses.detach(), torch.autograd.grad(losses.sum(), s)[0]))
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)
    with pytest.raises(ValueError, match="temperature > 0"):
        Surrogate(estimator if estimator != "score_loo" else "gsm", 6, 0.0)
    # Checked once: the log-rates are not, unlike in surrogate_loss; a NaN rate still shows.
    nan = torch.tensor([0.0, float("nan")], dtype=torch.float64)
    try:
        unchecked = surrogate(nonlinear, nan)
    except RuntimeError:  # exact draws: torch.poisson refuses a NaN rate itself
        assert not REGISTRY[estimator].pathwise
    else:
        assert unchecked.isnan().all()
    with pytest.raises(ValueError, match="NaN"):
        surrogate_loss(nonlinear, nan, estimator, 6, 0.4)


def test_surrogate_value_is_the_loss_of_the_drawn_counts():
    s = LOG_RATE.clone().requires_grad_(True)
    losses = surrogate_loss(
        nonlinear, s, "score_loo", 5, generator=torch.Generator().manual_seed(6)
    )
    z = torch.poisson(LOG_RATE.exp().expand(5, 2), generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(losses.detach(), nonlinear(z))


def test_the_registry_describes_every_estimator_without_name_parsing():
    assert REGISTRY["eat_cubic_st"].relaxation == "eat_cubic"
    assert REGISTRY["eat_cubic_st"].straight_through and REGISTRY["eat_cubic_st"].uses_temperature
    assert REGISTRY["gsm"].family == "gsm" and not REGISTRY["gsm"].straight_through
    assert not REGISTRY["score_loo"].uses_temperature and REGISTRY["score_loo"].min_samples == 2
    assert REGISTRY["difference"].family == "difference" and REGISTRY["exact"].family == "exact"
    assert "exact" not in ESTIMATORS  # needs a model's closed form, not any f
    # METHODS are derived from the indicators: one EAT relaxation per indicator, plus GSM.
    from poissongrad.samplers.indicators import INDICATORS

    assert set(METHODS) == {f"eat_{n}" for n in INDICATORS} | {"gsm"}
    assert {f"{m}_st" for m in METHODS} <= set(ESTIMATORS)
    with pytest.raises(ValueError, match="unknown estimator 'reinforce'"):
        get_estimator("reinforce")


@pytest.mark.parametrize("estimator", ["eat_cubic", "gsm_st", "eat_sigmoid"])
def test_a_relaxed_estimator_at_zero_temperature_is_an_error_not_a_silent_zero_gradient(
    estimator,
):
    s = LOG_RATE.clone().requires_grad_(True)
    with pytest.raises(ValueError, match="needs a temperature > 0"):
        surrogate_loss(nonlinear, s, estimator, 4, temperature=0.0)
    with pytest.raises(ValueError, match="needs a temperature > 0"):
        gradient_samples(nonlinear, LOG_RATE, estimator, 4)


def test_too_few_samples_and_the_exact_estimator_are_errors():
    with pytest.raises(ValueError, match="needs n_samples >= 2"):
        surrogate_loss(nonlinear, LOG_RATE, "score_loo", 1)
    with pytest.raises(ValueError, match="unknown estimator 'exact'"):
        surrogate_loss(nonlinear, LOG_RATE, "exact", 2)


@pytest.mark.parametrize("estimator", ["eat_cubic", "gsm", "score_loo"])
def test_a_surrogate_takes_a_per_call_temperature_as_if_built_with_it(estimator):
    """An annealing loop builds one Surrogate and passes each step's τ."""
    surrogate = Surrogate(estimator, 6, 0.1)
    built = Surrogate(estimator, 6, 0.7)
    results = []
    for call in (lambda s, g: surrogate(nonlinear, s, g, 0.7), partial(built, nonlinear)):
        s = LOG_RATE.clone().requires_grad_(True)
        losses = call(s, torch.Generator().manual_seed(3))
        results.append((losses.detach(), torch.autograd.grad(losses.sum(), s)[0]))
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        if REGISTRY[estimator].uses_temperature:
            with pytest.raises(ValueError, match="temperature must be finite and > 0"):
                surrogate(nonlinear, LOG_RATE, None, bad)
