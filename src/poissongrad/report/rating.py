"""The method-rating tables (the paper's Table 1 and beyond), computed from stored measurements.

The rule is :data:`RULE` (also printed in the report); it is a constant rather than this
docstring, so the module imports under ``python -OO`` too.
"""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np
import pandas as pd

from poissongrad.experiments.base import Criterion
from poissongrad.experiments.registry import EXPERIMENTS, RatingInput
from poissongrad.registry import COUNT_LAWS, REGISTRY, tagged
from poissongrad.stats import setting_gaps

__all__ = [
    "CRITERIA",
    "Recommendation",
    "PAPER_RECOMMENDATIONS",
    "RULE",
    "measurements",
    "rate_methods",
    "stars",
    "task_performance",
]

RULE = """\
* Each criterion has a measured number per method, lower is better (the experiment registry
  says which experiment's metric feeds which criterion), with a standard error (SE) where the
  measurement has one:
  - **fidelity**: mean W1/√λ over the fidelity grid. It rates the law of the counts a model sees
    in the forward pass: a straight-through method forwards exact Poisson counts (as does the
    score function), so it gets the exact-draw value, the sampling floor. What a straight-through
    estimator gives up (its backward pass differentiates a relaxation that its forward pass did
    not use) is measured by its gradient bias, not here;
  - **gradient bias**: mean relative bias ‖E g − g*‖/‖g*‖ over the gradient grid (closed form for
    the EAT relaxations, Monte Carlo ± SE for the others);
  - **gradient variance**: geometric mean over the gradient grid of the relative variance at
    equal cost: the relative variance per sample times the evaluations of f one sample spends
    (the registry's cost: 2 for REBAR/RELAX, K + 1 for the difference identity, 1 for a
    relaxation or the score function), so that methods are compared at the same budget;
  - **temperature robustness**: spread (worst − best) across final temperatures of the task
    metric, each run compared with a reference run on the same seed and data (VAE: held-out
    negative ELBO minus the exact-gradient run's; POGLM: test negative ELBO minus the score
    function's), averaged over seeds, divided by the reference's |mean| and averaged over the
    tasks measured; methods without a temperature have 0.
  - **generalisability**: on the count VAEs with negative-binomial and COM-Poisson latents,
    the held-out negative ELBO at the method's best final τ minus the best method's on the
    same seed and data, relative to the best's (|v_best|), averaged over seeds and over the
    ground truths the method can express: a method is rated on the laws it can express (EAT:
    negative binomial only), and the report lists them. Where the experiment did not run a
    method, its stars are the stated property read from the registry's count laws (every
    law: 5, fewer: 3), marked "stated".
* Stars: 5 − round(log2((v′ + ε)/(v_best + ε))), clipped to 1…5, with v′ = max(v − 2·SE, v_best):
  one star lost per doubling of the number against the best method, differences within 2 SE of
  the best count as ties, and a floor ε below which differences do not count (fidelity: the W1
  of exact Poisson draws; bias 0.02; variance 0; robustness 0.01; generalisability 0.005).
* Recommendations come from downstream results, not from a sum of stars: among the paper's three
  methods, the **Default choice** is the one with the smallest gap to the exact-gradient VAE
  (held-out negative ELBO minus that of the exact run of the same seed, averaged over final
  temperatures and seeds; methods within 2 SE of it are listed as tied); **Max smoothness** the
  other one with the lowest gradient variance; **Non-Poisson data** the one with the most
  generalisability stars (on ties, the one that expresses more laws). Beyond the paper, a
  method is marked "better than the default" or "worse than the default" when its VAE gap
  differs from the default's by more than 2 SE, the score function is the "Unbiased
  reference", and of the other unbiased methods (the registry's ``unbiased``: control variates)
  the one with the lowest gradient variance at equal cost is "Unbiased, lowest variance"."""

CRITERIA: tuple[Criterion, ...] = tuple(Criterion)


class Recommendation(StrEnum):
    """What the rating tables recommend a method for (computed from downstream results)."""

    DEFAULT = "Default choice"
    SMOOTH = "Max smoothness"
    NON_POISSON = "Non-Poisson data"
    UNBIASED = "Unbiased reference"
    UNBIASED_LOW_VARIANCE = "Unbiased, lowest variance"
    BETTER = "better than the default on the VAE task"
    WORSE = "worse than the default on the VAE task"
