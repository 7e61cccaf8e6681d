"""The method-rating tables (the paper's Table 1 and beyond): stars from the measurements of
:mod:`~poissongrad.report.measure`, recommendations from :mod:`~poissongrad.report.recommend`.

The rule is :data:`RULE` (also printed in the report); it is a constant rather than this
docstring, so the module imports under ``python -OO`` too.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from poissongrad.registry import COUNT_LAWS, REGISTRY, tagged
from poissongrad.report.measure import CRITERIA, measurements, task_performance
from poissongrad.report.recommend import PAPER_RECOMMENDATIONS, compare_methods, recommend
from poissongrad.report.verdicts import quantile

__all__ = ["CRITERIA", "RULE", "rate_methods", "star_range", "stars"]


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
    recommend(table, comparisons)
    table.index.name = "estimator"
    table.attrs["comparisons"] = comparisons
    return table
