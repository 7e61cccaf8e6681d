"""Resumable sweeps: run the jobs of a grid, store each job's rows atomically, skip stored jobs.

A store is a directory: ``store.json`` names the experiment and format; ``jobs/<key>.json`` holds
one finished job (its config and rows), keyed by a hash of the whole config and written to a
temporary file and renamed into place, so a crash loses at most the jobs in flight and a rerun
resumes. ``selection.json`` lists the jobs of the last grid run into the store, so that rows of
other seeds or configs kept there are never pooled with it silently. A store of another
experiment or format, or a corrupt job file, raises :class:`ResultsError` instead of being
overwritten.

Jobs run in this process (``jobs=1``), in joblib worker processes (``jobs>1``), or on a Ray
cluster (``ray_address``; needs the optional ``cluster`` extra).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from poissongrad.utils.atomic import atomic_write
from poissongrad.utils.hashing import as_dict, stable_key

__all__ = [
    "JobError",
    "JOB_THREADS",
    "ResultsError",
    "RowStore",
    "Jobs",
    "job_key",
    "run_job",
    "run_sweep",
    "write_csv",
]

FORMAT = "poissongrad-rows"
#: Version 2: rows say ``estimator`` (not ``method``) and ``uses_temperature``.
VERSION = 2

Rows = list[dict[str, Any]]


class ResultsError(RuntimeError):
    """A results store that is missing, corrupt, or belongs to something else."""


class JobError(ResultsError):
    """A job that raised: one line with the job's key and the error; the traceback is its
    ``__cause__`` (shown by ``POISSONGRAD_TRACEBACK=1 poissongrad …``)."""


job_key = stable_key


class Jobs(dict):
    """Configs by job key, in their first order, each key computed once (duplicates merged).

    Examples
    --------
    >>> jobs = Jobs([{"x": 1}, {"x": 2}, {"x": 1}])
    >>> len(jobs), list(jobs.values())
    (2, [{'x': 1}, {'x': 2}])
    """

    def __init__(self, configs: Iterable[Any] = ()) -> None:
        super().__init__((job_key(c), c) for c in configs)

#: A job key: the 20 hex digits of :func:`poissongrad.utils.hashing.stable_key`.
_KEY = re.compile(r"[0-9a-f]{20}")


class RowStore:
    """The stored rows of one experiment in ``directory`` (created if missing)."""

    def __init__(self, directory: str | Path, experiment: str) -> None:
        self.directory = Path(directory)
        self.experiment = experiment
        self.jobs_dir = self.directory / "jobs"
        manifest = self.directory / "store.json"
        if manifest.exists():
            try:
                meta = json.loads(manifest.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                meta = {"format": FORMAT, "version": VERSION, "experiment": experiment}
                raise ResultsError(
                    f"{manifest} is corrupt ({err}); if this folder holds {experiment} results, "
                    f"write {json.dumps(meta)} into it to recover every finished job"
                ) from None
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise ResultsError(f"{manifest} is not a poissongrad results store")
            if meta.get("experiment") != experiment:
                raise ResultsError(
                    f"{self.directory} holds results of {meta.get('experiment')!r}, "
                    f"not {experiment!r}; choose another --out"
                )
            if meta.get("version") != VERSION:
                raise ResultsError(
                    f"{manifest} has format version {meta.get('version')}, this poissongrad "
                    f"reads version {VERSION}; choose another --out"
                )
        else:
            self._create(manifest)
        self.jobs_dir.mkdir(exist_ok=True)

    def _create(self, manifest: Path) -> None:
        """Make a new store; another process creating the same store at once is no error."""
        # Our own temporary files (".store.json.*.tmp", a concurrent creator's) are not the
        # user's: only other names make the folder foreign.
        def foreign() -> list[str]:
            names = (p.name for p in self.directory.iterdir()) if self.directory.exists() else ()
            return sorted(n for n in names if not (n.startswith(".store.json.") or n == "jobs"))

        stray = foreign()
        if stray and not manifest.exists():
            raise ResultsError(
                f"{self.directory} is not empty and not a results store ({stray[:5]}); "
                "refusing to write into it"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "version": VERSION, "experiment": self.experiment}
        atomic_write(manifest, json.dumps(meta))

    def done(self) -> set[str]:
        """Keys of the jobs already stored."""
        return {p.stem for p in self.jobs_dir.glob("*.json")}

    def write(self, key: str, config: Any, rows: Rows) -> None:
        """Store one finished job atomically."""
        payload = {"experiment": self.experiment, "config": as_dict(config), "rows": rows}
        atomic_write(self.jobs_dir / f"{key}.json", json.dumps(payload, default=float))

    def rows(self, keys: Iterable[str] | None = None) -> pd.DataFrame:
        """Stored rows as one table: of the jobs ``keys`` in that order, or of all jobs."""
        if keys is None:
            paths = sorted(self.jobs_dir.glob("*.json"))
        else:
            paths = [self.jobs_dir / f"{key}.json" for key in keys]
        frames: Rows = []
        for path in paths:
            try:
                payload = json.loads(path.read_text())
                rows, config = payload["rows"], payload["config"]
                if payload["experiment"] != self.experiment or not isinstance(rows, list):
                    raise ValueError("not a job of this experiment")
                if job_key(config) != path.stem:
                    raise ValueError("it holds another job's config (copied or edited)")
                for row in rows:
                    if not isinstance(row, dict) or any(
                        k in row and row[k] != v for k, v in config.items()
                    ):
                        raise ValueError("a row's config fields differ from the job's config")
            except FileNotFoundError:
                raise ResultsError(
                    f"results file {path} is missing; rerun the same command to redo that job"
                ) from None
            except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise ResultsError(
                    f"corrupt results file {path} ({type(e).__name__}: {e}); to recover, move "
                    "that one file away and rerun the same command: the other finished jobs "
                    "are kept and only this job runs again"
                ) from None
            frames.extend(rows)
        return pd.DataFrame(frames)

    def select(self, keys: list[str], description: dict[str, Any]) -> None:
        """Record ``keys`` (and what run they are, e.g. grid and seed) as the current selection."""
        payload = {"experiment": self.experiment, "run": description, "keys": keys}
        atomic_write(self.directory / "selection.json", json.dumps(payload, indent=1))

    def selection(self) -> tuple[list[str] | None, dict[str, Any]]:
        """(keys, run description) of the last recorded selection; (None, {}) if none."""
        path = self.directory / "selection.json"
        if not path.exists():
            return None, {}
        try:
            payload = json.loads(path.read_text())
            keys = payload["keys"]
            if not isinstance(keys, list):
                raise TypeError("keys is not a list")
            bad = [k for k in keys if not (isinstance(k, str) and _KEY.fullmatch(k))]
            if bad:  # keys name files: never let one point outside the store
                raise ValueError(f"{bad[:3]} are not job keys (20 hex digits)")
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as e:
            raise ResultsError(
                f"{path} is corrupt ({e}); move it away and rerun the experiment's command "
                "(finished jobs are kept)"
            ) from None
        return keys, payload.get("run", {})


#: Threads every job runs with, wherever it runs: float reductions (a matrix product, a sum)
#: split their work by the thread count, so a job's numbers would otherwise depend on --jobs.
JOB_THREADS = 1


def run_job(fn: Callable[[Any], Rows], config: Any, key: str | None = None) -> tuple[str, Rows]:
    """(job key, ``fn(config)``) computed with :data:`JOB_THREADS` threads in torch and in
    NumPy's BLAS and OpenMP pools (threadpoolctl; all restored afterwards), so that a job's
    rows are the same in this process, a worker or on Ray: a ridge readout through NumPy's BLAS
    on 2 threads differed from a worker's in the last bit. ``key``: the config's job key when
    the caller already has it."""
    import torch
    from threadpoolctl import threadpool_limits

    key = job_key(config) if key is None else key
    before = torch.get_num_threads()
    torch.set_num_threads(JOB_THREADS)
    try:
        with threadpool_limits(limits=JOB_THREADS):
            return key, fn(config)
    except Exception as err:
        message = " ".join(str(err).split()) or "(no message)"
        raise JobError(
            f"job {key} failed: {type(err).__name__}: {message}; finished jobs are kept, rerun "
            "the same command to retry"
        ) from err
    finally:
        torch.set_num_threads(before)


def _execute(
    fn: Callable[[Any], Rows], todo: Jobs, jobs: int, ray_address: str | None
) -> Iterator[tuple[str, Rows]]:
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if ray_address is not None:
        yield from _execute_ray(fn, todo, ray_address)
    elif jobs == 1:
        for key, config in todo.items():
            yield run_job(fn, config, key)
    else:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=jobs, return_as="generator_unordered")
        yield from parallel(delayed(run_job)(fn, config, key) for key, config in todo.items())


def _execute_ray(fn: Callable[[Any], Rows], todo: Jobs, address: str) -> Iterator[tuple[str, Rows]]:
    try:
        import ray
    except ImportError:
        raise ResultsError("--ray-address needs Ray: pip install 'poissongrad[cluster]'") from None
    if not ray.is_initialized():
        ray.init(address=None if address == "local" else address, log_to_driver=False)
    remote = ray.remote(run_job)
    pending = [remote.remote(fn, config, key) for key, config in todo.items()]
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        yield ray.get(ready[0])


def run_sweep(
    fn: Callable[[Any], Rows],
    configs: Jobs | Iterable[Any],
    store: RowStore,
    jobs: int = 1,
    ray_address: str | None = None,
    progress: bool = True,
    check_rows: Callable[[Rows], Rows] | None = None,
) -> pd.DataFrame:
    """Run every config not yet in ``store`` and return all stored rows.

    Args:
        fn: the experiment, ``config → rows`` (pure, seeded, importable for worker processes).
        configs: the grid, as dataclass instances (or dicts), or as :class:`Jobs`.
        store: where finished jobs are kept.
        jobs: worker processes for joblib (1 runs in this process).
        ray_address: run on Ray instead (``"auto"``, ``"local"`` or a cluster address).
        progress: show a progress bar.
        check_rows: validates a job's rows before they are stored (e.g. the experiment's
            schema); its exception propagates and nothing of that job is written.

    Returns:
        The rows of ``configs``, in their order (other jobs of the store are left out).
    """
    every = configs if isinstance(configs, Jobs) else Jobs(configs)
    done = store.done()
    todo = Jobs()
    todo.update((key, c) for key, c in every.items() if key not in done)
    with tqdm(
        total=len(every),
        initial=len(every) - len(todo),
        disable=not progress,
        desc=store.experiment,
        leave=False,
    ) as bar:
        for key, rows in _execute(fn, todo, jobs, ray_address):
            if check_rows is not None:
                check_rows(rows)
            store.write(key, todo[key], rows)
            bar.update(1)
    return store.rows(list(every))


def write_csv(rows: pd.DataFrame, path: str | Path) -> None:
    """Write a table as CSV atomically (temporary file, then rename)."""
    atomic_write(Path(path), rows.to_csv(index=False))
