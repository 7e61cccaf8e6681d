"""Distributional fidelity: how close relaxed samples are to Poisson(λ), over rates × τ.

One job is one (relaxation, τ) over all rates; one row per rate with the metrics of
:func:`poissongrad.metrics.fidelity_summary` and, for EAT, the closed-form mean and variance
ratios. ``estimator="poisson"`` (exact draws, no temperature) gives the sampling-noise floor of
each metric.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from poissongrad.experiments.grids import Grid, rates_and_taus
from poissongrad.hashing import seed_for
from poissongrad.metrics.fidelity import fidelity_summary
from poissongrad.moments import relaxed_mean, relaxed_variance
from poissongrad.registry import METHODS, REGISTRY
from poissongrad.sampling import relaxed_poisson

__all__ = ["EXACT_DRAWS", "FidelityConfig", "run", "grid_configs"]

#: The ``estimator`` of the rows of exact Poisson draws (the sampling-noise floor).
EXACT_DRAWS = "poisson"


@dataclass(frozen=True)
class FidelityConfig:
    """One job: ``n_samples`` relaxed draws at every rate, for one relaxation and temperature."""

    estimator: str
    temperature: float
    rates: tuple[float, ...]
    n_samples: int = 50_000
    seed: int = 0


def run(config: FidelityConfig) -> list[dict]:
    """Rows (one per rate): config fields, rate, measured and closed-form metrics."""
    base = asdict(config)
    del base["rates"]
    exact = config.estimator == EXACT_DRAWS
    base["uses_temperature"] = not exact
    rows = []
    for rate in config.rates:
        gen = torch.Generator().manual_seed(
            seed_for(config.seed, config.estimator, config.temperature, rate)
        )
        lam = torch.full((config.n_samples,), float(rate), dtype=torch.float64)
        if exact:
            z = torch.poisson(lam, generator=gen)
        else:
            z = relaxed_poisson(lam, config.temperature, config.estimator, generator=gen)
        row = {**base, "rate": float(rate), **fidelity_summary(z, float(rate))}
        if not exact and REGISTRY[config.estimator].family == "eat":
            one = torch.ones((), dtype=torch.float64)
            row["mean_ratio_closed"] = float(
                relaxed_mean(config.estimator, one, config.temperature)
            )
            row["var_ratio_closed"] = float(
                relaxed_variance(config.estimator, one, config.temperature)
            )
        rows.append(row)
    return rows


def grid_configs(grid: Grid, seed: int = 0) -> list[FidelityConfig]:
    """Every job of a named grid: all methods × temperatures, plus the exact-Poisson floor."""
    rates, taus = rates_and_taus(grid)
    n = 50_000 if grid == "paper" else 10_000
    configs = [FidelityConfig(EXACT_DRAWS, 0.0, rates, n, seed)]
    configs += [FidelityConfig(m, t, rates, n, seed) for m in METHODS for t in taus]
    return configs
