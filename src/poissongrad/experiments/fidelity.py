"""Distributional fidelity: how close relaxed samples are to Poisson(λ), over rates × τ.

One job is one (relaxation, τ) over all rates; one row per rate with the metrics of
:func:`poissongrad.metrics.fidelity_summary` and, for EAT, the closed-form mean and variance
ratios. ``estimator="poisson"`` (exact draws, no temperature) gives the sampling-noise floor of
each metric.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch

from poissongrad.experiments.base import Experiment, RatingInput
from poissongrad.experiments.grids import SMOKE_RATES, Grid, rates_and_taus
from poissongrad.metrics.fidelity import fidelity_summary
from poissongrad.registry import METHODS, REGISTRY
from poissongrad.samplers.moments import relaxed_mean, relaxed_variance
from poissongrad.sampling import relaxed_poisson
from poissongrad.utils.hashing import seed_for
from poissongrad.utils.plotting import colour, estimator_style, figure_legend, plt, save_figure
from poissongrad.utils.stats import (
    nearest,
)

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
        if not exact and REGISTRY[config.estimator].arrival_times:
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


# --- report section: figures and summary table of the stored rows ---------------------------


#: Rates at which the fidelity figures plot against τ (the nearest stored rates).
FIGURE_RATES = (1.0, 5.0, 20.0)


def fidelity_figures(rows: pd.DataFrame, out: Path) -> list[Path]:
    """The paper's Fig. 1 and 2: mean/λ, variance/λ and W1/√λ against τ, one panel per rate,
    one line per relaxation; closed-form EAT moments dashed, exact draws as the W1 floor."""
    out.mkdir(parents=True, exist_ok=True)
    relaxed = rows[rows.uses_temperature.astype(bool)]
    floor = rows[~rows.uses_temperature.astype(bool)]
    methods = list(dict.fromkeys(relaxed.estimator))
    rates = list(dict.fromkeys(nearest(rows.rate, r) for r in FIGURE_RATES))
    paths = []

    panels = [("mean_ratio", "mean / λ"), ("var_ratio", "variance / λ")]
    fig, axes = plt.subplots(2, len(rates), figsize=(4.2 * len(rates), 6.4), squeeze=False)
    for j, lam in enumerate(rates):
        for i, (col, label) in enumerate(panels):
            ax = axes[i, j]
            for method in methods:
                d = relaxed[(relaxed.estimator == method) & (relaxed.rate == lam)]
                d = d.sort_values("temperature")
                c = colour(method)
                ax.plot(d.temperature, d[col], label=method, **estimator_style(method))
                closed = f"{col}_closed"
                if closed in d and d[closed].notna().any():
                    ax.plot(d.temperature, d[closed], color=c, ls=":", lw=1)
            ax.axhline(1.0, color="k", lw=0.8, ls="--")
            ax.set_title(f"λ = {lam:g}" if i == 0 else "")
            ax.set_xlabel("τ")
            ax.set_ylabel(label if j == 0 else "")
    figure_legend(fig, axes.ravel(), title="dotted: closed form")
    paths.append(save_figure(fig, out / "fidelity_moments.png"))

    fig, axes = plt.subplots(1, len(rates), figsize=(4.2 * len(rates), 3.4), squeeze=False)
    for j, lam in enumerate(rates):
        ax = axes[0, j]
        for method in methods:
            d = relaxed[(relaxed.estimator == method) & (relaxed.rate == lam)]
            d = d.sort_values("temperature")
            ax.plot(d.temperature, d.w1, label=method, **estimator_style(method))
        level = floor[floor.rate == lam].w1
        if len(level):
            ax.axhline(float(level.mean()), color="k", ls="--", lw=1, label="exact draws")
        ax.set_yscale("log")
        ax.set_title(f"λ = {lam:g}")
        ax.set_xlabel("τ")
        ax.set_ylabel("W1 / √λ" if j == 0 else "")
    figure_legend(fig, axes.ravel())
    paths.append(save_figure(fig, out / "fidelity_w1.png"))
    return paths


def fidelity_summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean over rates of W1/√λ and of |mean/λ − 1|, per relaxation (rows) and τ (columns)."""
    d = rows.assign(mean_error=(rows.mean_ratio - 1).abs())
    table = d.pivot_table(index="estimator", columns="temperature", values=["w1", "mean_error"])
    return table.round(4)


def smoke_configs(seed: int = 0) -> list[FidelityConfig]:
    """The smoke grid: exact draws and EAT-cubic at τ = 0.3, two rates, 1,000 draws."""
    return [
        FidelityConfig(EXACT_DRAWS, 0.0, SMOKE_RATES, 1000, seed),
        FidelityConfig("eat_cubic", 0.3, SMOKE_RATES, 1000, seed),
    ]


EXPERIMENT = Experiment(
    name="fidelity",
    help="distributional fidelity of relaxed samples (moment ratios, W1, W2, KL)",
    config=FidelityConfig,
    grid_configs=grid_configs,
    smoke_configs=smoke_configs,
    run=run,
    metrics={
        "mean_ratio": "sample mean / λ",
        "var_ratio": "sample variance / λ",
        "w1": "exact W1 to Poisson(λ), divided by √λ",
        "w2": "exact W2 to Poisson(λ), divided by √λ",
    },
    title="Distributional fidelity",
    description="How close relaxed samples are to Poisson(λ): mean and variance "
    "ratios, and the exact 1-D Wasserstein distance W1/√λ to the Poisson law ('poisson' "
    "rows: exact draws, the sampling-noise floor). Table: mean over rates of "
    "|mean/λ − 1| and W1/√λ per τ.",
    figures=fidelity_figures,
    summary=fidelity_summary_table,
    rating_inputs=(RatingInput("fidelity", "w1", nonnegative=True),),
    dropped_fields=("rates",),
    extra_columns=("rate",),
    reference_estimators=(EXACT_DRAWS,),
)
