"""Three-way verdicts on paired differences: the rule, its error rate, and what gets more seeds."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from poissongrad.cli import main
from poissongrad.experiments import pvae
from poissongrad.experiments.grids import SEED_BLOCK, block_seeds
from poissongrad.experiments.registry import EXPERIMENTS
from poissongrad.report.files import load_results
from poissongrad.report.rating import rate_methods
from poissongrad.report.verdicts import (
    ALPHA,
    LOOKS,
    MARGINS,
    Verdict,
    decide,
    quantile,
    unresolved_jobs,
)


def test_the_interval_uses_the_t_quantile_at_n_minus_one_degrees_of_freedom():
    d = np.array([0.3, 0.1, 0.2, 0.6])
    c = decide(d, margin=1.0)
    se = d.std(ddof=1) / 2
    assert c.n == 4 and c.delta == pytest.approx(0.3) and c.se == pytest.approx(se)
    assert c.half_width == pytest.approx(stats.t.ppf(1 - ALPHA / (2 * LOOKS), 3) * se)
    assert quantile(math.inf) == pytest.approx(stats.norm.ppf(1 - ALPHA / (2 * LOOKS)))
    assert quantile(0) == math.inf


@pytest.mark.parametrize(
    ("differences", "verdict"),
    [
        ([-2.0, -2.1, -1.9, -2.0], Verdict.BETTER),  # whole interval below −margin
        ([2.0, 2.1, 1.9, 2.0], Verdict.WORSE),
        ([0.01, -0.01, 0.02, 0.0], Verdict.EQUIVALENT),  # inside (−margin, margin)
        ([0.2, -0.3, 0.9, -0.8], Verdict.UNRESOLVED),  # straddles the margin
        ([-0.4, -0.7, -0.5, -0.65], Verdict.UNRESOLVED),  # crosses −margin only
        ([5.0], Verdict.UNRESOLVED),  # one replicate: no interval
        ([], Verdict.UNRESOLVED),
    ],
)
def test_the_three_way_rule(differences, verdict):
    assert decide(np.array(differences), margin=0.5).verdict == verdict


def test_nan_replicates_are_left_out():
    assert decide(np.array([1.0, np.nan, 1.1, 0.9]), margin=0.1).n == 3


def test_a_wrong_resolved_verdict_is_rarer_than_the_stated_rate():
    """Simulated sequential design (3 looks of 3 seeds) with the true Δ on the margin, where a
    resolved verdict that says 'better' or 'equivalent' is wrong: at most ALPHA/2."""
    rng = np.random.default_rng(0)
    trials, wrong = 4000, 0
    for _ in range(trials):
        d = rng.normal(-0.5, 1.0, 9)  # true Δ = −margin: neither better nor equivalent
        for look in range(1, LOOKS + 1):
            c = decide(d[: 3 * look], margin=0.5)
            if c.resolved:
                break
        wrong += c.verdict in (Verdict.BETTER, Verdict.EQUIVALENT)
    rate, se = wrong / trials, math.sqrt(0.05 * 0.95 / trials)
    assert rate <= ALPHA / 2 + 5 * se, rate


def test_every_margin_has_a_size_a_unit_and_a_reason():
    for margin in MARGINS.values():
        assert margin.size > 0 and margin.unit and len(margin.reason) > 20
    assert MARGINS["vae_gap"].of(-200.0) == pytest.approx(1.0)  # relative: 0.5 % of |ELBO|
    assert MARGINS["variance"].of(-200.0) == pytest.approx(math.log(2))


def test_more_seeds_go_only_to_the_jobs_of_unresolved_seed_comparisons():
    comparisons = pd.DataFrame(
        [
            ("vae", "seeds", "gsm", "eat_cubic", Verdict.UNRESOLVED),
            ("vae", "seeds", "eat_sigmoid", "eat_cubic", Verdict.WORSE),
            ("generalisability", "seeds", "gsm", "eat_cubic", Verdict.EQUIVALENT),
            ("gradients", "(rate, τ) cells", "gsm", "eat_sigmoid", Verdict.UNRESOLVED),
        ],
        columns=["experiment", "replicates", "a", "b", "verdict"],
    )
    assert unresolved_jobs(comparisons) == {"vae": {"gsm", "eat_cubic", "exact"}}
    comparisons.loc[2, "verdict"] = Verdict.UNRESOLVED
    assert unresolved_jobs(comparisons)["generalisability"] == {"*"}
    assert unresolved_jobs(comparisons.iloc[[1]]) == {}


def _small_vae(grid, seed=0, dataset="digits"):
    return [
        pvae.VAEConfig(e, t, s, "digits", 4, epochs=2, batch_size=512, eval_samples=1)
        for s in block_seeds(seed)
        for e, t in (("eat_cubic", 0.3), ("eat_sigmoid", 0.3), ("gsm", 0.3), ("exact", 0.0))
    ]


@pytest.fixture
def small_guide(monkeypatch):
    """A guide of the VAE alone, on a small grid with the paper's three methods and exact."""
    vae = dataclasses.replace(EXPERIMENTS["vae"], grid_configs=_small_vae)
    for name in list(EXPERIMENTS):
        monkeypatch.delitem(EXPERIMENTS, name)
    monkeypatch.setitem(EXPERIMENTS, "vae", vae)


@pytest.mark.slow
def test_guides_on_disjoint_seeds_agree_on_every_verdict_both_resolve(small_guide, tmp_path):
    tables = {}
    for seed in (0, 1000):
        out = tmp_path / str(seed)
        assert main(["guide", "--seed", str(seed), "--out", str(out), "--no-progress"]) == 0
        meta = json.loads((out / "guide.json").read_text())
        assert meta["seed"] == seed
        rows = pd.read_csv(out / "vae" / "rows.csv")
        assert rows.seed.min() == seed and rows.seed.max() < seed + LOOKS * SEED_BLOCK
        added = {b["seed"] for b in meta["seed_blocks_added"]}
        assert set(rows.seed) == {*block_seeds(seed), *(s + i for s in added
                                                         for i in range(SEED_BLOCK))}
        tables[seed] = rate_methods(load_results(out)).attrs["comparisons"]
    merged = tables[0].merge(tables[1000], on=["statement", "a", "b"], suffixes=("_0", "_1"))
    both = merged[(merged.verdict_0 != Verdict.UNRESOLVED)
                  & (merged.verdict_1 != Verdict.UNRESOLVED)]
    assert (both.verdict_0 == both.verdict_1).all(), both
    assert "The verdicts behind the recommendations" in (tmp_path / "0" / "report.md").read_text()
