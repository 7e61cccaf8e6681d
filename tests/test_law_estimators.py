"""Score-function and pathwise estimators for count laws beyond Poisson, against exact gradients."""

import pytest
import torch
from conftest import assert_close_se, mean_and_se

import poissongrad as pg
from poissongrad.estimators import law_surrogate_loss

N = 20_000


def _per_draw_gradients(make, parameter, estimator, group=10):
    """N independent groups of ``group`` coupled samples; per-group mean gradient."""
    leaf = parameter.detach().expand(N).clone().requires_grad_(True)
    losses = law_surrogate_loss(lambda z: z.pow(2).squeeze(-1), make(leaf), estimator, group)
    (grad,) = torch.autograd.grad(losses.sum() / group, leaf)
    return grad


def _negative_binomial_case(seed: int, **options):
    """(r₀, d E z² / dr at r₀ = 3, p = 0.6, a maker of NB laws of shape (N, 1) around r).

    E z² = Var + mean² with mean = r p/(1 − p) and Var = mean/(1 − p)."""
    r0, p = torch.tensor(3.0, dtype=torch.float64), 0.6
    odds = p / (1 - p)

    def make(r):
        probs = torch.tensor(p, dtype=torch.float64).expand_as(r)
        gen = torch.Generator().manual_seed(seed)
        return pg.RelaxedNegativeBinomial(
            r.unsqueeze(-1), probs=probs.unsqueeze(-1), generator=gen, **options
        )

    return r0, float(odds / (1 - p) + 2 * r0 * odds**2), make


@pytest.mark.parametrize("estimator", ["score", "score_loo"])
def test_score_function_for_the_negative_binomial_is_unbiased(estimator):
    r0, exact, make = _negative_binomial_case(0)
    m, se = mean_and_se(_per_draw_gradients(make, r0, estimator))
    assert_close_se(m, se, exact, f"{estimator} d E z² / dr")


def test_score_function_for_the_com_poisson_matches_the_exact_series_gradient():
    rate0, nu = torch.tensor(3.0, dtype=torch.float64), 1.7
    r = rate0.clone().requires_grad_(True)
    d = pg.RelaxedCOMPoisson(r, torch.tensor(nu, dtype=torch.float64))
    second = d.variance_exact + d.mean_exact**2
    (exact,) = torch.autograd.grad(second, r)

    def make(rate):
        nus = torch.full_like(rate, nu).unsqueeze(-1)
        return pg.RelaxedCOMPoisson(
            rate.unsqueeze(-1), nus, support_size=40, generator=torch.Generator().manual_seed(1)
        )

    m, se = mean_and_se(_per_draw_gradients(make, rate0, "score_loo"))
    assert_close_se(m, se, float(exact), "score_loo d E z² / dλ (COM-Poisson)")


def test_a_pathwise_estimator_must_match_the_distribution_and_others_are_refused():
    d = pg.RelaxedNegativeBinomial(torch.ones(4, 1), probs=torch.full((4, 1), 0.5))
    assert law_surrogate_loss(lambda z: z.sum(-1), d, "eat_cubic", 3).shape == (3, 4)
    with pytest.raises(ValueError, match="relaxed by 'gsm'"):
        law_surrogate_loss(lambda z: z.sum(-1), d, "gsm", 3)
    with pytest.raises(ValueError, match="not available for a general count law"):
        law_surrogate_loss(lambda z: z.sum(-1), d, "difference", 3)
    with pytest.raises(ValueError, match="needs n_samples >= 2"):
        law_surrogate_loss(lambda z: z.sum(-1), d, "score_loo", 1)


@pytest.mark.parametrize("estimator", ["rebar_cubic", "relax_cubic"])
def test_rebar_for_the_negative_binomial_runs_on_its_gamma_rate_and_is_unbiased(estimator):
    # REBAR on the Poisson count given the reparameterised Gamma rate: d E z² / dr as above.
    r0, exact, make = _negative_binomial_case(2, temperature=0.3)
    m, se = mean_and_se(_per_draw_gradients(make, r0, estimator))
    assert_close_se(m, se, exact, f"{estimator} d E z² / dr (negative binomial)")
    hard = pg.RelaxedNegativeBinomial(
        torch.ones(2, 1), probs=torch.full((2, 1), 0.5), temperature=0.0
    )
    with pytest.raises(ValueError, match="temperature > 0"):
        law_surrogate_loss(lambda z: z.sum(-1), hard, estimator, 1)
