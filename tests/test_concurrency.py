"""Several processes writing the same cache entry, store or results folder at once.

Each test starts its workers behind a barrier (so they write within microseconds), from
an empty directory, as a fresh machine's first ``make demo`` does; every worker must succeed and
leave one valid file, and no temporary file may stay behind.
"""

import json
import multiprocessing as mp
from pathlib import Path

import numpy as np

from poissongrad.data.images import load_patches
from poissongrad.experiments.sweep import RowStore, job_key

WORKERS = 3
# Spawned, not forked: forking a process that already runs torch's thread pools can deadlock.
_spawn = mp.get_context("spawn")


def _work(target, barrier, results, i: int, args: tuple) -> None:
    try:
        results.put((i, target(barrier, *args)))
    except BaseException as err:  # reported, so the test fails with the worker's error
        results.put((i, f"{type(err).__name__}: {err}"))


def _together(target, *args) -> list:
    """Run ``target(barrier, *args)`` in WORKERS processes at once; their results in order."""
    barrier, results = _spawn.Barrier(WORKERS), _spawn.Queue()
    workers = [
        _spawn.Process(target=_work, args=(target, barrier, results, i, args))
        for i in range(WORKERS)
    ]
    for w in workers:
        w.start()
    out = dict(results.get(timeout=300) for _ in workers)
    for w in workers:
        w.join(timeout=60)
    return [out[i] for i in range(WORKERS)]


def _build_patches(barrier, cache: str) -> tuple[int, float]:
    import os

    os.environ["POISSONGRAD_CACHE"] = cache
    barrier.wait()
    data = load_patches(n=400, cache=True)
    return data.x_train.shape[0], float(data.x_train.sum())


def test_workers_building_the_same_patch_cache_entry_all_succeed(tmp_path):
    cache = tmp_path / "cache"  # empty: nobody has built it yet
    results = _together(_build_patches, str(cache))
    assert len(set(results)) == 1  # everyone got the same data
    files = sorted(p.name for p in cache.iterdir())
    assert files == ["patches_n400_s16_v0.1_seed0.npz"]  # one file, no temporaries left
    with np.load(cache / files[0]) as f:
        assert f["x_train"].shape == (360, 256)


def test_a_planted_or_truncated_cache_entry_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("POISSONGRAD_CACHE", str(tmp_path))
    good = load_patches(n=400)
    path = tmp_path / "patches_n400_s16_v0.1_seed0.npz"
    np.savez(path, x_train=good.x_train[:3], x_val=good.x_val[:3])  # a planted 3-row file
    assert load_patches(n=400).x_train.shape == (360, 256)
    path.write_bytes(path.read_bytes()[:100])  # truncated
    np.testing.assert_array_equal(load_patches(n=400).x_train, good.x_train)


def _write_store(barrier, directory: str, worker_rows: list) -> str:
    barrier.wait()
    store = RowStore(directory, "fidelity")  # several creators of one new store
    store.write(KEY, {"x": 1}, worker_rows)
    store.select([KEY], {"grid": "quick"})
    return "ok"


KEY = job_key({"x": 1})


def test_workers_creating_and_writing_the_same_store_all_succeed(tmp_path):
    directory = tmp_path / "store"
    rows = [{"estimator": "eat_cubic", "w1": 0.5}]
    assert _together(_write_store, str(directory), rows) == ["ok"] * WORKERS
    names = sorted(p.name for p in directory.rglob("*"))
    assert names == [f"{KEY}.json", "jobs", "selection.json", "store.json"]
    store = RowStore(directory, "fidelity")
    assert store.rows([KEY]).to_dict("records") == rows
    assert json.loads((directory / "store.json").read_text())["experiment"] == "fidelity"


def _run_fidelity(barrier, out: str, grid) -> int:
    import dataclasses

    from poissongrad.cli import main
    from poissongrad.experiments.registry import EXPERIMENTS

    EXPERIMENTS["fidelity"] = dataclasses.replace(EXPERIMENTS["fidelity"], grid_configs=grid)
    barrier.wait()
    return main(["fidelity", "--out", out, "--no-progress"]) or main(["report", out])


def _tiny_fidelity_grid(grid, seed=0, **options):
    from poissongrad.experiments.fidelity import FidelityConfig

    return [
        FidelityConfig(estimator=e, temperature=0.5, rates=(1.0, 5.0), n_samples=200, seed=seed)
        for e in ("eat_cubic", "gsm")
    ]


def test_two_runs_on_one_out_leave_one_valid_store_and_report(tmp_path):
    out = tmp_path / "results"
    codes = _together(_run_fidelity, str(out), _tiny_fidelity_grid)
    assert codes == [0] * WORKERS  # the job store is shared safely: nobody is refused
    store = RowStore(out / "fidelity", "fidelity")
    keys, _ = store.selection()
    rows = store.rows(keys)
    assert len(rows) and set(rows.estimator) == {"eat_cubic", "gsm"}
    assert not [p for p in Path(out).rglob("*") if ".tmp" in p.name]
    assert (out / "report.md").read_text().startswith("<!-- poissongrad-guide sha256=")
