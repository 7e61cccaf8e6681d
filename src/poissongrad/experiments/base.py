"""What an experiment is: one :class:`Experiment` record, defined next to its code.

Each experiment module (``poissongrad.experiments.<name>``) defines its config dataclass,
``grid_configs``, ``run`` (config → tidy rows), row schema, report text, figures and summary
table, and ends with ``EXPERIMENT = Experiment(...)``; :mod:`poissongrad.experiments.registry`
lists the modules, one line each. Nothing here imports the report: the report reads these
records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from poissongrad.registry import REGISTRY

__all__ = ["Criterion", "Experiment", "Option", "RatingInput", "SchemaError"]


class Criterion(StrEnum):
    """The rating criteria (the columns of the paper's Table 1), in the report's order."""

    FIDELITY = "fidelity"
    BIAS = "bias"
    VARIANCE = "variance"
    ROBUSTNESS = "robustness"
    GENERALISABILITY = "generalisability"


class SchemaError(ValueError):
    """A job returned rows that lack a column of its experiment's schema."""


@dataclass(frozen=True)
class Option:
    """An extra command-line option of an experiment, passed on to ``grid_configs``."""

    name: str
    default: str
    choices: tuple[str, ...]
    help: str


@dataclass(frozen=True)
class RatingInput:
    """A metric column that feeds a rating criterion (lower is better unless stated).

    With ``reference``, the metric is compared within pairs: each row minus the row of the
    ``reference`` estimator that shares the ``pair_on`` columns (the same seed and data), which
    removes the variation between seeds from temperature comparisons.
    """

    criterion: Criterion
    metric: str
    higher_is_better: bool = False
    reference: str | None = None
    pair_on: tuple[str, ...] = ()
    #: The metric is a distance, bias or variance, so a negative stored value is damage.
    nonnegative: bool = False

    def __post_init__(self) -> None:
        if self.criterion not in tuple(Criterion):
            choices = [c.value for c in Criterion]
            raise ValueError(f"unknown criterion {self.criterion!r}; expected one of {choices}")


@dataclass(frozen=True)
class Experiment:
    """Everything the CLI, the sweep and the report need to know about one experiment.

    Attributes
    ----------
    name : str
        Subcommand and results sub-directory.
    help : str
        One line for ``--help``.
    config : type
        The frozen dataclass of one job.
    grid_configs : callable
        ``(grid, seed=..., **options) -> list[config]`` for the ``quick`` and ``paper`` grids.
    smoke_configs : callable, optional
        ``seed -> list[config]``: the ``smoke`` grid, a few of the smallest jobs that still run
        every step of the experiment (seconds; the guide's ``--scale smoke`` and the tests).
    run : callable
        ``config -> list[dict]``, one tidy row per measurement.
    metrics : dict
        Row schema: metric column → meaning (units). Every row also carries the config fields
        (those in ``dropped_fields`` excepted), ``uses_temperature`` and ``extra_columns``.
    title, description : str
        The report section.
    figures : callable
        ``(rows, directory) -> list of PNG paths``.
    summary : callable
        ``rows -> summary table``.
    rating_inputs : tuple of RatingInput
        What the rows contribute to the method ratings.
    replicates : tuple of str
        Columns whose values a table or figure averages over (stated in the report).
    options : tuple of Option
        Extra command-line options.
    notes : callable, optional
        ``rows -> str``: what the report says of the stored rows beyond the static
        description (e.g. whether training converged).
    """

    name: str
    help: str
    config: type
    grid_configs: Callable[..., list[Any]]
    run: Callable[[Any], list[dict]]
    metrics: dict[str, str]
    title: str
    description: str
    figures: Callable[[pd.DataFrame, Path], list[Path]]
    summary: Callable[[pd.DataFrame], pd.DataFrame]
    rating_inputs: tuple[RatingInput, ...] = ()
    replicates: tuple[str, ...] = ("seed",)
    options: tuple[Option, ...] = ()
    notes: Callable[[pd.DataFrame], str] | None = None
    dropped_fields: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = ()
    #: Names in the estimator column that are references, not registry estimators.
    reference_estimators: tuple[str, ...] = ()
    #: Metrics whose values are words (e.g. how a number was computed); every other metric
    #: holds numbers, flags or curves, and text in it is refused when rows are read back.
    text_metrics: tuple[str, ...] = ()
    smoke_configs: Callable[[int], list[Any]] | None = None

    def configs(self, grid: str, seed: int = 0, **options: Any) -> list[Any]:
        """The jobs of ``grid`` (``"smoke"``, ``"quick"`` or ``"paper"``) from base ``seed``;
        ``ValueError`` for a grid this experiment does not have."""
        if grid != "smoke":
            return self.grid_configs(grid, seed=seed, **options)
        if self.smoke_configs is None:
            raise ValueError(f"the {self.name} experiment has no smoke grid")
        return self.smoke_configs(seed)

    def columns(self) -> list[str]:
        """Every column a row of this experiment must have."""
        fields = [f.name for f in dataclasses.fields(self.config)]
        kept = [f for f in fields if f not in self.dropped_fields]
        return kept + ["uses_temperature", *self.extra_columns, *self.metrics]

    def check_stored(self, rows: pd.DataFrame, where: str) -> pd.DataFrame:
        """``rows`` read back from a store, unchanged; :class:`SchemaError` (naming ``where``
        and how to recover) for missing columns, text in a metric column, non-numeric metric
        columns of the ratings, or estimator names the registry does not know."""
        advice = f"in {where}: move that experiment's folder away and rerun it"
        missing = [c for c in self.columns() if c not in rows.columns]
        if missing:
            raise SchemaError(f"stored {self.name} rows lack the columns {missing} ({advice})")
        for metric in [m for m in self.metrics if m not in self.text_metrics]:
            text = rows[metric].map(lambda v: isinstance(v, str))
            if text.any():
                raise SchemaError(
                    f"stored {self.name} rows hold the text {rows[metric][text].iloc[0]!r} in "
                    f"{metric!r}, a measurement ({advice})"
                )
        for spec in self.rating_inputs:
            values = rows[spec.metric]
            if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
                raise SchemaError(
                    f"stored {self.name} rows hold non-numbers in {spec.metric!r} ({advice})"
                )
            bad = ~np.isfinite(values.to_numpy(dtype=float))
            if spec.nonnegative:
                bad |= values.to_numpy(dtype=float) < 0
            if bad.any():
                raise SchemaError(
                    f"stored {self.name} rows hold {values[bad].iloc[0]!r} in {spec.metric!r}, "
                    f"which the ratings cannot use (NaN, infinite"
                    f"{' or negative' if spec.nonnegative else ''}; {advice})"
                )
        if "estimator" in rows.columns:
            known = {*REGISTRY, *self.reference_estimators}
            unknown = sorted(set(map(str, rows.estimator)) - known)
            if unknown:
                raise SchemaError(
                    f"stored {self.name} rows name unknown estimators {unknown[:3]} ({advice})"
                )
        return rows

    def check_rows(self, rows: list[dict]) -> list[dict]:
        """``rows`` unchanged; :class:`SchemaError` naming the missing columns otherwise."""
        required = self.columns()
        for row in rows:
            missing = [c for c in required if c not in row]
            if missing:
                raise SchemaError(f"a {self.name} row lacks the schema columns {missing}")
        return rows
