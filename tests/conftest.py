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
