"""Three-way verdicts on paired differences, with margins fixed in the code before any run.

A comparison of method A with method B (lower is better) takes the differences
d_i = v_A,i − v_B,i on the replicates both were measured on (seeds sharing data and
initialisation, or grid cells), their mean Δ and standard error, and the interval Δ ± q·SE
with q the Student-t quantile at n − 1 degrees of freedom and two-sided level 1 − ALPHA/LOOKS.
Against the margin δ of practical equivalence of its criterion (:data:`MARGINS`):

* **better**: the whole interval below −δ;
* **worse**: the whole interval above +δ;
* **equivalent**: the whole interval inside (−δ, +δ);
* **unresolved**: anything else (more replicates would decide it, unless Δ sits on ±δ).

The guide spends seeds sequentially: a first block of seeds
(:data:`~poissongrad.experiments.grids.SEED_BLOCK`) for every job, then, up to :data:`LOOKS`
blocks in all, further blocks only for the jobs of the comparisons still unresolved. Each
look uses level ALPHA/LOOKS (Bonferroni), so for any one comparison the chance that the
design ends on a wrong resolved verdict (better when Δ ≥ −δ, worse when Δ ≤ δ, equivalent
when |Δ| ≥ δ) is at most ALPHA/2 = 5 %.

Examples
--------
>>> import numpy as np
>>> decide(np.array([-2.1, -1.9, -2.0, -2.2]), margin=0.5).verdict
<Verdict.BETTER: 'better'>
>>> decide(np.array([0.01, -0.02, 0.0, 0.01]), margin=0.5).verdict
<Verdict.EQUIVALENT: 'equivalent'>
>>> decide(np.array([0.4, -0.3]), margin=0.5).verdict
<Verdict.UNRESOLVED: 'unresolved'>
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

__all__ = [
    "ALPHA",
    "LOOKS",
    "MARGINS",
    "Comparison",
    "Margin",
    "Verdict",
    "decide",
    "quantile",
    "unresolved_jobs",
]

#: Overall two-sided error level of the sequential design (5 % for a wrong resolved verdict).
ALPHA = 0.10
#: The most blocks of seeds (looks) the guide spends on one comparison.
LOOKS = 3


class Verdict(StrEnum):
    """The outcome of a comparison of A with B (lower is better)."""

    BETTER = "better"
    EQUIVALENT = "equivalent"
    WORSE = "worse"
    UNRESOLVED = "unresolved"


@dataclass(frozen=True)
class Margin:
    """A margin of practical equivalence: its size, unit and why a user would draw it there.

    ``relative`` margins are a fraction of a reference value given with the data (e.g. the
    exact run's held-out negative ELBO); absolute ones are used as they are.
    """

    size: float
    unit: str
    reason: str
    relative: bool = False

    def of(self, reference: float = 1.0) -> float:
        """The margin in the data's units (``size × |reference|`` when relative)."""
        return self.size * abs(reference) if self.relative else self.size


#: The margins, one per kind of comparison, fixed before any run of the guide.
MARGINS: dict[str, Margin] = {
    "vae_gap": Margin(
        0.005,
        "of the exact run's held-out negative ELBO (nats per item)",
        "half of one percent of the held-out ELBO: two training methods whose models differ "
        "by less are not told apart by their likelihood (the ELBO claim calls 1 % a "
        "reproduction)",
        relative=True,
    ),
    "generalisability": Margin(
        0.005,
        "relative held-out negative ELBO (fraction of the best method's)",
        "the same half percent of the held-out ELBO as for the Poisson VAE (and the rating's "
        "floor ε for this criterion)",
    ),
    "variance": Margin(
        math.log(2.0),
        "log of the ratio of relative variances at equal cost",
        "a factor of 2: what doubling the samples per step buys, and one star of the rating",
    ),
}


@dataclass(frozen=True)
class Comparison:
    """A paired comparison: n replicates, mean difference Δ (A − B) ± SE, margin, verdict."""

    n: int
    delta: float
    se: float
    half_width: float
    margin: float
    verdict: Verdict

    @property
    def resolved(self) -> bool:
        return self.verdict != Verdict.UNRESOLVED


def quantile(dof: float, looks: int = LOOKS, alpha: float = ALPHA) -> float:
    """Two-sided Student-t quantile at level 1 − alpha/looks (normal for infinite ``dof``);
    infinite for fewer than 1 degree of freedom."""
    from scipy.stats import norm, t  # imported on first use: scipy.stats is slow to import

    if not dof >= 1:
        return math.inf
    p = 1.0 - alpha / (2 * looks)
    return float(norm.ppf(p) if math.isinf(dof) else t.ppf(p, dof))


def decide(differences: np.ndarray, margin: float, looks: int = LOOKS) -> Comparison:
    """The three-way verdict of paired ``differences`` (A − B, lower is better) at ``margin``.

    NaN differences are dropped; fewer than two replicates are unresolved.
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    n = len(d)
    delta = float(d.mean()) if n else math.nan
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    half = quantile(n - 1, looks) * se if n > 1 else math.inf
    lo, hi = delta - half, delta + half
    if not n > 1 or not np.isfinite(half):
        verdict = Verdict.UNRESOLVED
    elif hi < -margin:
        verdict = Verdict.BETTER
    elif lo > margin:
        verdict = Verdict.WORSE
    elif -margin < lo and hi < margin:
        verdict = Verdict.EQUIVALENT
    else:
        verdict = Verdict.UNRESOLVED
    return Comparison(n, delta, se, half, margin, verdict)


def unresolved_jobs(comparisons) -> dict[str, set[str]]:
    """What another block of seeds should run: per experiment whose replicates are seeds, the
    estimators of its comparisons still unresolved ({} when every one is resolved).

    The VAE's comparisons also need the exact run of each new seed (their reference); the
    generalisability experiment reruns all its estimators (its gaps are taken to the best
    method of each seed, and its jobs are cheap).
    """
    open_ = comparisons[(comparisons.verdict == Verdict.UNRESOLVED)
                        & (comparisons.replicates == "seeds")]
    needed: dict[str, set[str]] = {}
    for line in open_.itertuples():
        needed.setdefault(line.experiment, set()).update((line.a, line.b))
    if "vae" in needed:
        needed["vae"].add("exact")
    if "generalisability" in needed:
        needed["generalisability"] = {"*"}
    return needed
