"""The method-rating table (the paper's Table 1), computed from stored measurements.

Rule (also printed in the report by :data:`RULE`):

* Each criterion has a measured number per method, lower is better (the experiment registry
  says which experiment's metric feeds which criterion):
  - **fidelity**: mean W1/√λ over the fidelity grid (a straight-through method forwards exact
    counts, as does the score function, so it gets the exact-draw value: the sampling floor);
  - **gradient bias**: mean relative bias (Monte-Carlo error removed) over the gradient grid;
  - **gradient variance**: geometric mean of the relative variance over the gradient grid;
  - **temperature robustness**: relative degradation (worst − best)/|best| across temperatures
    of the task metric (VAE held-out negative ELBO, POGLM test negative ELBO), averaged over the
    tasks measured; methods without a temperature have 0.
* Stars: 5 − round(log2((v + ε)/(v_best + ε))), clipped to 1…5: one star lost per doubling of the
  number against the best method, with a floor ε below which differences do not count
  (fidelity: the W1 of exact Poisson draws; bias 0.02; variance 0; robustness 0.01).
* **Generalisability** is not measured yet: it is a stated property, read from the estimator
  registry's count laws (every law, i.e. Poisson, negative binomial and COM-Poisson: 5, as the
  score function and GSM, which need only a log-pmf; fewer: 3, as EAT, which simulates a Poisson
  process or a Gamma mixture of one), straight-through variants as their base.
* Recommendations: "Default choice" is the method with the most stars over all five criteria
  (complete ratings only); "Max smoothness" the other pathwise method with the most
  gradient-variance stars (lowest variance on ties); "Non-Poisson data" the pathwise method with
  the best generalisability (most stars on ties); the score function is the "Unbiased reference".
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from poissongrad.experiments.registry import EXPERIMENTS
from poissongrad.registry import COUNT_LAWS, METHODS, REGISTRY

__all__ = ["RULE", "CRITERIA", "RATED_METHODS", "measurements", "rate_methods", "stars"]

RULE = __doc__.split("Rule (also printed in the report by :data:`RULE`):")[1].strip()

CRITERIA = ("fidelity", "bias", "variance", "robustness", "generalisability")
RATED_METHODS: tuple[str, ...] = METHODS + ("eat_cubic_st", "eat_sigmoid_st", "gsm_st", "score_loo")
EPSILON = {"bias": 0.02, "variance": 0.0, "robustness": 0.01}


def generalisability(method: str) -> float:
    """Stated generalisability stars of a method (from the registry's count laws)."""
    return 5.0 if set(COUNT_LAWS) <= set(REGISTRY[method].count_laws) else 3.0


def stars(value: float, best: float, eps: float) -> float:
    """5 − round(log2((value + ε)/(best + ε))), clipped to [1, 5]; NaN stays NaN."""
    if value is None or not np.isfinite(value):
        return math.nan
    ratio = (value + eps) / (best + eps) if best + eps > 0 else 1.0
    return float(min(5, max(1, 5 - round(math.log2(max(ratio, 1e-12))))))


def _degradation(rows: pd.DataFrame, metric: str, sign: float) -> pd.Series:
    by_tau = rows.groupby(["estimator", "temperature"])[metric].mean().mul(sign).reset_index()
    spread = by_tau.groupby("estimator")[metric].agg(lambda v: (v.max() - v.min()) / abs(v.min()))
    return spread


def _inputs(
    results: dict[str, pd.DataFrame], criterion: str
) -> list[tuple[pd.DataFrame, str, float]]:
    """(rows, metric, sign) of every stored experiment that feeds ``criterion``; sign −1 turns a
    higher-is-better metric into a lower-is-better one."""
    found = []
    for name, rows in results.items():
        for spec in EXPERIMENTS[name].rating_inputs:
            if spec.criterion == criterion and len(rows):
                found.append((rows, spec.metric, -1.0 if spec.higher_is_better else 1.0))
    return found


def measurements(results: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The number behind each criterion, per rated method (rows); NaN where not measured."""
    out = pd.DataFrame(index=list(RATED_METHODS), columns=list(CRITERIA[:4]), dtype=float)
    for rows, metric, sign in _inputs(results, "fidelity"):
        w1 = rows.groupby("estimator")[metric].mean() * sign
        floor = rows[~rows.uses_temperature.astype(bool)][metric].mean() * sign
        for m in RATED_METHODS:
            out.loc[m, "fidelity"] = floor if REGISTRY[m].hard_forward else w1.get(m, math.nan)
    for criterion, aggregate in (("bias", "mean"), ("variance", "geomean")):
        for rows, metric, sign in _inputs(results, criterion):
            g = rows.groupby("estimator")[metric]
            if aggregate == "mean":
                values = g.mean() * sign
            else:
                values = g.agg(lambda v: float(np.exp(np.log(v.clip(lower=1e-300)).mean())))
            for m in RATED_METHODS:
                out.loc[m, criterion] = values.get(m, math.nan)
    spreads = [
        _degradation(rows, metric, sign) for rows, metric, sign in _inputs(results, "robustness")
    ]
    if spreads:
        robustness = pd.concat(spreads, axis=1).mean(axis=1)
        for m in RATED_METHODS:
            out.loc[m, "robustness"] = robustness.get(m, math.nan)
    return out


def rate_methods(results: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Ratings (1–5 stars per criterion), the numbers behind them and a recommendation.

    Returns:
        One row per method with columns ``<criterion>`` (stars, NaN if not measured),
        ``<criterion>_value`` (the number), ``total`` (sum of stars) and ``recommendation``.
    """
    values = measurements(results)
    floor = values.loc["score_loo", "fidelity"] if "score_loo" in values.index else math.nan
    eps = {**EPSILON, "fidelity": floor if np.isfinite(floor) else 0.0}
    table = pd.DataFrame(index=values.index)
    for crit in CRITERIA[:4]:
        col = values[crit].astype(float)
        best = col.min(skipna=True)
        table[crit] = [stars(v, best, eps[crit]) for v in col]
        table[f"{crit}_value"] = col
    table["generalisability"] = [generalisability(m) for m in table.index]
    measured = table[list(CRITERIA)].dropna(how="all", subset=list(CRITERIA[:4]))
    table = table.loc[measured.index]
    table["total"] = table[list(CRITERIA)].sum(axis=1, min_count=len(CRITERIA))
    table["recommendation"] = ""
    complete = table.dropna(subset=list(CRITERIA))
    pathwise = complete.loc[[m for m in complete.index if REGISTRY[m].pathwise]]
    if len(pathwise):
        default = pathwise.sort_values(["total", "bias_value"], ascending=[False, True]).index[0]
        table.loc[default, "recommendation"] = "Default choice"
        rest = pathwise.drop(index=default)
        if len(rest):
            smooth = rest.sort_values(["variance", "variance_value"], ascending=[False, True])
            table.loc[smooth.index[0], "recommendation"] = "Max smoothness"
        general = pathwise.sort_values(["generalisability", "total"], ascending=False).index[0]
        if not table.loc[general, "recommendation"]:
            table.loc[general, "recommendation"] = "Non-Poisson data"
    for m in complete.index:
        if REGISTRY[m].family == "score":
            table.loc[m, "recommendation"] = "Unbiased reference"
    table.index.name = "estimator"
    return table