#: The paper's recommendations for its Table 1 methods (the registry's "paper" tag).
PAPER_RECOMMENDATIONS = {
    "eat_cubic": Recommendation.DEFAULT,
    "eat_sigmoid": Recommendation.SMOOTH,
    "gsm": Recommendation.NON_POISSON,
}
EPSILON = {"bias": 0.02, "variance": 0.0, "robustness": 0.01, "generalisability": 0.005}
TIE_SE = 2.0


def generalisability(method: str) -> float:
    """Stated generalisability stars of a method (from the registry's count laws)."""
    return 5.0 if set(COUNT_LAWS) <= set(REGISTRY[method].count_laws) else 3.0


def stars(value: float, best: float, eps: float, se: float = 0.0) -> float:
    """5 − round(log2((v′ + ε)/(best + ε))) with v′ = max(value − 2·se, best), clipped to [1, 5].

    NaN stays NaN; a NaN ``se`` counts as 0.
    """
    if value is None or not np.isfinite(value):
        return math.nan
    se = se if se is not None and np.isfinite(se) else 0.0
    value = max(value - TIE_SE * se, best)
    ratio = (value + eps) / (best + eps) if best + eps > 0 else 1.0
    return float(min(5, max(1, 5 - round(math.log2(max(ratio, 1e-12))))))


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
    """Per estimator: relative spread across τ of the paired, seed-averaged gap, and its SE."""
    d, scale = paired_gap(rows, spec)
    d = d.dropna(subset=["gap"])
    cells = d.groupby(["estimator", "temperature"]).gap.agg(["mean", "std", "count"]).reset_index()
    cells["se"] = (cells["std"] / cells["count"].clip(lower=1) ** 0.5).fillna(0.0)
    out = {}
    for est, g in cells.groupby("estimator"):
        worst, best = g.loc[g["mean"].idxmax()], g.loc[g["mean"].idxmin()]
        value = (worst["mean"] - best["mean"]) / scale
        se = math.hypot(worst.se, best.se) / scale if len(g) > 1 else 0.0
        out[est] = (value, se)
    return pd.DataFrame(out, index=["value", "se"]).T


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
    for m, g in best.groupby("estimator"):
        if m not in out.index:
            continue
        out.loc[m, "generalisability"] = float(g.gap.mean())
        out.loc[m, "generalisability_se"] = float(np.sqrt((g.gap_se**2).sum()) / len(g))
        out.loc[m, "generalisability_laws"] = ", ".join(sorted(set(g.law)))


