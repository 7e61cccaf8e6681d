"""The ``poissongrad`` command: one subcommand per experiment, the guide, and the report.

    poissongrad guide --scale quick --out results     # everything, then results/report.html
    poissongrad guide --scale smoke --out /tmp/smoke   # every step in about a minute
    poissongrad guide --seed 1000 --out other          # the same on a disjoint set of seeds
    poissongrad fidelity --scale paper --out results --jobs 2
    poissongrad guide --config grids.toml --out custom  # grids changed by a TOML file
    poissongrad report results                        # rebuild the report from stored rows
    poissongrad guide --scale paper --out results --shard 3/8   # one of 8 scheduler tasks

Each experiment stores its rows under ``OUT/<experiment>/`` (resumable: rerunning skips finished
jobs), writes ``rows.csv`` and PNG figures there, and prints a summary table. Subcommands and
report sections come from :data:`poissongrad.experiments.registry.EXPERIMENTS`. Errors about
results and arguments are one line on stderr (exit 2); Ctrl-C exits 130 and keeps every
finished job.

``--shard I/N`` (0 ≤ I < N) runs only the jobs at positions I, I + N, I + 2N, … of each grid
(disjoint across shards, keyed by their whole config as always), for the tasks of a SLURM array
or any scheduler sharing one ``--out``; a shard records the whole grid as the run's selection
but writes no table, figures or report. When every shard has finished, ``poissongrad report
OUT`` merges them (it reads the selection, writes each ``rows.csv``, the figures and the
report), and rerunning any shard, or the whole command, resumes missing jobs.

``--scale`` names the grid (``--grid``, its old spelling, still works); ``--config FILE``
changes grids from a TOML file (:mod:`poissongrad.experiments.overrides`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from poissongrad import __version__
from poissongrad.experiments.grids import GRIDS, SEED_BLOCK
from poissongrad.experiments.overrides import ConfigError, apply_overrides, load_overrides
from poissongrad.experiments.registry import EXPERIMENTS, SchemaError, get_experiment
from poissongrad.experiments.sweep import Jobs, ResultsError, RowStore, run_sweep, write_csv
from poissongrad.report.files import check_outputs_are_ours, load_results, write_guide_meta
from poissongrad.report.rating import rate_methods
from poissongrad.report.verdicts import LOOKS, unresolved_jobs
from poissongrad.report.writer import write_report

__all__ = [
    "add_seed_block",
    "build_parser",
    "grid_configs",
    "main",
    "parse_shard",
    "run_experiment",
    "run_guide",
]

#: The first line of ``poissongrad --help`` (a constant: docstrings are gone under -OO).
DESCRIPTION = "The poissongrad command: one subcommand per experiment, the guide, and the report."


def run_experiment(
    name: str,
    out: Path,
    grid: str = "quick",
    seed: int = 0,
    jobs: int = 1,
    ray_address: str | None = None,
    progress: bool = True,
    shard: tuple[int, int] | None = None,
    overrides: dict[str, Any] | None = None,
    **options: str,
) -> pd.DataFrame:
    """Run (or resume) one experiment's grid; write rows.csv and figures; return the rows.

    ``options`` are the experiment's extra options (e.g. ``dataset`` for ``vae``);
    ``overrides`` its table of a ``--config`` file (:func:`grid_configs`). The jobs of
    this grid are recorded as the store's selection, so the report uses exactly these rows.
    With ``shard=(i, n)`` only the jobs at positions ≡ i (mod n) of the grid run, and the rows
    of those jobs are returned (no table or figures: other shards may still be running).
    """
    exp = get_experiment(name)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ResultsError(f"--out {out} is a file, not a directory")
    store = RowStore(out / name, name)
    every = Jobs(grid_configs(name, grid, seed, overrides, **options))
    keys = list(every)
    description = {"grid": grid, "seed": seed, **options}
    if overrides:
        description["overrides"] = overrides
    mine = every if shard is None else Jobs()
    if shard is not None:
        mine.update((k, every[k]) for k in keys[shard[0] :: shard[1]])
    rows = run_sweep(exp.run, mine, store, jobs, ray_address, progress, exp.check_rows)
    store.select(keys, description)
    if shard is not None:
        return rows
    write_csv(rows, store.directory / "rows.csv")
    exp.figures(rows, store.directory)
    return rows


def grid_configs(
    name: str, grid: str, seed: int, overrides: dict[str, Any] | None = None, **options: str
) -> list[Any]:
    """The configs of experiment ``name``'s ``grid`` from base ``seed``, with its table of a
    ``--config`` file applied (:func:`~poissongrad.experiments.overrides.apply_overrides`)."""
    configs = get_experiment(name).configs(grid, seed=seed, **options)
    return apply_overrides(configs, overrides or {}, f"--config [{name}]")


def add_seed_block(
    name: str,
    out: Path,
    grid: str,
    seed: int,
    estimators: set[str],
    jobs: int = 1,
    ray_address: str | None = None,
    progress: bool = True,
    overrides: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Run the block of seeds starting at ``seed`` of an experiment's grid for ``estimators``
    only ({"*"}: all) and add its jobs to the recorded run; return every selected row. The
    report written afterwards rewrites rows.csv and the figures from the whole selection."""
    exp = get_experiment(name)
    store = RowStore(out / name, name)
    keys, description = store.selection()
    block = Jobs(
        c
        for c in grid_configs(name, grid, seed, overrides)
        if "*" in estimators or getattr(c, "estimator", None) in estimators
    )
    run_sweep(exp.run, block, store, jobs, ray_address, progress, exp.check_rows)
    keys = list(dict.fromkeys([*(keys or []), *block]))
    blocks = [*description.get("seed_blocks", [description.get("seed", 0)]), seed]
    store.select(keys, {**description, "seed_blocks": blocks})
    return store.rows(keys)


