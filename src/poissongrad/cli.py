"""The ``poissongrad`` command: one subcommand per experiment, the guide, and the report.

    poissongrad guide --scale quick --out results     # everything, then results/report.html
    poissongrad fidelity --grid paper --out results --jobs 2
    poissongrad report results                        # rebuild the report from stored rows

Each experiment stores its rows under ``OUT/<experiment>/`` (resumable: rerunning skips finished
jobs), writes ``rows.csv`` and PNG figures there, and prints a summary table.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pandas as pd

from poissongrad.experiments import fidelity, gradients, poglm, pvae
from poissongrad.experiments.sweep import ResultsError, RowStore, run_sweep, write_csv
from poissongrad.report.sections import SECTIONS
from poissongrad.report.writer import write_guide_meta, write_report

__all__ = ["main", "EXPERIMENTS", "run_experiment", "run_guide"]


@dataclass(frozen=True)
class Experiment:
    module: ModuleType
    help: str
    #: extra command-line options, (name, default, choices), passed on to ``grid_configs``
    options: tuple[tuple[str, str, tuple[str, ...]], ...] = ()


EXPERIMENTS: dict[str, Experiment] = {
    "fidelity": Experiment(
        fidelity, "distributional fidelity of relaxed samples (moment ratios, W1, W2, KL)"
    ),
    "gradients": Experiment(
        gradients, "gradient quality against exact gradients on a linear decoder"
    ),
    "vae": Experiment(
        pvae,
        "Poisson VAE: temperature robustness of every gradient method (held-out ELBO)",
        (("dataset", "digits", ("digits", "patches")),),
    ),
    "poglm": Experiment(
        poglm,
        "partially observable GLM: hidden neurons and connectivity from spike trains",
        (("setting", "paper", ("paper", "large")),),
    ),
}


def run_experiment(
    name: str,
    out: Path,
    grid: str = "quick",
    seed: int = 0,
    jobs: int = 1,
    ray_address: str | None = None,
    progress: bool = True,
    **options: str,
) -> pd.DataFrame:
    """Run (or resume) one experiment's grid; write rows.csv and figures; return the rows.

    ``options`` are the experiment's extra options (e.g. ``dataset`` for ``vae``).
    """
    exp = EXPERIMENTS[name]
    store = RowStore(out / name, exp.module.EXPERIMENT)
    configs = exp.module.grid_configs(grid, seed=seed, **options)
    rows = run_sweep(exp.module.run, configs, store, jobs, ray_address, progress)
    write_csv(rows, store.directory / "rows.csv")
    SECTIONS[name].figures(rows, store.directory)
    return rows


def run_guide(
    out: Path,
    scale: str = "quick",
    jobs: int = 2,
    ray_address: str | None = None,
    progress: bool = True,
) -> tuple[Path, Path]:
    """Run every experiment at ``scale``, then write ``report.md`` and ``report.html``."""
    started = time.perf_counter()
    timings = {}
    for name in EXPERIMENTS:
        t0 = time.perf_counter()
        run_experiment(name, out, scale, 0, jobs, ray_address, progress)
        timings[name] = time.perf_counter() - t0
        if progress:
            print(f"{name}: {timings[name]:.1f} s", file=sys.stderr)
    meta = {
        "scale": scale,
        "jobs": jobs,
        "ray_address": ray_address,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": timings,
        "wall_seconds": time.perf_counter() - started,
    }
    write_guide_meta(out, meta)
    return write_report(out)


def _add_common(parser: argparse.ArgumentParser, grid_flag: str = "--grid") -> None:
    parser.add_argument(
        grid_flag,
        choices=["quick", "paper"],
        default="quick",
        help="quick (minutes) or the paper's full grids (default: quick)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("results"), help="results directory (default: results)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=2 if grid_flag == "--scale" else 1,
        help="parallel worker processes",
    )
    parser.add_argument(
        "--ray-address", default=None, help="run jobs on Ray: 'auto', 'local' or a cluster address"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="poissongrad", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    guide = sub.add_parser(
        "guide",
        help="run every experiment and write the report (the main job)",
        description="Run the fidelity, gradient, Poisson-VAE and POGLM experiments, then write "
        "OUT/report.html and OUT/report.md with figures and the method-rating table.",
    )
    _add_common(guide, "--scale")
    report = sub.add_parser("report", help="rebuild the report from stored rows")
    report.add_argument("out", type=Path, help="results directory of an earlier run")
    for name, exp in EXPERIMENTS.items():
        command = sub.add_parser(name, help=exp.help, description=exp.help)
        _add_common(command)
        command.add_argument("--seed", type=int, default=0, help="base random seed (default: 0)")
        for option, default, choices in exp.options:
            command.add_argument(
                f"--{option}", default=default, choices=choices, help=f"(default: {default})"
            )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        if args.command == "guide":
            paths = run_guide(
                args.out, args.scale, args.jobs, args.ray_address, not args.no_progress
            )
            print(f"wrote {paths[1]} and {paths[0]} ({time.perf_counter() - start:.0f} s)")
            return 0
        if args.command == "report":
            paths = write_report(args.out)
            print(f"wrote {paths[1]} and {paths[0]}")
            return 0
        options = {o: getattr(args, o) for o, _, _ in EXPERIMENTS[args.command].options}
        rows = run_experiment(
            args.command,
            args.out,
            args.grid,
            args.seed,
            args.jobs,
            args.ray_address,
            not args.no_progress,
            **options,
        )
    except ResultsError as err:
        print(f"poissongrad: error: {err}", file=sys.stderr)
        return 2
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        print(SECTIONS[args.command].summary(rows).to_string())
    print(f"{len(rows)} rows in {args.out / args.command} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
