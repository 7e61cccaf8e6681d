"""The numbers behind the ratings: each criterion's measurement per method, and the task
results paired by replicate, read from the experiments' rating inputs.

Every experiment says in its record which metric feeds which criterion
(:class:`~poissongrad.experiments.base.RatingInput`); nothing here names an experiment's rows
except through those records.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from poissongrad.experiments.base import Criterion
from poissongrad.experiments.registry import EXPERIMENTS, RatingInput
from poissongrad.registry import REGISTRY, tagged
from poissongrad.report.verdicts import MARGINS
from poissongrad.utils.stats import setting_gaps

__all__ = ["measurements", "paired_gap", "per_seed_gaps", "task_performance", "vae_margin"]


CRITERIA: tuple[Criterion, ...] = tuple(Criterion)


def paired_gap(rows: pd.DataFrame, spec: RatingInput) -> tuple[pd.DataFrame, float]:
    """Rows with ``gap``: the metric (made lower-is-better) minus that of the reference run that
    shares ``spec.pair_on``, and the reference's |mean| (the scale for relative spreads).

    Without a reference, ``gap`` is the metric itself and the scale is 1.
    """
    sign = -1.0 if spec.higher_is_better else 1.0
    value = rows[spec.metric] * sign
    if spec.reference is None:
        return rows.assign(gap=value), 1.0
    keys = list(spec.pair_on)
    ref = rows[rows.estimator == spec.reference]
    reference = (ref[spec.metric] * sign).groupby([ref[k] for k in keys]).mean().rename("_ref")
    d = rows.join(reference, on=keys)
    return d.assign(gap=value - d._ref).drop(columns="_ref"), abs(float(reference.mean())) or 1.0


def _spread(rows: pd.DataFrame, spec: RatingInput) -> pd.DataFrame:
    """Per estimator: relative spread across τ of the paired, seed-averaged gap, its SE and the
    replicates of its thinnest cell."""
    d, scale = paired_gap(rows, spec)
    d = d.dropna(subset=["gap"])
    cells = d.groupby(["estimator", "temperature"]).gap.agg(["mean", "std", "count"]).reset_index()
    cells["se"] = (cells["std"] / cells["count"].clip(lower=1) ** 0.5).fillna(0.0)
    out = {}
    for est, g in cells.groupby("estimator"):
        worst, best = g.loc[g["mean"].idxmax()], g.loc[g["mean"].idxmin()]
        value = (worst["mean"] - best["mean"]) / scale
        se = math.hypot(worst.se, best.se) / scale if len(g) > 1 else 0.0
        out[est] = (value, se, float(g["count"].min()))
    return pd.DataFrame(out, index=["value", "se", "n"]).T


def _inputs(
    results: dict[str, pd.DataFrame], criterion: str
) -> list[tuple[pd.DataFrame, RatingInput]]:
    """(rows, rating input) of every stored experiment that feeds ``criterion``."""
    found = []
    for name, rows in results.items():
        for spec in EXPERIMENTS[name].rating_inputs:
            if spec.criterion == criterion and len(rows):
                found.append((rows, spec))
    return found


def _generalisability(rows: pd.DataFrame, out: pd.DataFrame) -> None:
    """Relative held-out gap to the best method per ground truth, averaged over expressible ones."""
    gaps = setting_gaps(rows)
    scale = gaps.reference.clip(lower=1e-12)
    best = gaps.assign(gap=gaps.gap / scale, gap_se=gaps.gap_se / scale)
    seeds = rows.groupby("estimator").seed.nunique()
    for m, g in best.groupby("estimator"):
        if m not in out.index:
            continue
        out.loc[m, "generalisability"] = float(g.gap.mean())
        out.loc[m, "generalisability_se"] = float(np.sqrt((g.gap_se**2).sum()) / len(g))
        out.loc[m, "generalisability_n"] = float(seeds.get(m, 0))
        out.loc[m, "generalisability_laws"] = ", ".join(sorted(set(g.law)))


def measurements(results: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The number behind each criterion, its SE (``<criterion>_se``) and the replicates behind
    that SE (``<criterion>_n``: seeds; infinite for a Monte-Carlo SE), per rated method."""
    columns = [c for crit in CRITERIA for c in (crit, f"{crit}_se", f"{crit}_n")]
    rated = tagged("rated")  # read now: a record registered after import is rated too
    out = pd.DataFrame(index=list(rated), columns=columns, dtype=float)
    out["generalisability_laws"] = ""
    for rows, _ in _inputs(results, "generalisability"):
        _generalisability(rows, out)
    for rows, spec in _inputs(results, "fidelity"):
        w1 = rows.groupby("estimator")[spec.metric].mean()
        floor = rows[~rows.uses_temperature.astype(bool)][spec.metric].mean()
        for m in rated:
            out.loc[m, "fidelity"] = floor if REGISTRY[m].hard_forward else w1.get(m, math.nan)
    for rows, spec in _inputs(results, "bias"):
        g = rows.groupby("estimator")
        mean = g[spec.metric].mean()
        se_col = f"{spec.metric}_se"
        se = (
            g[se_col].agg(lambda v: float(np.sqrt((v.fillna(0) ** 2).sum())) / max(len(v), 1))
            if se_col in rows
            else pd.Series(dtype=float)
        )
        for m in rated:
            out.loc[m, "bias"] = mean.get(m, math.nan)
            out.loc[m, "bias_se"] = se.get(m, 0.0)
            out.loc[m, "bias_n"] = math.inf
    for rows, spec in _inputs(results, "variance"):
        values = rows.groupby("estimator")[spec.metric].agg(
            lambda v: float(np.exp(np.log(v.clip(lower=1e-300)).mean()))
        )
        for m in rated:
            out.loc[m, "variance"] = values.get(m, math.nan)
    spreads = [_spread(rows, spec) for rows, spec in _inputs(results, "robustness")]
    if spreads:
        values = pd.concat([s["value"] for s in spreads], axis=1)
        ses = pd.concat([s["se"] for s in spreads], axis=1)
        count = values.notna().sum(axis=1).clip(lower=1)
        replicates = pd.concat([s["n"] for s in spreads], axis=1).min(axis=1)
        robustness = values.mean(axis=1)
        robustness_se = np.sqrt((ses.fillna(0) ** 2).sum(axis=1)) / count
        for m in rated:
            out.loc[m, "robustness"] = robustness.get(m, math.nan)
            out.loc[m, "robustness_se"] = robustness_se.get(m, math.nan)
            out.loc[m, "robustness_n"] = replicates.get(m, math.nan)
    return out


