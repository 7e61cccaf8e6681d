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
from poissongrad.report.verdicts import MARGINS, Verdict, decide, quantile
from poissongrad.stats import setting_best, setting_gaps

__all__ = [
    "CRITERIA",
    "Recommendation",
    "PAPER_RECOMMENDATIONS",
    "RULE",
    "compare_methods",
    "decision",
    "measurements",
    "per_seed_gaps",
    "rate_methods",
    "star_range",
    "stars",
    "task_performance",
    "vae_margin",
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
* Stars come from the point estimate: 5 − round(log2((v + ε)/(v_best + ε))), clipped to 1…5:
  one star lost per doubling of the number against the best method, with a floor ε below which
  differences do not count (fidelity: the W1 of exact Poisson draws; bias 0.02; variance 0;
  robustness 0.01; generalisability 0.005). No standard error shifts a star. A star is
  **resolved** when the stars at both ends of the interval v ± q·SE are the same (q: the
  Student-t quantile of the verdicts below at the measurement's degrees of freedom, normal for
  Monte-Carlo SEs); otherwise the report gives the range the interval spans. A number without
  an SE (fidelity, variance) is shown as such.
* Method-vs-method statements are paired three-way verdicts (better, equivalent, worse,
  unresolved) against a margin of practical equivalence fixed in the code (see
  ``poissongrad/report/verdicts.py``; the report prints each margin with its reason): VAE
  statements on the per-seed difference of the held-out negative ELBO gap to the exact run
  (averaged over final temperatures), generalisability on the per-seed difference of the
  relative gap on the ground truths both methods express, gradient variance on the per-cell
  difference of the log variance at equal cost (cells of the gradient grid).
* Recommendations come from downstream results, not from a sum of stars. Among the paper's
  three methods, the **Default choice** is the one with the smallest VAE gap to exact,
  provided every other one is worse or equivalent (equivalent ones share the label as ties;
  any unresolved comparison leaves the Default choice unresolved); **Max smoothness** the
  other one with the lowest gradient variance, decided the same way; **Non-Poisson data** the
  one with the smallest generalisability gap among those measured, decided the same way, ties
  going to the one that expresses more laws. Beyond the paper, a method is marked "better
  than the default" or "worse than the default" by its VAE verdict against the default (or
  the default's candidate while that is unresolved), the score function is the "Unbiased
  reference", and of the other unbiased methods (the registry's ``unbiased``: control
  variates) the one with the lowest gradient variance at equal cost is "Unbiased, lowest
  variance"."""

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


def generalisability(method: str) -> float:
    """Stated generalisability stars of a method (from the registry's count laws)."""
    return 5.0 if set(COUNT_LAWS) <= set(REGISTRY[method].count_laws) else 3.0


def stars(value: float, best: float, eps: float) -> float:
    """5 − round(log2((value + ε)/(best + ε))), clipped to [1, 5]; NaN stays NaN."""
    if value is None or not np.isfinite(value):
        return math.nan
    value = max(value, best)
    ratio = (value + eps) / (best + eps) if best + eps > 0 else 1.0
    return float(min(5, max(1, 5 - round(math.log2(max(ratio, 1e-12))))))


def star_range(value: float, half_width: float, best: float, eps: float) -> tuple[float, float]:
    """(fewest, most) stars over the interval value ± half_width (the point's stars twice when
    the half width is 0 or NaN: no SE)."""
    if not np.isfinite(half_width):
        half_width = 0.0 if np.isnan(half_width) else half_width
    low = stars(value + half_width, best, eps) if np.isfinite(half_width) else 1.0
    return low, stars(max(value - half_width, 0.0), best, eps)


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


