"""Statistics the experiments' tables, the ratings and the claims share: one definition each.

Means with standard errors over replicates (seeds, networks), the paired gap of every method to
the best one of the same replicate, and the value of a grid nearest a target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "mean_pm_se",
    "mean_se",
    "nearest",
    "setting_best",
    "setting_gaps",
    "task_summary_table",
]


def nearest(values: pd.Series | list[float], target: float) -> float:
    """The value in ``values`` closest to ``target`` (on a log scale)."""
    vals = np.unique(np.asarray(values, dtype=float))
    vals = vals[vals > 0]
    return float(vals[np.argmin(np.abs(np.log(vals) - np.log(target)))])


def mean_se(d: pd.DataFrame, by: str, col: str) -> pd.DataFrame:
    g = d.groupby(by)[col].agg(["mean", "std", "count"]).reset_index()
    g["se"] = (g["std"] / g["count"].clip(lower=1) ** 0.5).fillna(0.0)
    return g


def mean_pm_se(values: pd.Series) -> str:
    n = values.count()
    if n == 0:
        return ""
    if n == 1:
        return f"{values.mean():.2f}"
    return f"{values.mean():.2f} ± {values.std() / n**0.5:.2f}"


def task_summary_table(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """'mean ± SE' over seeds (and networks) of a task metric per estimator (rows) and final τ
    (columns; '—' for estimators without a temperature)."""
    uses = rows.uses_temperature.astype(bool)
    d = rows.assign(tau=rows.temperature.where(uses, float("inf")))
    table = d.pivot_table(index="estimator", columns="tau", values=metric, aggfunc=mean_pm_se)
    table = table[sorted(table.columns)]
    table.columns = [f"τ={c:g}" if c != float("inf") else "no τ" for c in table.columns]
    return table.fillna("")


def setting_best(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (law, dispersion, estimator): the seed-mean held-out negative ELBO at the estimator's
    best final τ, its SE over seeds, and the mean dispersion error there."""
    cells = (
        rows.groupby(["law", "dispersion", "estimator", "temperature"])
        .agg(
            neg_elbo=("neg_elbo", "mean"),
            sd=("neg_elbo", "std"),
            n=("neg_elbo", "count"),
            dispersion_error=("dispersion_error", "mean"),
        )
        .reset_index()
    )
    best = cells.loc[cells.groupby(["law", "dispersion", "estimator"]).neg_elbo.idxmin()]
    best = best.assign(se=(best.sd / best.n.clip(lower=1) ** 0.5).fillna(0.0))
    return best.drop(columns=["sd", "n"]).reset_index(drop=True)


def setting_gaps(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (law, dispersion, estimator) at the estimator's best τ: the held-out negative ELBO
    minus that of the setting's best estimator on the same seed (same data), mean ± SE over
    seeds (``gap``, ``gap_se``; the best estimator has 0), and ``reference`` (its |mean|)."""
    best = setting_best(rows)
    keys = ["law", "dispersion"]
    chosen = rows.merge(
        best[[*keys, "estimator", "temperature"]], on=[*keys, "estimator", "temperature"]
    )
    winner = best.loc[best.groupby(keys).neg_elbo.idxmin(), [*keys, "estimator"]]
    ref = chosen.merge(winner, on=[*keys, "estimator"])[[*keys, "seed", "neg_elbo"]]
    ref = ref.rename(columns={"neg_elbo": "_ref"})
    paired = chosen.merge(ref, on=[*keys, "seed"])
    paired = paired.assign(gap=paired.neg_elbo - paired._ref)
    out = (
        paired.groupby([*keys, "estimator"])
        .agg(gap=("gap", "mean"), sd=("gap", "std"), n=("gap", "count"), reference=("_ref", "mean"))
        .reset_index()
    )
    out["gap_se"] = (out.sd / out.n.clip(lower=1) ** 0.5).fillna(0.0)
    out["reference"] = out.reference.abs()
    return out.drop(columns=["sd", "n"])
