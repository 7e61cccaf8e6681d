"""The experiment registry: one record per experiment, for the CLI, the guide and the report.

Each :class:`Experiment` declares its name, config class, grids (``grid_configs``), job
function (``run``: config → tidy rows), row schema (the metric columns every row carries, beside
the config fields), report section (title, description, figures, summary table), what its rows
contribute to the method ratings, and its extra command-line options.

Adding an experiment: a module with a config dataclass, ``run`` and ``grid_configs``; its figures
and summary table in :mod:`poissongrad.report`; one entry in :data:`EXPERIMENTS`.

Examples
--------
>>> list(EXPERIMENTS)
['fidelity', 'gradients', 'vae', 'poglm', 'grasshopper', 'generalisability']
>>> EXPERIMENTS["gradients"].rating_inputs[0].metric
'rel_bias'
>>> EXPERIMENTS["vae"].rating_inputs[0].reference  # paired with the exact run of each seed
'exact'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from poissongrad.experiments import (
    fidelity,
    generalisability,
    gradients,
    grasshopper,
    poglm,
    pvae,
)
from poissongrad.registry import REGISTRY
from poissongrad.report.figures import (
    fidelity_figures,
    generalisability_figures,
    gradient_figures,
    grasshopper_figures,
    poglm_figures,
    vae_figures,
)
from poissongrad.report.tables import (
    fidelity_summary_table,
    generalisability_summary_table,
    gradient_notes,
    gradient_summary_table,
    grasshopper_summary_table,
    poglm_summary_table,
    vae_notes,
    vae_summary_table,
)

__all__ = ["EXPERIMENTS", "Experiment", "Option", "RatingInput", "SchemaError", "get_experiment"]


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

    criterion: str
    metric: str
    higher_is_better: bool = False
    reference: str | None = None
    pair_on: tuple[str, ...] = ()


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
        ``(grid, seed=..., **options) -> list[config]``.
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

    def columns(self) -> list[str]:
        """Every column a row of this experiment must have."""
        fields = [f.name for f in dataclasses.fields(self.config)]
        kept = [f for f in fields if f not in self.dropped_fields]
        return kept + ["uses_temperature", *self.extra_columns, *self.metrics]

    def check_stored(self, rows: pd.DataFrame, where: str) -> pd.DataFrame:
        """``rows`` read back from a store, unchanged; :class:`SchemaError` (naming ``where``
        and how to recover) for missing columns, non-numeric metric columns of the ratings, or
        estimator names the registry does not know."""
        advice = f"in {where}: move that experiment's folder away and rerun it"
        missing = [c for c in self.columns() if c not in rows.columns]
        if missing:
            raise SchemaError(f"stored {self.name} rows lack the columns {missing} ({advice})")
        for spec in self.rating_inputs:
            if not pd.api.types.is_numeric_dtype(rows[spec.metric]):
                raise SchemaError(
                    f"stored {self.name} rows hold non-numbers in {spec.metric!r} ({advice})"
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


_GRADIENT_METRICS = {
    "rel_bias": "relative bias ‖E g − g*‖/‖g*‖ pooled over items: closed form or Monte Carlo",
    "rel_bias_se": "its standard error (0 for the closed form)",
    "bias_source": "closed_form or monte_carlo",
    "rel_bias_mc": "Monte-Carlo relative bias with the sampling error of ḡ removed",
    "rel_bias_naive": "‖ḡ − g*‖/‖g*‖ of the sample mean (the paper's; includes MC error)",
    "rel_var": "total variance / ‖g*‖²",
    "snr": "‖ḡ‖ / per-sample spread",
    "cosine": "cos(ḡ, g*)",
}

_POGLM_DESCRIPTION = " ".join(
    [
        "Test ELBO, held-out log-likelihood of the visible spikes (a particle filter over the",
        "hidden spikes, independent of q; the importance-weighted bound is stored as iw_bound)",
        "and connectivity error after the best permutation of hidden neurons (nats per",
        "sequence), overall and per block, with the zero-weight guess and the fully observed",
        "maximum-likelihood fit as references, in two settings: the paper's (3 visible + 2",
        "hidden) and an identifiable one (12 visible + 1 strongly coupled hidden neuron at 1",
        "spike per bin; τ = 0.5 and the first seed only). 'information kept' is the",
        "identifiability check at the true",
        "parameters: the share of complete-data Fisher information about each block that the",
        "visible training spikes keep (Louis' identity with exact Gibbs posterior draws, mean",
        "over networks); a block below 0.5 is not trusted and its errors are marked †: they",
        "say nothing about an estimator, compare estimators there on the ELBO and trusted",
        "blocks only.",
    ]
)


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment(
            name="fidelity",
            help="distributional fidelity of relaxed samples (moment ratios, W1, W2, KL)",
            config=fidelity.FidelityConfig,
            grid_configs=fidelity.grid_configs,
            run=fidelity.run,
            metrics={
                "mean_ratio": "sample mean / λ",
                "var_ratio": "sample variance / λ",
                "w1": "exact W1 to Poisson(λ), divided by √λ",
                "w2": "exact W2 to Poisson(λ), divided by √λ",
            },
            title="Distributional fidelity",
            description="How close relaxed samples are to Poisson(λ): mean and variance "
            "ratios, and the exact 1-D Wasserstein distance W1/√λ to the Poisson law ('poisson' "
            "rows: exact draws, the sampling-noise floor). Table: mean over rates of "
            "|mean/λ − 1| and W1/√λ per τ.",
            figures=fidelity_figures,
            summary=fidelity_summary_table,
            rating_inputs=(RatingInput("fidelity", "w1"),),
            dropped_fields=("rates",),
            extra_columns=("rate",),
            reference_estimators=(fidelity.EXACT_DRAWS,),
        ),
        Experiment(
            name="gradients",
            help="gradient quality against exact gradients on a linear decoder",
            config=gradients.GradientConfig,
            grid_configs=gradients.grid_configs,
            run=gradients.run,
            metrics=_GRADIENT_METRICS,
            title="Gradient quality",
            description="Per-sample gradients of E‖x − Φz‖² with respect to log λ on a linear "
            "decoder, against the closed-form gradient. Table at the rate nearest λ = 5: relative "
            "bias (Monte-Carlo error removed), relative variance and cosine to the exact "
            "gradient.",
            figures=gradient_figures,
            summary=gradient_summary_table,
            notes=gradient_notes,
            rating_inputs=(
                RatingInput("bias", "rel_bias"),
                RatingInput("variance", "rel_var"),
            ),
            dropped_fields=("rates",),
            extra_columns=("rate",),
        ),
        Experiment(
            name="vae",
            help="Poisson VAE: temperature robustness of every gradient method (held-out ELBO)",
            config=pvae.VAEConfig,
            grid_configs=pvae.grid_configs,
            run=pvae.run,
            metrics={
                "neg_elbo": "held-out negative ELBO with hard samples (nats per item)",
                "r2": "1 − SSE/SST of the reconstruction",
                "kl": "KL(q ‖ p) per item (nats)",
                "active_latents": "latents with mean KL > 0.01",
                "train_seconds": "training wall time (s)",
                "validation_curve": "held-out negative ELBO after every epoch",
                "last_quarter_change": "relative change of that curve over the last quarter",
                "converged": "last_quarter_change < 1%",
            },
            title="Poisson VAE: temperature robustness",
            description="Held-out negative ELBO (hard samples) after training with each "
            "gradient method, against the final temperature of the annealing schedule; 'exact' "
            "uses the closed-form expected loss of the linear decoder.",
            figures=vae_figures,
            summary=vae_summary_table,
            notes=vae_notes,
            rating_inputs=(
                RatingInput("robustness", "neg_elbo", False, "exact", ("dataset", "seed")),
            ),
            options=(
                Option(
                    "dataset",
                    "patches",
                    ("digits", "patches"),
                    "image data: 8×8 digits or whitened 16×16 natural-image patches",
                ),
            ),
        ),
        Experiment(
            name="poglm",
            help="partially observable GLM: hidden neurons and connectivity from spike trains",
            config=poglm.POGLMConfig,
            grid_configs=poglm.grid_configs,
            run=poglm.run,
            metrics={
                "elbo": "test ELBO with hard samples (nats per sequence)",
                "marginal_ll": "log p(visible) by a particle filter (nats per sequence)",
                "marginal_ll_se": "its Monte-Carlo standard error",
                "iw_bound": "importance-weighted bound on log p(visible) with q",
                "weight_error": "mean |W − Ŵ| after matching hidden neurons",
                "visible_weight_error": "mean |W − Ŵ| of visible→visible weights",
                "vv_weight_error": "visible←visible block error",
                "vh_weight_error": "visible←hidden block error",
                "hv_weight_error": "hidden←visible block error",
                "hh_weight_error": "hidden←hidden block error",
                "zero_weight_error": "mean |W| (the all-zero guess)",
                "observed_weight_error": "error of the fully observed maximum-likelihood fit",
                **{
                    f"share_{b}": f"{b} information kept by the visible spikes (check at truth)"
                    for b in ("vv", "vh", "hv", "hh")
                },
                "fit_seconds": "fit wall time (s)",
            },
            title="Partially observable GLM",
            description=_POGLM_DESCRIPTION,
            figures=poglm_figures,
            summary=poglm_summary_table,
            rating_inputs=(
                RatingInput(
                    "robustness", "elbo", True, "score_loo", ("setting", "network", "seed")
                ),
            ),
            replicates=("seed", "network"),
            options=(
                Option(
                    "setting",
                    "both",
                    poglm.SETTING_CHOICES,
                    "networks: the paper's 3 visible + 2 hidden, the identifiable 12 + 1, both "
                    "(the identifiable one at τ = 0.5, one seed), or 20 + 5",
                ),
            ),
        ),
        Experiment(
            name="grasshopper",
            help="real spikes: do hidden neurons help a stimulus-driven GLM of a receptor neuron?",
            config=grasshopper.GrasshopperConfig,
            grid_configs=grasshopper.grid_configs,
            run=grasshopper.run,
            metrics={
                "marginal_ll": "held-out log p(visible) by a particle filter (nats per sequence)",
                "marginal_ll_se": "its Monte-Carlo standard error",
                "gain": "held-out log p(visible) minus the no-hidden fit's, paired (nats/seq.)",
                "gain_se": "its standard error over held-out sequences",
                "share_vh": "v←h information kept (check at the fitted parameters)",
                "share_hv": "h←v information kept",
                "share_hh": "h←h information kept",
                "best_epoch": "epoch kept by early stopping",
                "fit_seconds": "fit wall time (s)",
            },
            title="Real spikes: grasshopper auditory receptor",
            description="Two 10 s recordings of a grasshopper auditory receptor neuron driven by "
            "an amplitude-modulated sound (shipped with the nitime package), in 2 ms bins, cut "
            "into 40 sequences of 0.5 s (every 4th held out). A GLM with the stimulus as input "
            "(filters over 20 ms) and 20 ms of spike history, with 0, 1 or 2 hidden neurons, "
            "fitted with early stopping; the held-out log-likelihood of the recorded spikes is "
            "estimated by the particle filter. 'gain' compares each model with the fit without "
            "hidden neurons on the same held-out sequences: hidden neurons help only if it is "
            "clearly positive. The identifiability check at the fitted parameters says whether "
            "the hidden connectivity could be trusted (†: share < 0.5).",
            figures=grasshopper_figures,
            summary=grasshopper_summary_table,
            replicates=("seed",),
        ),
        Experiment(
            name="generalisability",
            help="count VAEs with negative-binomial and COM-Poisson latents (generalisability)",
            config=generalisability.GeneralisabilityConfig,
            grid_configs=generalisability.grid_configs,
            run=generalisability.run,
            metrics={
                "neg_elbo": "held-out negative ELBO with hard samples (nats per item)",
                "log_likelihood": "importance-weighted log p(x) (nats per item)",
                "learned_dispersion": "mean learned NB r or COM ν",
                "dispersion_error": "mean |log learned − log true| dispersion",
                "fit_seconds": "fit wall time (s)",
            },
            title="Generalisability: non-Poisson latents",
            description="A count VAE (8 latents, 32 Poisson observations, MLP decoder) fitted to "
            "data from a ground truth whose latents are negative binomial (r = 0.5: strongly, "
            "r = 5: mildly over-dispersed) or COM-Poisson (ν = 0.5 over-, ν = 2 under-dispersed), "
            "with every estimator that can express the law (EAT: negative binomial only, "
            "through its Gamma mixture). Table: held-out negative ELBO ± SE at each estimator's "
            "best final τ, and the error of the learned latent dispersion.",
            figures=generalisability_figures,
            summary=generalisability_summary_table,
            rating_inputs=(RatingInput("generalisability", "neg_elbo"),),
        ),
    )
}


def get_experiment(name: str) -> Experiment:
    """The record of ``name``; ``ValueError`` naming the choices otherwise."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; expected one of {list(EXPERIMENTS)}")
    return EXPERIMENTS[name]
