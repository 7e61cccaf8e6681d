"""Plain-text summary tables of experiments, made from their stored rows."""

from __future__ import annotations

import pandas as pd

from poissongrad.report.figures import nearest

__all__ = [
    "fidelity_summary_table",
    "gradient_summary_table",
    "poglm_summary_table",
    "task_summary_table",
    "vae_summary_table",
]


def fidelity_summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean over rates of W1/√λ and of |mean/λ − 1|, per relaxation (rows) and τ (columns)."""
    d = rows.assign(mean_error=(rows.mean_ratio - 1).abs())
    table = d.pivot_table(index="estimator", columns="temperature", values=["w1", "mean_error"])
    return table.round(4)


def gradient_summary_table(rows: pd.DataFrame, rate: float = 5.0) -> pd.DataFrame:
    """Relative bias, relative variance and cosine per estimator and τ, at the rate nearest λ."""
    lam = nearest(rows.rate, rate)
    d = rows[rows.rate == lam]
    values = ["rel_bias", "rel_var", "cosine"]
    table = d.pivot_table(index="estimator", columns="temperature", values=values)
    return table.round(3)


def task_summary_table(rows: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Mean over seeds of task ``metrics`` per estimator (rows) and final τ (columns)."""
    return rows.pivot_table(index="estimator", columns="temperature", values=metrics).round(3)


def vae_summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Held-out negative ELBO per estimator and final τ (mean over seeds)."""
    return task_summary_table(rows, ["neg_elbo"])


def poglm_summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Test ELBO, marginal log-likelihood and weight error per estimator and τ, with the zero
    guess and fully observed fit as extra rows."""
    metrics = ["elbo", "marginal_ll", "weight_error", "visible_weight_error"]
    table = rows.pivot_table(index="estimator", columns="temperature", values=metrics)
    refs = {
        "zero guess": ("zero_weight_error", "zero_visible_weight_error"),
        "fully observed fit": ("observed_weight_error", "observed_visible_weight_error"),
    }
    for label, (total, visible) in refs.items():
        table.loc[label, ("weight_error", 0.0)] = rows[total].mean()
        table.loc[label, ("visible_weight_error", 0.0)] = rows[visible].mean()
    return table.sort_index(axis=1).round(3)
