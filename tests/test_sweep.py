"""Resumable sweeps: work done once, crash-safe, corrupt or foreign stores refused."""

import json
import os
from dataclasses import dataclass

import pandas as pd
import pytest

from poissongrad.experiments.sweep import ResultsError, RowStore, job_key, run_sweep


@dataclass(frozen=True)
class Toy:
    x: int


CALLS: list[int] = []
FAIL_AT: list[int] = []  # set to make the job with that x crash (outside the config)


def toy(config: Toy) -> list[dict]:
    if config.x in FAIL_AT:
        raise RuntimeError("simulated crash")
    CALLS.append(config.x)
    return [{"x": config.x, "y": config.x**2, "pid": os.getpid()}]


def _grid():
    return [Toy(x) for x in range(6)]


def _sorted(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.drop(columns="pid").sort_values("x").reset_index(drop=True)


def test_running_a_grid_twice_does_the_work_once(tmp_path):
    CALLS.clear()
    store = RowStore(tmp_path / "toy", "toy")
    first = run_sweep(toy, _grid(), store, progress=False)
    second = run_sweep(toy, _grid(), RowStore(tmp_path / "toy", "toy"), progress=False)
    assert sorted(CALLS) == list(range(6))
    assert len(first) == 6
    pd.testing.assert_frame_equal(_sorted(first), _sorted(second))


def test_a_crash_midway_keeps_finished_jobs_and_a_rerun_resumes(tmp_path):
    store = RowStore(tmp_path / "toy", "toy")
    FAIL_AT[:] = [3]
    try:
        with pytest.raises(RuntimeError, match="simulated crash"):
            run_sweep(toy, _grid(), store, progress=False)
    finally:
        FAIL_AT.clear()
    assert len(store.done()) == 3  # jobs 0, 1, 2 finished before the crash
    CALLS.clear()
    resumed = run_sweep(toy, _grid(), RowStore(tmp_path / "toy", "toy"), progress=False)
    assert sorted(CALLS) == [3, 4, 5]  # only the unfinished jobs ran again
    clean = run_sweep(toy, _grid(), RowStore(tmp_path / "clean", "toy"), progress=False)
    pd.testing.assert_frame_equal(_sorted(resumed), _sorted(clean))


def test_parallel_workers_give_the_same_rows(tmp_path):
    serial = run_sweep(toy, _grid(), RowStore(tmp_path / "a", "toy"), progress=False)
    parallel = run_sweep(toy, _grid(), RowStore(tmp_path / "b", "toy"), jobs=2, progress=False)
    pd.testing.assert_frame_equal(_sorted(serial), _sorted(parallel))


def test_a_corrupt_job_file_is_a_clear_error(tmp_path):
    store = RowStore(tmp_path / "toy", "toy")
    run_sweep(toy, _grid()[:2], store, progress=False)
    (store.jobs_dir / f"{job_key(Toy(0))}.json").write_text('{"rows": [tru')
    with pytest.raises(ResultsError, match="corrupt results file"):
        store.rows()


def test_a_store_of_another_experiment_is_refused(tmp_path):
    RowStore(tmp_path / "s", "fidelity")
    with pytest.raises(ResultsError, match="holds results of 'fidelity'"):
        RowStore(tmp_path / "s", "gradients")


def test_a_foreign_non_empty_directory_is_not_overwritten(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(ResultsError, match="not a results store"):
        RowStore(tmp_path / "mine", "toy")


def test_a_corrupt_manifest_is_a_clear_error(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "store.json").write_text("not json")
    with pytest.raises(ResultsError, match="corrupt"):
        RowStore(tmp_path / "s", "toy")


def test_job_files_are_complete_json(tmp_path):
    store = RowStore(tmp_path / "toy", "toy")
    run_sweep(toy, _grid()[:1], store, progress=False)
    (path,) = store.jobs_dir.glob("*.json")
    payload = json.loads(path.read_text())
    assert payload["config"] == {"x": 0} and payload["rows"][0]["y"] == 0
    assert not list(store.jobs_dir.glob("*.tmp"))


def test_rows_that_break_the_experiment_schema_are_refused_and_not_stored(tmp_path):
    from poissongrad.experiments.registry import EXPERIMENTS, SchemaError

    store = RowStore(tmp_path / "fidelity", "fidelity")
    with pytest.raises(SchemaError, match="lacks the schema columns"):
        run_sweep(
            toy, _grid()[:1], store, progress=False, check_rows=EXPERIMENTS["fidelity"].check_rows
        )
    assert store.done() == set()


def test_a_job_runs_with_one_thread_in_torch_and_in_numpys_blas():
    # Float reductions split work by thread count: a job's rows must not depend on where it runs.
    import torch
    from threadpoolctl import threadpool_info

    from poissongrad.experiments.sweep import JOB_THREADS, run_job

    def threads(_config):
        blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        return [{"torch": torch.get_num_threads(), "blas": blas}]

    before = torch.get_num_threads()
    _, (row,) = run_job(threads, {"x": 1})
    assert row["torch"] == JOB_THREADS and set(row["blas"]) <= {JOB_THREADS}
    assert torch.get_num_threads() == before
