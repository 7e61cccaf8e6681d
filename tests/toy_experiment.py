"""A toy experiment in one module, to show what adding one costs (see test_extension.py).

It measures, for each score-function estimator of the registry's "rated" selection and for
EAT-cubic, the error of the mean gradient of E[z] in log λ (exactly λ) at two rates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch

from poissongrad.estimators import gradient_samples
from poissongrad.experiments.base import Experiment, RatingInput
from poissongrad.registry import REGISTRY, tagged
from poissongrad.utils.plotting import plt, save_figure
from poissongrad.utils.stats import task_summary_table


@dataclass(frozen=True)
class ToyConfig:
    estimator: str
    temperature: float
    seed: int = 0


def run(config: ToyConfig) -> list[dict]:
    rows = []
    for rate in (1.0, 3.0):
        log_rate = torch.full((1,), rate, dtype=torch.float64).log()
        g = gradient_samples(
            lambda z: z.sum(-1),
            log_rate,
            config.estimator,
            200,
            config.temperature,
            torch.Generator().manual_seed(config.seed),
        )
        rows.append(
            {
                **asdict(config),
                "rate": rate,
                "uses_temperature": REGISTRY[config.estimator].uses_temperature,
                "abs_error": abs(float(g.mean()) - rate),
            }
        )
    return rows


def grid_configs(grid: str, seed: int = 0) -> list[ToyConfig]:
    chosen = ["eat_cubic", *(e for e in tagged("rated") if REGISTRY[e].family == "score")]
    return [ToyConfig(e, 0.3 if REGISTRY[e].uses_temperature else 0.0, seed) for e in chosen]


def figures(rows: pd.DataFrame, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots()
    rows.groupby("estimator").abs_error.mean().plot.bar(ax=ax)
    return [save_figure(fig, out / "toy.png")]


EXPERIMENT = Experiment(
    name="toy",
    help="a toy experiment",
    config=ToyConfig,
    grid_configs=grid_configs,
    run=run,
    metrics={"abs_error": "|mean gradient − λ|"},
    title="Toy experiment",
    description="Mean-gradient error of a few estimators.",
    figures=figures,
    summary=lambda rows: task_summary_table(rows, "abs_error"),
    rating_inputs=(RatingInput("bias", "abs_error"),),
    extra_columns=("rate",),
)