def per_seed_gaps(results: dict[str, pd.DataFrame], task: str) -> pd.DataFrame:
    """A task's paired gap per replicate: rows (seed, and network where there is one), one
    column per estimator, NaN where it did not run.

    ``vae``: held-out negative ELBO minus that of the exact run of the same seed (and data),
    averaged over final temperatures (nats per item, lower is better); ``poglm``: test ELBO of
    ``score_loo`` minus the estimator's on the same network and seed, averaged over
    temperatures (nats per sequence). Empty when the task or its reference did not run.
    """
    rows = results.get(task)
    if rows is None or not len(rows):
        return pd.DataFrame()
    for spec in EXPERIMENTS[task].rating_inputs:
        if spec.reference is not None and (rows.estimator == spec.reference).any():
            d, _ = paired_gap(rows, spec)
            replicate = [k for k in spec.pair_on if k != "dataset"]
            d = d.dropna(subset=["gap"])
            return d.groupby(["estimator", *replicate]).gap.mean().unstack(0)
    return pd.DataFrame()


def vae_margin(results: dict[str, pd.DataFrame]) -> float:
    """The VAE comparisons' margin in nats: :data:`MARGINS` ``["vae_gap"]`` of the exact run's
    mean held-out negative ELBO (NaN without exact runs)."""
    rows = results.get("vae")
    if rows is None or not (rows.estimator == "exact").any():
        return math.nan
    return MARGINS["vae_gap"].of(float(rows[rows.estimator == "exact"].neg_elbo.mean()))


def task_performance(results: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Downstream results per estimator (:func:`per_seed_gaps`): mean ± SE over replicates.

    Columns ``vae_gap``/``vae_gap_se``/``vae_seeds`` and ``poglm_gap``/``poglm_gap_se``; NaN
    where not measured.
    """
    out = pd.DataFrame(
        columns=["vae_gap", "vae_gap_se", "poglm_gap", "poglm_gap_se", "vae_seeds"], dtype=float
    )
    for task in ("vae", "poglm"):
        for est, g in per_seed_gaps(results, task).items():
            g = g.dropna()
            out.loc[est, f"{task}_gap"] = float(g.mean())
            out.loc[est, f"{task}_gap_se"] = float(g.std() / len(g) ** 0.5) if len(g) > 1 else 0.0
            if task == "vae":
                out.loc[est, "vae_seeds"] = len(g)
    return out