def run_guide(
    out: Path,
    scale: str = "quick",
    jobs: int = 2,
    ray_address: str | None = None,
    progress: bool = True,
    shard: tuple[int, int] | None = None,
    seed: int = 0,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> tuple[Path, Path] | None:
    """Run every experiment at ``scale`` from base seed ``seed``, add blocks of seeds where a
    verdict is unresolved, then write ``report.md`` and ``report.html``.

    The first block of seeds runs every job. Then (not at the ``smoke`` scale, which checks
    that every step runs), up to ``LOOKS`` blocks in all
    (:mod:`poissongrad.report.verdicts`), each next block (seeds ``seed + b·SEED_BLOCK``
    onwards) runs only the jobs of the paired comparisons still unresolved
    (:func:`~poissongrad.report.verdicts.unresolved_jobs`). ``ResultsError`` before any work
    if ``out`` is a file or holds a report or guide.json that poissongrad did not write. With
    ``shard``, only that shard's jobs of the first block run and nothing else is written
    (returns None): ``poissongrad report`` merges the shards, without further blocks.
    ``overrides``: the tables of a ``--config`` file by experiment, all checked before any
    work (:class:`~poissongrad.experiments.overrides.ConfigError`).
    """
    out = Path(out)
    check_outputs_are_ours(out)
    overrides = overrides or {}
    for name, table in overrides.items():
        grid_configs(name, scale, seed, table)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    for name in EXPERIMENTS:
        t0 = time.perf_counter()
        run_experiment(
            name, out, scale, seed, jobs, ray_address, progress, shard, overrides.get(name)
        )
        timings[name] = time.perf_counter() - t0
        if progress:
            print(f"{name}: {timings[name]:.1f} s", file=sys.stderr)
    if shard is not None:
        return None
    added: list[dict] = []
    looks = 1 if scale == "smoke" else LOOKS  # a smoke run checks the steps, not the verdicts
    for block in range(1, looks):
        needed = unresolved_jobs(rate_methods(load_results(out)).attrs["comparisons"])
        if not needed:
            break
        block_seed = seed + block * SEED_BLOCK
        for name, estimators in needed.items():
            t0 = time.perf_counter()
            add_seed_block(
                name, out, scale, block_seed, estimators, jobs, ray_address, progress,
                overrides.get(name),
            )
            timings[name] += time.perf_counter() - t0
            added.append({"experiment": name, "seed": block_seed, "estimators": sorted(estimators)})
            if progress:
                print(f"{name}, seeds from {block_seed}: {time.perf_counter() - t0:.1f} s",
                      file=sys.stderr)
    meta = {
        "scale": scale,
        "seed": seed,
        "overrides": overrides,
        "seed_blocks_added": added,
        "jobs": jobs,
        "ray_address": ray_address,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": timings,
        "wall_seconds": time.perf_counter() - started,
    }
    write_guide_meta(out, meta)
    return write_report(out)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' → (I, N) with 0 ≤ I < N; ``argparse.ArgumentTypeError`` otherwise."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N (e.g. 0/4), got {text!r}") from None
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"need 0 <= I < N, got {text!r}")
    return index, count


