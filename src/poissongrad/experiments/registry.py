"""The experiment registry: one record per experiment, for the CLI, the guide and the report.

Each :class:`~poissongrad.experiments.base.Experiment` declares its name, config class, grids
(``grid_configs``), job function (``run``: config → tidy rows), row schema (the metric columns
every row carries, beside the config fields), report section (title, description, figures,
summary table), what its rows contribute to the method ratings, and its extra command-line
options. Every record lives in its experiment's module, next to the code it describes.

Adding an experiment: one module that ends with ``EXPERIMENT = Experiment(...)`` and one line in
:data:`EXPERIMENTS` below; the CLI, the guide, the ratings and the report iterate this mapping.

Examples
--------
>>> list(EXPERIMENTS)
['fidelity', 'gradients', 'vae', 'poglm', 'grasshopper', 'retina', 'generalisability']
>>> EXPERIMENTS["gradients"].rating_inputs[0].metric
'rel_bias'
>>> EXPERIMENTS["vae"].rating_inputs[0].reference  # paired with the exact run of each seed
'exact'
"""

from __future__ import annotations

from poissongrad.experiments import (
    fidelity,
    generalisability,
    gradients,
    grasshopper,
    poglm,
    pvae,
    retina,
)
from poissongrad.experiments.base import Experiment, Option, RatingInput, SchemaError

__all__ = ["EXPERIMENTS", "Experiment", "Option", "RatingInput", "SchemaError", "get_experiment"]

#: Every experiment, in the guide's order: one line each.
EXPERIMENTS: dict[str, Experiment] = {
    module.EXPERIMENT.name: module.EXPERIMENT
    for module in (
        fidelity,
        gradients,
        pvae,
        poglm,
        grasshopper,
        retina,
        generalisability,
    )
}


def get_experiment(name: str) -> Experiment:
    """The record of ``name``; ``ValueError`` naming the choices otherwise."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; expected one of {list(EXPERIMENTS)}")
    return EXPERIMENTS[name]
