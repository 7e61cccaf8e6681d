"""Every job is a pure function of its config and seed: no global random state reaches a result.

A sample of jobs of every experiment (the estimators with their own random parts among them:
REBAR, RELAX's network, Stein) is run (a) in a fresh process, (b) in this process after other
jobs and with the global torch, NumPy and ``random`` states scrambled, and (c) through the CLI
with ``--jobs 1`` and ``--jobs 2``; the rows must agree bit for bit, timings excepted.
"""

from __future__ import annotations

import dataclasses
import math
import pickle
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import torch

from poissongrad.cli import main
from poissongrad.data.images import load_digits
from poissongrad.experiments import (
    fidelity,
    generalisability,
    gradients,
    grasshopper,
    poglm,
    pvae,
    retina,
)
from poissongrad.experiments.grids import SMOKE_RATES as RATES
from poissongrad.experiments.registry import EXPERIMENTS
from poissongrad.experiments.sweep import run_job
from poissongrad.models.pvae import PoissonVAE, vae_estimators
from poissongrad.registry import REGISTRY

#: Columns that measure time, not results.
TIMINGS = ("train_seconds", "seconds", "fit_seconds")


def _vae(estimator: str, tau: float, n: int = 1) -> pvae.VAEConfig:
    return pvae.VAEConfig(estimator, tau, 3, "digits", 4, epochs=2, batch_size=256,
                          eval_samples=1, n_samples=n)


#: (experiment, config): at least one job per experiment, every random part of a model.
SAMPLE = [
    ("fidelity", fidelity.FidelityConfig("eat_cubic", 0.3, RATES, 500, 1)),
    ("gradients", gradients.GradientConfig("relax_cubic", 0.3, RATES, batch=2,
                                           n_grad_samples=4, seed=1)),
    ("vae", _vae("relax_cubic", 0.3)),
    ("vae", _vae("rebar_cubic", 0.3)),
    ("vae", _vae("stein", 0.0, 2)),
    ("vae", _vae("gsm", 0.3)),
    ("generalisability", generalisability.GeneralisabilityConfig(
        "negative_binomial", 0.5, "eat_cubic", 0.3, 1, 1, epochs=1, hidden=8)),
    ("poglm", poglm.POGLMConfig("relax_cubic", 0.5, 2, 1, "paper", epochs=1)),
    ("grasshopper", grasshopper.GrasshopperConfig(1, "eat_cubic", 0.5, 1, epochs=1)),
    ("retina", retina.RetinaConfig(0, 1, "gsm", 0.5, 1, epochs=1)),
]


def _run(name: str, config) -> list[dict]:
    return run_job(EXPERIMENTS[name].run, config)[1]


def _scramble(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _comparable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMINGS} for row in rows]


def _same(a: object, b: object) -> bool:
    """Bit-for-bit equality of stored values (NaN equals NaN)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _assert_same_rows(a: list[dict], b: list[dict], what: str) -> None:
    a, b = _comparable(a), _comparable(b)
    assert len(a) == len(b), what
    for x, y in zip(a, b, strict=True):
        differing = [k for k in x if not _same(x[k], y.get(k))]
        assert not differing, f"{what}: {differing} differ"


FRESH = """
import pickle, sys
from poissongrad.experiments.grids import SMOKE_RATES as RATES
from poissongrad.experiments.registry import EXPERIMENTS
from poissongrad.experiments.sweep import run_job
name, config = pickle.loads(sys.stdin.buffer.read())
sys.stdout.buffer.write(pickle.dumps(run_job(EXPERIMENTS[name].run, config)[1]))
"""


def _fresh(job: tuple) -> list[dict]:
    done = subprocess.run([sys.executable, "-c", FRESH], input=pickle.dumps(job),
                          capture_output=True, check=True, timeout=600)
    return pickle.loads(done.stdout)


@pytest.fixture(scope="module")
def fresh_rows() -> list[list[dict]]:
    """Each sampled job's rows from a fresh process of its own (two processes at a time: a job
    runs on one thread, so they do not share cores)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(_fresh, SAMPLE))


def test_jobs_give_the_same_rows_in_a_fresh_process_and_after_other_jobs(fresh_rows):
    for (name, config), fresh in zip(reversed(SAMPLE), reversed(fresh_rows), strict=True):
        _scramble(12345)  # another job ran before, and the global states are elsewhere
        _run(*SAMPLE[0])
        _scramble(hash(name) % 2**31)
        _assert_same_rows(_run(name, config), fresh, f"{name} {config}")


def test_a_global_seed_does_not_reach_any_result():
    """The global generators drawn between two runs of the same job change nothing."""
    for name, config in SAMPLE:
        _scramble(1)
        first = _run(name, config)
        _scramble(2)
        torch.rand(1000)
        np.random.rand(10)
        _assert_same_rows(_run(name, config), first, f"{name} {config}")


@pytest.fixture
def sampled_grids(monkeypatch):
    """Every experiment's grid: its sampled jobs (for the CLI's worker processes)."""
    for name in EXPERIMENTS:
        configs = [c for n, c in SAMPLE if n == name]
        monkeypatch.setitem(EXPERIMENTS, name, dataclasses.replace(
            EXPERIMENTS[name], grid_configs=lambda grid, seed=0, _c=configs, **_: _c))


def _stored(out) -> dict[str, pd.DataFrame]:
    tables = {}
    for name in ("vae", "gradients", "poglm"):
        rows = pd.read_csv(out / name / "rows.csv")
        tables[name] = rows.drop(columns=[c for c in TIMINGS if c in rows]).sort_values(
            list(rows.columns[:3])).reset_index(drop=True)
    return tables


def test_one_worker_and_two_workers_store_the_same_rows(sampled_grids, tmp_path):
    for jobs in (1, 2):
        for name in ("vae", "gradients", "poglm"):
            assert main([name, "--out", str(tmp_path / str(jobs)), "--jobs", str(jobs),
                         "--no-progress"]) == 0
    one, two = _stored(tmp_path / "1"), _stored(tmp_path / "2")
    for name in one:
        pd.testing.assert_frame_equal(one[name], two[name], check_exact=True)



@pytest.mark.parametrize("estimator", vae_estimators())
def test_every_estimator_resumes_from_its_checkpoint_bit_for_bit(estimator, tmp_path):
    data = load_digits()
    record = REGISTRY[estimator]
    params = {"estimator": estimator, "temperature": 0.3 if record.uses_temperature else 0.0,
              "n_latents": 4, "epochs": 3, "batch_size": 512, "random_state": 5,
              "n_samples": max(record.min_samples, 2 if record.score_function else 1)}
    ckpt = tmp_path / "run.pt"
    _scramble(1)
    PoissonVAE(**params).fit(data.x_train, X_val=data.x_val, checkpoint=ckpt, stop_after_epoch=1)
    _scramble(2)
    resumed = PoissonVAE(**params).fit(data.x_train, X_val=data.x_val, checkpoint=ckpt)
    _scramble(3)
    straight = PoissonVAE(**params).fit(data.x_train, X_val=data.x_val)
    assert resumed.loss_curve_ == straight.loss_curve_
    assert resumed.validation_curve_ == straight.validation_curve_
    for a, b in zip(resumed.module_.state_dict().values(),
                    straight.module_.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    if record.learns_control:
        for a, b in zip(resumed.control_.state_dict().values(),
                        straight.control_.state_dict().values(), strict=True):
            assert torch.equal(a, b)
