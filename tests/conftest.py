"""Shared helpers for statistical tests: fixed seeds, tolerances of 5 standard errors."""

from __future__ import annotations

import pytest
import torch

N_SE = 5.0


def mean_and_se(x: torch.Tensor) -> tuple[float, float]:
    """Sample mean and its standard error, over the first axis."""
    x = x.double()
    return float(x.mean()), float(x.std() / x.numel() ** 0.5)


def variance_and_se(x: torch.Tensor) -> tuple[float, float]:
    """Sample variance and its standard error sqrt((μ₄ − σ⁴)/n)."""
    x = x.double()
    c = x - x.mean()
    var = float((c**2).mean())
    mu4 = float((c**4).mean())
    return var, max(mu4 - var**2, 0.0) ** 0.5 / x.numel() ** 0.5


def assert_close_se(estimate: float, se: float, expected: float, what: str = "") -> None:
    assert abs(estimate - expected) <= N_SE * se + 1e-12, (
        f"{what}: {estimate:.6g} vs expected {expected:.6g} (se {se:.3g}, "
        f"{abs(estimate - expected) / max(se, 1e-300):.1f} se)"
    )


#: The count model both PPL ELBO tests fit (Pyro and NumPyro): z ~ Poisson(COUNT_PRIOR) behind
#: Poisson observations of rate 0.5 + 0.3·z, with a guide Poisson(λ).
COUNT_PRIOR, COUNT_OBSERVED = 4.0, (3.0, 1.0, 2.0, 4.0, 2.0, 3.0)


def count_model_elbo(rate: float) -> float:
    """E_q[log p(x, z) − log q(z)] of the count model for q = Poisson(rate), enumerating
    z = 0..199."""
    import numpy as np
    from scipy.stats import poisson

    k = np.arange(200)
    likelihood = poisson.logpmf(np.array(COUNT_OBSERVED)[:, None], 0.5 + 0.3 * k).sum(0)
    joint = poisson.logpmf(k, COUNT_PRIOR) + likelihood
    return float(np.sum(poisson.pmf(k, rate) * (joint - poisson.logpmf(k, rate))))


def assert_count_model_optimum(rate: float) -> None:
    """``rate`` (a fitted guide's) is at the count model's optimum, found by enumeration."""
    from scipy.optimize import minimize_scalar

    best = minimize_scalar(lambda r: -count_model_elbo(r), bounds=(0.01, 50.0), method="bounded")
    # The ELBO is flat at its optimum: 0.01 nats is |rate − rate*| ≈ 0.1·rate* (5.62 here).
    assert -best.fun - count_model_elbo(rate) < 0.01
    assert rate == pytest.approx(best.x, rel=0.1)


def expected_mean_gradient(method: str, lam: float, tau: float, seed: int = 99, n: int = 20_000):
    """d/dλ E[z̃] of a relaxation at (λ, τ), with its standard error.

    EAT: λ∫g is linear in λ, so the derivative is ∫g exactly (se 0). GSM (fixed support of 40
    counts): a central difference of z̃ with common random numbers, which is smooth in λ for
    fixed Gumbel noise, averaged over ``n`` independent draws (float64).
    """
    import poissongrad as pg
    from poissongrad.registry import REGISTRY

    if REGISTRY[method].family == "eat":
        return float(pg.relaxed_mean(method, torch.tensor(1.0, dtype=torch.float64), tau)), 0.0
    h = 1e-4 * lam

    def draw(rate: float) -> torch.Tensor:
        r = torch.full((n,), rate, dtype=torch.float64)
        gen = torch.Generator().manual_seed(seed)
        return pg.relaxed_poisson(r, tau, method, generator=gen, support_size=40)

    return mean_and_se((draw(lam + h) - draw(lam - h)) / (2 * h))


@pytest.fixture
def keep_validation():
    """Restore torch.distributions' default argument validation after a test that compiles:
    Dynamo turns it off for the whole process the first time it runs."""
    before = torch.distributions.Distribution._validate_args
    yield
    torch.distributions.Distribution.set_default_validate_args(before)