def _generalisability_per_seed(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (law, dispersion, seed) × estimator: the held-out negative ELBO at the estimator's
    best final τ (by the seed mean), relative to the setting's best method's mean |value|."""
    best = setting_best(rows)
    keys = ["law", "dispersion"]
    chosen = rows.merge(best[[*keys, "estimator", "temperature"]],
                        on=[*keys, "estimator", "temperature"])
    scale = best.groupby(keys).neg_elbo.min().abs().clip(lower=1e-12).rename("_scale")
    chosen = chosen.join(scale, on=keys)
    chosen = chosen.assign(relative=chosen.neg_elbo / chosen._scale)
    return chosen.pivot_table(index=[*keys, "seed"], columns="estimator", values="relative")


def _differences(table: pd.DataFrame, a: str, b: str, level: list[str] | None = None) -> np.ndarray:
    """Paired differences a − b over the replicates (rows) both have; with ``level``, the
    replicates are the groups of those index levels (averaging over the rest)."""
    if a not in table or b not in table:
        return np.array([])
    d = (table[a] - table[b]).dropna()
    if level is not None and len(d):
        d = d.groupby(level=level).mean()
    return d.to_numpy()


def _log_variance_cells(results: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """(rate, temperature) cells × estimator: log of the relative variance at equal cost."""
    for rows, spec in _inputs(results, "variance"):
        if {"rate", "temperature"} <= set(rows.columns):
            d = rows.assign(_log=np.log(rows[spec.metric].clip(lower=1e-300)))
            return d.pivot_table(index=["rate", "temperature"], columns="estimator",
                                 values="_log")
    return pd.DataFrame()


def compare_methods(results: dict[str, pd.DataFrame], ratings: pd.DataFrame) -> pd.DataFrame:
    """Every paired method-vs-method verdict behind the recommendations.

    One row per comparison: ``statement`` (what it decides), ``a``, ``b`` (a − b, lower is
    better), ``experiment``, ``replicates`` (what was paired), ``n``, ``delta``, ``se``,
    ``half_width`` (of the interval), ``margin``, ``unit``, ``verdict``.
    """
    lines = []

    def add(statement, a, b, experiment, replicates, differences, margin, unit):
        c = decide(differences, margin)
        lines.append({"statement": statement, "a": a, "b": b, "experiment": experiment,
                      "replicates": replicates, "n": c.n, "delta": c.delta, "se": c.se,
                      "half_width": c.half_width, "margin": c.margin, "unit": unit,
                      "verdict": c.verdict})

    paper = [m for m in ratings.index if m in tagged("paper")]
    vae = per_seed_gaps(results, "vae")
    margin = vae_margin(results)
    measured = [m for m in paper if m in vae and vae[m].notna().any()]
    if measured and np.isfinite(margin):
        default = min(measured, key=lambda m: vae[m].mean())
        for m in [x for x in ratings.index if x in vae and x != default]:
            statement = "Default choice" if m in paper else "against the default"
            add(statement, m, default, "vae", "seeds", _differences(vae, m, default), margin,
                "nats per item")
    general = results.get("generalisability")
    if general is not None and len(general):
        table = _generalisability_per_seed(general)
        candidates = [m for m in paper if m in table]
        if candidates:
            leader = min(candidates, key=lambda m: ratings.loc[m, "generalisability_value"])
            for m in candidates:
                if m != leader:
                    add("Non-Poisson data", m, leader, "generalisability", "seeds",
                        _differences(table, m, leader, ["seed"]),
                        MARGINS["generalisability"].of(), "relative neg. ELBO")
    cells = _log_variance_cells(results)
    default_rows = [x for x in lines if x["statement"] == "Default choice"]
    default = default_rows[0]["b"] if default_rows else None
    others = [m for m in paper if m != default and m in cells]
    if len(others) > 1:
        leader = min(others, key=lambda m: cells[m].mean())
        for m in others:
            if m != leader:
                add("Max smoothness", m, leader, "gradients", "(rate, τ) cells",
                    _differences(cells, m, leader), MARGINS["variance"].of(), "log variance")
    columns = ["statement", "a", "b", "experiment", "replicates", "n", "delta", "se",
               "half_width", "margin", "unit", "verdict"]
    return pd.DataFrame(lines, columns=columns)


def rate_methods(results: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Ratings (1–5 stars per criterion), the numbers behind them and recommendations.

    Returns:
        One row per rated method with columns ``<criterion>`` (stars of the point estimate,
        NaN if not measured), ``<criterion>_value``, ``<criterion>_se``, ``<criterion>_low``
        and ``<criterion>_high`` (the stars at the ends of its interval; equal when resolved),
        the task results of :func:`task_performance`, ``table`` ("paper" for the paper's three
        methods, "beyond" for the others), ``recommendation`` (computed here),
        ``paper_recommendation``, ``tied_with_default`` and ``vae_verdict`` (the method's VAE
        verdict against the default). The comparisons behind the recommendations are in
        ``attrs["comparisons"]`` (:func:`compare_methods`).
    """
    values = measurements(results)
    floor = values.loc["score_loo", "fidelity"] if "score_loo" in values.index else math.nan
    eps = {**EPSILON, "fidelity": floor if np.isfinite(floor) else 0.0}
    table = pd.DataFrame(index=values.index)
    for crit in CRITERIA:
        col = values[crit].astype(float)
        se = values[f"{crit}_se"].astype(float)
        n = values[f"{crit}_n"].astype(float)
        best = col.min(skipna=True)
        table[crit] = [stars(v, best, eps[crit]) for v in col]
        half = [quantile(k - 1 if np.isfinite(k) else k, looks=1) * s if s > 0 else 0.0
                for s, k in zip(se.fillna(0.0), n.fillna(math.inf), strict=True)]
        ranges = [star_range(v, h, best, eps[crit]) for v, h in zip(col, half, strict=True)]
        table[f"{crit}_low"] = [r[0] for r in ranges]
        table[f"{crit}_high"] = [r[1] for r in ranges]
        table[f"{crit}_value"] = col
        table[f"{crit}_se"] = se
    measured = table.generalisability.notna()
    table["generalisability_stated"] = ~measured
    stated = [generalisability(m) for m in table.index[~measured]]
    for column in ("generalisability", "generalisability_low", "generalisability_high"):
        table.loc[~measured, column] = stated
    table["generalisability_laws"] = values.generalisability_laws
    rated = table[list(CRITERIA[:4])].notna().any(axis=1) | ~table.generalisability_stated
    table = table.loc[rated]
    table = table.join(task_performance(results))
    table["table"] = ["paper" if m in tagged("paper") else "beyond" for m in table.index]
    table["paper_recommendation"] = [PAPER_RECOMMENDATIONS.get(m, "") for m in table.index]
    table["recommendation"] = ""
    table["tied_with_default"] = False
    table["vae_verdict"] = ""
    comparisons = compare_methods(results, table)
    _recommend(table, comparisons)
    table.index.name = "estimator"
    table.attrs["comparisons"] = comparisons
    return table


def decision(comparisons: pd.DataFrame, statement: str) -> tuple[str | None, list[str], bool]:
    """(leader, methods tied with it, resolved) of a recommendation decided by ``comparisons``
    (the leader is every comparison's ``b``); (None, [], False) when nothing was compared."""
    lines = comparisons[comparisons.statement == statement]
    if not len(lines):
        return None, [], False
    tied = lines[lines.verdict == Verdict.EQUIVALENT].a.tolist()
    resolved = bool(lines.verdict.isin([Verdict.EQUIVALENT, Verdict.WORSE]).all())
    return str(lines.b.iloc[0]), tied, resolved


def _recommend(table: pd.DataFrame, comparisons: pd.DataFrame) -> None:
    default, tied, resolved = decision(comparisons, "Default choice")
    if default is not None:
        for line in comparisons[comparisons.b == default].itertuples():
            if line.experiment == "vae":
                table.loc[line.a, "vae_verdict"] = line.verdict
        if resolved:
            table.loc[[default, *tied], "recommendation"] = Recommendation.DEFAULT
            table.loc[tied, "tied_with_default"] = True
        for m in table.index:
            verdict = table.loc[m, "vae_verdict"]
            if m in tagged("paper") or REGISTRY[m].score_function:
                continue
            if verdict == Verdict.EQUIVALENT:
                table.loc[m, "tied_with_default"] = True
            elif verdict in (Verdict.BETTER, Verdict.WORSE):
                better = verdict == Verdict.BETTER
                table.loc[m, "recommendation"] = (
                    Recommendation.BETTER if better else Recommendation.WORSE
                )
    smooth, tied, resolved = decision(comparisons, "Max smoothness")
    if smooth is not None and resolved:
        table.loc[[smooth, *tied], "recommendation"] = Recommendation.SMOOTH
    general, tied, resolved = decision(comparisons, "Non-Poisson data")
    if general is None:  # not measured: the stated property (the laws a method expresses)
        paper = [m for m in table.index if m in tagged("paper")]
        most = max((len(REGISTRY[m].count_laws) for m in paper), default=0)
        holders = [m for m in paper if len(REGISTRY[m].count_laws) == most]
        resolved = len(holders) < len(paper)
    else:
        holders = [general, *tied]
    if holders and resolved:
        laws = {m: len(REGISTRY[m].count_laws) for m in holders}
        most = max(laws.values())
        chosen = [m for m in holders if laws[m] == most and not table.loc[m, "recommendation"]]
        table.loc[chosen, "recommendation"] = Recommendation.NON_POISSON
    for m in table.index:
        if REGISTRY[m].score_function:
            table.loc[m, "recommendation"] = Recommendation.UNBIASED
    unbiased = [m for m in table.index if REGISTRY[m].unbiased and not REGISTRY[m].score_function]
    variance = table.loc[unbiased, "variance_value"].dropna() if unbiased else pd.Series()
    if len(variance):
        table.loc[variance.idxmin(), "recommendation"] = Recommendation.UNBIASED_LOW_VARIANCE
