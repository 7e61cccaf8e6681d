"""The method-rating table (the paper's Table 1), computed from stored measurements.

Rule (also printed in the report by :data:`RULE`):

* Each criterion has a measured number per method, lower is better:
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
* **Generalisability** is not measured: it is what each method can express (score function and
  GSM: any count law with a log-pmf, 5; EAT: Poisson and Gamma–Poisson mixtures, not COM-Poisson,
  3), straight-through variants as their base.
* Recommendations: "Default choice" is the method with the most stars over all five criteria
  (complete ratings only); "Max smoothness" the other pathwise method with the most
  gradient-variance stars (lowest variance on ties); "Non-Poisson data" the pathwise method with
  the best generalisability (most stars on ties); the score function is the "Unbiased reference".
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from poissongrad.validation import METHODS

__all__ = ["RULE", "CRITERIA", "RATED_METHODS", "measurements", "rate_methods", "stars"]

RULE = __doc__.split("Rule (also printed in the report by :data:`RULE`):")[1].strip()

CRITERIA = ("fidelity", "bias", "variance", "robustness", "generalisability")
RATED_METHODS: tuple[str, ...] = METHODS + ("eat_cubic_st", "eat_sigmoid_st", "gsm_st", "score_loo")
EPSILON = {"bias": 0.02, "variance": 0.0, "robustness": 0.01}
GENERALISABILITY = {"gsm": 5, "score_loo": 5}  # every EAT method: 3


def _base(method: str) -> str:
    return method[: -len("_st")] if method.endswith("_st") else method


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


def measurements(results: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The number behind each criterion, per rated method (rows); NaN where not measured."""
    out = pd.DataFrame(index=list(RATED_METHODS), columns=list(CRITERIA[:4]), dtype=float)
    fid = results.get("fidelity")
    if fid is not None and len(fid):
        w1 = fid.groupby("method").w1.mean()
        floor = w1.get("poisson", math.nan)
        for m in RATED_METHODS:
            hard_forward = m.endswith("_st") or m == "score_loo"
            out.loc[m, "fidelity"] = floor if hard_forward else w1.get(m, math.nan)
    grad = results.get("gradients")
    if grad is not None and len(grad):
        g = grad.groupby("estimator")
        bias = g.rel_bias_debiased.mean()
        variance = g.rel_var.agg(lambda v: float(np.exp(np.log(v.clip(lower=1e-300)).mean())))
        for m in RATED_METHODS:
            out.loc[m, "bias"] = bias.get(m, math.nan)
            out.loc[m, "variance"] = variance.get(m, math.nan)
    spreads = []
    if results.get("vae") is not None and len(results["vae"]):
        spreads.append(_degradation(results["vae"], "neg_elbo", 1.0))
    if results.get("poglm") is not None and len(results["poglm"]):
        spreads.append(_degradation(results["poglm"], "elbo", -1.0))
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
    table["generalisability"] = [float(GENERALISABILITY.get(_base(m), 3)) for m in table.index]
    measured = table[list(CRITERIA)].dropna(how="all", subset=list(CRITERIA[:4]))
    table = table.loc[measured.index]
    table["total"] = table[list(CRITERIA)].sum(axis=1, min_count=len(CRITERIA))
    table["recommendation"] = ""
    complete = table.dropna(subset=list(CRITERIA))
    pathwise = complete.drop(index=[m for m in complete.index if m.startswith("score")])
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
        if m.startswith("score"):
            table.loc[m, "recommendation"] = "Unbiased reference"
    table.index.name = "method"
    return table
