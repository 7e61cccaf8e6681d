"""Shared helpers for statistical tests: fixed seeds, tolerances of 5 standard errors."""

from __future__ import annotations

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