def _add_common(parser: argparse.ArgumentParser, default_jobs: int = 1) -> None:
    parser.add_argument(
        "--scale",
        "--grid",  # the experiments' old spelling
        dest="scale",
        choices=list(GRIDS),
        default="quick",
        help="smoke (seconds: every step runs, the numbers mean nothing), quick (minutes) or "
        "the paper's full grids (default: quick); --grid is the same",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="a TOML file that changes the grids: one table per experiment, its settings as "
        "keys (a list runs each value)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("results"), help="results directory (default: results)"
    )
    parser.add_argument(
        "--jobs",
        type=_positive_int,
        default=default_jobs,
        help=f"parallel worker processes, >= 1 (default: {default_jobs})",
    )
    parser.add_argument(
        "--ray-address", default=None, help="run jobs on Ray: 'auto', 'local' or a cluster address"
    )
    parser.add_argument(
        "--shard",
        type=parse_shard,
        default=None,
        metavar="I/N",
        help="run only shard I of N (0 <= I < N) of every grid, e.g. a SLURM array task; "
        "then 'poissongrad report OUT' merges the shards",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: ``guide``, ``report`` and one subcommand per registered experiment."""
    parser = argparse.ArgumentParser(prog="poissongrad", description=DESCRIPTION)
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    guide = sub.add_parser(
        "guide",
        help="run every experiment and write the report (the main job)",
        description="Run every experiment, then write OUT/report.html and OUT/report.md with "
        "figures and the method-rating table.",
    )
    _add_common(guide, default_jobs=2)
    guide.add_argument(
        "--seed",
        type=int,
        default=0,
        help="base random seed: blocks of seeds start there (default: 0); guides of disjoint "
        "seed sets check each other's verdicts",
    )
    report = sub.add_parser(
        "report", help="rebuild the report from stored rows", description="Rebuild the report."
    )
    report.add_argument("out", type=Path, help="results directory of an earlier run")
    for name, exp in EXPERIMENTS.items():
        command = sub.add_parser(name, help=exp.help, description=exp.help)
        _add_common(command)
        command.add_argument("--seed", type=int, default=0, help="base random seed (default: 0)")
        for option in exp.options:
            command.add_argument(
                f"--{option.name}",
                default=option.default,
                choices=option.choices,
                help=f"{option.help} (default: {option.default})",
            )
    return parser


def _run(args: argparse.Namespace, start: float) -> int:
    config = getattr(args, "config", None)
    overrides = {} if config is None else load_overrides(config, EXPERIMENTS)
    if args.command == "guide":
        paths = run_guide(
            args.out,
            args.scale,
            args.jobs,
            args.ray_address,
            not args.no_progress,
            args.shard,
            args.seed,
            overrides,
        )
        if paths is None:
            print(f"shard {args.shard[0]}/{args.shard[1]} done ({time.perf_counter() - start:.0f}"
                  f" s); when every shard has finished: poissongrad report {args.out}")
        else:
            print(f"wrote {paths[1]} and {paths[0]} ({time.perf_counter() - start:.0f} s)")
        return 0
    if args.command == "report":
        if not args.out.is_dir():
            raise ResultsError(f"{args.out} is not a results directory")
        paths = write_report(args.out)
        print(f"wrote {paths[1]} and {paths[0]}")
        return 0
    exp = EXPERIMENTS[args.command]
    options = {o.name: getattr(args, o.name) for o in exp.options}
    rows = run_experiment(
        args.command,
        args.out,
        args.scale,
        args.seed,
        args.jobs,
        args.ray_address,
        not args.no_progress,
        args.shard,
        overrides.get(args.command),
        **options,
    )
    if args.shard is not None:
        print(f"{len(rows)} rows of shard {args.shard[0]}/{args.shard[1]} in "
              f"{args.out / args.command}; when every shard has finished: poissongrad report "
              f"{args.out}")
        return 0
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        print(exp.summary(rows).to_string())
    print(f"{len(rows)} rows in {args.out / args.command} ({time.perf_counter() - start:.1f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``poissongrad`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        return _run(args, start)
    except (ResultsError, SchemaError, ConfigError) as err:
        if os.environ.get("POISSONGRAD_TRACEBACK") == "1":
            traceback.print_exception(err)
        print(f"poissongrad: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a read-only or full --out, a missing folder: one line, no trace
        where = f" ({err.filename})" if err.filename else ""
        print(f"poissongrad: error: cannot write the results{where}: {err.strerror or err}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        out = getattr(args, "out", "the results directory")
        print(
            f"poissongrad: interrupted; finished jobs are kept in {out}: rerun the same command "
            "to resume",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
