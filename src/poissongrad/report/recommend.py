"""The recommendations: paired method-vs-method verdicts (:mod:`~poissongrad.report.verdicts`)
and the labels they decide (Default choice, Max smoothness, Non-Poisson data, better or worse
than the default, the unbiased references).
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import pandas as pd

from poissongrad.registry import REGISTRY, tagged
from poissongrad.report.measure import _inputs, per_seed_gaps, vae_margin
from poissongrad.report.verdicts import MARGINS, Verdict, decide
from poissongrad.utils.stats import setting_best

__all__ = [
    "PAPER_RECOMMENDATIONS",
    "Recommendation",
    "compare_methods",
    "decision",
    "recommend",
]


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


def decision(comparisons: pd.DataFrame, statement: str) -> tuple[str | None, list[str], bool]:
    """(leader, methods tied with it, resolved) of a recommendation decided by ``comparisons``
    (the leader is every comparison's ``b``); (None, [], False) when nothing was compared."""
    lines = comparisons[comparisons.statement == statement]
    if not len(lines):
        return None, [], False
    tied = lines[lines.verdict == Verdict.EQUIVALENT].a.tolist()
    resolved = bool(lines.verdict.isin([Verdict.EQUIVALENT, Verdict.WORSE]).all())
    return str(lines.b.iloc[0]), tied, resolved


def recommend(table: pd.DataFrame, comparisons: pd.DataFrame) -> None:
    """Fill ``table``'s ``recommendation``, ``tied_with_default`` and ``vae_verdict`` columns
    from the paired ``comparisons`` (:func:`compare_methods`), in place."""
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
