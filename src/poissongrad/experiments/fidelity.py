"""Distributional fidelity: how close relaxed samples are to Poisson(λ), over rates × τ.

One job is one (method, τ) over all rates; one row per rate with the metrics of
:func:`poissongrad.metrics.fidelity_summary` and, for EAT, the closed-form mean and variance
ratios. ``method="poisson"`` (exact draws, τ = 0) gives the sampling-noise floor of each metric.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from poissongrad.experiments.grids import Grid, rates_and_taus
from poissongrad.experiments.sweep import Rows, seed_for
from poissongrad.indicators import get_indicator
from poissongrad.metrics.fidelity import fidelity_summary
from poissongrad.moments import indicator_of
from poissongrad.sampling import relaxed_poisson
from poissongrad.validation import METHODS

__all__ = ["FidelityConfig", "run", "grid_configs"]

EXPERIMENT = "fidelity"


@dataclass(frozen=True)
class FidelityConfig:
    """One job: ``n_samples`` relaxed draws at every rate, for one method and temperature."""

    method: str
    temperature: float
    rates: tuple[float, ...]
    n_samples: int = 50_000
    seed: int = 0


def run(config: FidelityConfig) -> Rows:
    """Rows (one per rate): config fields, rate, measured and closed-form metrics."""
    base = asdict(config)
    del base["rates"]
    rows = []
    for rate in config.rates:
        gen = torch.Generator().manual_seed(
            seed_for(config.seed, config.method, config.temperature, rate)
        )
        lam = torch.full((config.n_samples,), float(rate), dtype=torch.float64)
        if config.method == "poisson":
            z = torch.poisson(lam, generator=gen)
        else:
            z = relaxed_poisson(lam, config.temperature, config.method, generator=gen)
        row = {**base, "rate": float(rate), **fidelity_summary(z, float(rate))}
        if config.method.startswith("eat_"):
            ind = get_indicator(indicator_of(config.method))
            row["mean_ratio_closed"] = ind.integral(config.temperature)
            row["var_ratio_closed"] = ind.integral_sq(config.temperature)
        rows.append(row)
    return rows


def grid_configs(grid: Grid, seed: int = 0) -> list[FidelityConfig]:
    """Every job of a named grid: all methods × temperatures, plus the exact-Poisson floor."""
    rates, taus = rates_and_taus(grid)
    n = 50_000 if grid == "paper" else 10_000
    configs = [FidelityConfig("poisson", 0.0, rates, n, seed)]
    configs += [FidelityConfig(m, t, rates, n, seed) for m in METHODS for t in taus]
    return configs
