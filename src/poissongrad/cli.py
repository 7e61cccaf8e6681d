"""The ``poissongrad`` command: one subcommand per experiment.

    poissongrad fidelity  --grid quick --out results
    poissongrad gradients --grid paper --out results --jobs 2

Each experiment stores its rows under ``OUT/<experiment>/`` (resumable: rerunning skips finished
jobs), writes ``rows.csv`` and PNG figures there, and prints a summary table.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pandas as pd

from poissongrad.experiments import fidelity, gradients, poglm, pvae
from poissongrad.experiments.sweep import ResultsError, RowStore, run_sweep, write_csv
from poissongrad.report.figures import (
    fidelity_figures,
    gradient_figures,
    poglm_figures,
    vae_figures,
)
from poissongrad.report.tables import (
    fidelity_summary_table,
    gradient_summary_table,
    poglm_summary_table,
    vae_summary_table,
)

__all__ = ["main", "EXPERIMENTS", "run_experiment"]


@dataclass(frozen=True)
class Experiment:
    module: ModuleType
    figures: Callable[[pd.DataFrame, Path], list[Path]]
    summary: Callable[[pd.DataFrame], pd.DataFrame]
    help: str
    #: extra command-line options: flag → (default, choices); passed to ``grid_configs``
    options: tuple[tuple[str, str, tuple[str, ...]], ...] = ()


EXPERIMENTS: dict[str, Experiment] = {
    "fidelity": Experiment(
        fidelity,
        fidelity_figures,
        fidelity_summary_table,
        "distributional fidelity of relaxed samples (moment ratios, W1, W2, KL)",
    ),
    "gradients": Experiment(
        gradients,
        gradient_figures,
        gradient_summary_table,
        "gradient quality against exact gradients on a linear decoder",
    ),
    "vae": Experiment(
        pvae,
        vae_figures,
        vae_summary_table,
        "Poisson VAE: temperature robustness of every gradient method (held-out ELBO)",
        (("dataset", "digits", ("digits", "patches")),),
    ),
    "poglm": Experiment(
        poglm,
        poglm_figures,
        poglm_summary_table,
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
    exp.figures(rows, store.directory)
    return rows


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--grid",
        choices=["quick", "paper"],
        default="quick",
        help="quick (minutes) or the paper's full grid (default: quick)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("results"), help="results directory (default: results)"
    )
    parser.add_argument("--seed", type=int, default=0, help="base random seed (default: 0)")
    parser.add_argument(
        "--jobs", type=int, default=1, help="parallel worker processes (default: 1)"
    )
    parser.add_argument(
        "--ray-address", default=None, help="run jobs on Ray: 'auto', 'local' or a cluster address"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="poissongrad", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, exp in EXPERIMENTS.items():
        command = sub.add_parser(name, help=exp.help, description=exp.help)
        _add_common(command)
        for option, default, choices in exp.options:
            command.add_argument(
                f"--{option}", default=default, choices=choices, help=f"(default: {default})"
            )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        rows = run_experiment(
            args.command,
            args.out,
            args.grid,
            args.seed,
            args.jobs,
            args.ray_address,
            not args.no_progress,
        )
    except ResultsError as err:
        print(f"poissongrad: error: {err}", file=sys.stderr)
        return 2
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        print(EXPERIMENTS[args.command].summary(rows).to_string())
    print(f"{len(rows)} rows in {args.out / args.command} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