def measurements(results: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The number behind each criterion and its SE (``<criterion>_se``), per rated method."""
    columns = [c for crit in CRITERIA for c in (crit, f"{crit}_se")]
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
        robustness = values.mean(axis=1)
        robustness_se = np.sqrt((ses.fillna(0) ** 2).sum(axis=1)) / count
        for m in rated:
            out.loc[m, "robustness"] = robustness.get(m, math.nan)
            out.loc[m, "robustness_se"] = robustness_se.get(m, math.nan)
    return out


def task_performance(results: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Downstream results per estimator, paired by seed: mean ± SE over seeds.

    Columns ``vae_gap``/``vae_gap_se``: held-out negative ELBO minus that of the exact run of
    the same seed (and data set), averaged over final temperatures (nats per item; lower is
    better); ``poglm_gap``/``poglm_gap_se``: test ELBO of ``score_loo`` minus the estimator's,
    on the same network and seed, averaged over temperatures (nats per sequence; lower is
    better). NaN where not measured.
    """
    out = pd.DataFrame(
        columns=["vae_gap", "vae_gap_se", "poglm_gap", "poglm_gap_se", "vae_seeds"], dtype=float
    )
    for task in ("vae", "poglm"):
        rows = results.get(task)
        if rows is None or not len(rows):
            continue
        for spec in EXPERIMENTS[task].rating_inputs:
            if spec.reference is not None and (rows.estimator == spec.reference).any():
                d, _ = paired_gap(rows, spec)
                _paired(out, d, task, [k for k in spec.pair_on if k != "dataset"])
                break
    return out


def _paired(out: pd.DataFrame, d: pd.DataFrame, task: str, replicate: list[str]) -> None:
    per_seed = d.dropna(subset=["gap"]).groupby(["estimator", *replicate]).gap.mean()
    for est, g in per_seed.groupby(level=0):
        out.loc[est, f"{task}_gap"] = float(g.mean())
        out.loc[est, f"{task}_gap_se"] = float(g.std() / len(g) ** 0.5) if len(g) > 1 else 0.0
        if task == "vae":
            out.loc[est, "vae_seeds"] = len(g)


def rate_methods(results: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Ratings (1–5 stars per criterion), the numbers behind them and recommendations.

    Returns:
        One row per rated method with columns ``<criterion>`` (stars, NaN if not measured),
        ``<criterion>_value`` and ``<criterion>_se`` (the number and its SE), the task results
        of :func:`task_performance`, ``table`` ("paper" for the paper's three methods, "beyond"
        for the others), ``recommendation`` (computed here), ``paper_recommendation`` and
        ``tied_with_default``.
    """
    values = measurements(results)
    floor = values.loc["score_loo", "fidelity"] if "score_loo" in values.index else math.nan
    eps = {**EPSILON, "fidelity": floor if np.isfinite(floor) else 0.0}
    table = pd.DataFrame(index=values.index)
    for crit in CRITERIA:
        col = values[crit].astype(float)
        se = values[f"{crit}_se"].astype(float)
        best = col.min(skipna=True)
        table[crit] = [stars(v, best, eps[crit], s) for v, s in zip(col, se, strict=True)]
        table[f"{crit}_value"] = col
        table[f"{crit}_se"] = se
    measured = table.generalisability.notna()
    table["generalisability_stated"] = ~measured
    table.loc[~measured, "generalisability"] = [generalisability(m) for m in table.index[~measured]]
    table["generalisability_laws"] = values.generalisability_laws
    rated = table[list(CRITERIA[:4])].notna().any(axis=1) | ~table.generalisability_stated
    table = table.loc[rated]
    table = table.join(task_performance(results))
    table["table"] = ["paper" if m in tagged("paper") else "beyond" for m in table.index]
    table["paper_recommendation"] = [PAPER_RECOMMENDATIONS.get(m, "") for m in table.index]
    table["recommendation"] = ""
    table["tied_with_default"] = False
    _recommend(table)
    table.index.name = "estimator"
    return table


def _recommend(table: pd.DataFrame) -> None:
    paper = table[table.table == "paper"]
    default = None
    if "vae_gap" in paper and paper.vae_gap.notna().any():
        default = paper.vae_gap.idxmin()
        table.loc[default, "recommendation"] = Recommendation.DEFAULT
        best, best_se = table.loc[default, ["vae_gap", "vae_gap_se"]]
        for m in table.index:
            if m == default or not np.isfinite(table.loc[m, "vae_gap"]):
                continue
            diff = table.loc[m, "vae_gap"] - best
            se = math.hypot(table.loc[m, "vae_gap_se"], best_se)
            if abs(diff) <= TIE_SE * se:
                table.loc[m, "tied_with_default"] = True
            elif m not in tagged("paper") and REGISTRY[m].family != "score":
                verdict = Recommendation.BETTER if diff < 0 else Recommendation.WORSE
                table.loc[m, "recommendation"] = verdict
    rest = paper.drop(index=[default] if default is not None else [])
    rest = rest[rest.variance_value.notna()]
    if len(rest):
        table.loc[rest.variance_value.idxmin(), "recommendation"] = Recommendation.SMOOTH
    laws = paper.generalisability_laws.fillna("")
    coverage = laws.str.count(",") + laws.ne("").astype(int)
    general = paper.assign(_laws=coverage).sort_values(
        ["generalisability", "_laws"], ascending=False, kind="stable"
    )
    distinct = general.generalisability.nunique() > 1 or coverage.nunique() > 1
    if len(general) and distinct and not table.loc[general.index[0], "recommendation"]:
        table.loc[general.index[0], "recommendation"] = Recommendation.NON_POISSON
    for m in table.index:
        if REGISTRY[m].family == "score":
            table.loc[m, "recommendation"] = Recommendation.UNBIASED
    unbiased = [m for m in table.index if REGISTRY[m].unbiased and REGISTRY[m].family != "score"]
    variance = table.loc[unbiased, "variance_value"].dropna() if unbiased else pd.Series()
    if len(variance):
        table.loc[variance.idxmin(), "recommendation"] = Recommendation.UNBIASED_LOW_VARIANCE
