"""Gradient quality on a linear decoder, where the exact gradient and Hessian are closed-form.

Model: latents z ∈ ℕ^K, z_k ~ Poisson(λ_k), loss f(z) = ‖x − Φz‖². For each grid rate λ, a batch
of items has log-rates log λ + 0.3·N(0, 1) (seeded) and data x = Φz_true + 0.1·N(0, 1); Φ is a
seeded Gaussian D × K matrix scaled by 1/√D. Every estimator draws ``n_grad_samples`` gradients of
E[f] with respect to log λ per item (in chunks of :data:`CHUNK`, which are also the groups a score
function's baseline uses), scored by :class:`poissongrad.metrics.gradients.GradientMoments`
against the closed form.

Bias: for an EAT relaxation (not straight-through) the expected pathwise gradient is the gradient
of the closed-form relaxed objective (:func:`poissongrad.exact.relaxed_linear_decoder_loss`), so
its bias is exact (``bias_source = "closed_form"``) and the paper's 100 samples suffice for the
variance; the Monte-Carlo estimate is stored beside it as a check (``bias_check_z``). Every other
estimator's bias is estimated from many samples, with its standard error
(``bias_source = "monte_carlo"``). Estimators that do not use τ (registry's
``uses_temperature``) run once, with ``temperature = 0``; every row says ``uses_temperature``.

Cost: estimators spend different numbers of evaluations of f per sample (the registry's
``cost``: REBAR/RELAX 2, the difference identity K + 1, Stein 1 plus one per item), so every row
also gives ``rel_var_equal_cost``, the relative variance times the evaluations per sample: the
variance of an estimate that spends as many evaluations as one sample of a one-evaluation
estimator (what the ratings compare). REBAR/RELAX first learn their control variate (η, τ and
RELAX's network) for :data:`CONTROL_STEPS` steps of :data:`CONTROL_SAMPLES` samples on the
cell's own problem, then measure with it frozen; rows give the learned η and τ and the samples
spent learning (not counted in ``evaluations``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from poissongrad.estimators import gradient_samples, learn_control
from poissongrad.exact import linear_decoder_grad_hessian, relaxed_linear_decoder_loss
from poissongrad.experiments.base import Experiment, RatingInput
from poissongrad.experiments.grids import SMOKE_RATES, Grid, rates_and_taus
from poissongrad.metrics.gradients import GradientMoments
from poissongrad.registry import REGISTRY, generic_estimators, tagged
from poissongrad.utils.hashing import seed_for
from poissongrad.utils.plotting import (
    FONT_SIZE,
    colour,
    estimator_style,
    figure_legend,
    level_lines,
    plt,
    save_figure,
    split_by_temperature,
)
from poissongrad.utils.stats import (
    nearest,
)

__all__ = [
    "CHUNK",
    "CONTROL_SAMPLES",
    "CONTROL_STEPS",
    "GradientConfig",
    "gradient_estimators",
    "run",
    "grid_configs",
]

#: Gradient samples drawn per call (and the group size of score-function baselines).
CHUNK = 100
#: Variance steps, and samples per item and step, that a control variate learns before a cell.
CONTROL_STEPS, CONTROL_SAMPLES = 100, 16


def gradient_estimators() -> tuple[str, ...]:
    """Estimators of the gradient experiment: every generic estimator of the registry, with the
    straight-through variants of the paper's three relaxations only and the control-variate
    estimators of the ``unbiased_cv`` tag only (the other ``rebar_*`` are tested, not graded:
    the sigmoid's window of 40τ makes it ~25× dearer at λ = 100) — a new estimator joins by its
    registry record alone."""
    paper, cv = tagged("paper"), tagged("unbiased_cv")
    return tuple(
        e
        for e in generic_estimators()
        if (not REGISTRY[e].straight_through or REGISTRY[e].relaxation in paper)
        and (not REGISTRY[e].learns_control or e in cv)
    )
#: Samples per cell for estimators whose bias must be estimated, per grid.
MC_SAMPLES = {"quick": 1000, "paper": 5000}


@dataclass(frozen=True)
class GradientConfig:
    """One job: one estimator at one temperature, over all rates."""

    estimator: str
    temperature: float
    rates: tuple[float, ...]
    n_latents: int = 8
    n_obs: int = 16
    batch: int = 64
    n_grad_samples: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_grad_samples < 2 or self.n_grad_samples % CHUNK and self.n_grad_samples > CHUNK:
            raise ValueError(
                f"n_grad_samples must be >= 2 and, above {CHUNK}, a multiple of {CHUNK}; "
                f"got {self.n_grad_samples}"
            )


def linear_problem(
    rate: float, n_latents: int, n_obs: int, batch: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x of shape (B, D), Φ of shape (D, K), log-rates of shape (B, K)), float64, seeded."""
    gen = torch.Generator().manual_seed(seed_for(seed, "linear_problem", rate))
    phi = torch.randn(n_obs, n_latents, generator=gen, dtype=torch.float64) / n_obs**0.5
    log_rate = torch.log(torch.tensor(rate, dtype=torch.float64)) + 0.3 * torch.randn(
        batch, n_latents, generator=gen, dtype=torch.float64
    )
    z_true = torch.poisson(log_rate.exp(), generator=gen)
    x = z_true @ phi.T + 0.1 * torch.randn(batch, n_obs, generator=gen, dtype=torch.float64)
    return x, phi, log_rate


def _expected_gradient(
    config: GradientConfig, x: torch.Tensor, phi: torch.Tensor, log_rate: torch.Tensor
) -> torch.Tensor | None:
    """E of the pathwise gradient in log λ where closed form (EAT, not straight-through)."""
    record = REGISTRY[config.estimator]
    if not record.arrival_times or record.straight_through:
        return None
    s = log_rate.detach().clone().requires_grad_(True)
    loss = relaxed_linear_decoder_loss(x, phi, s.exp(), record.name, config.temperature)
    (grad,) = torch.autograd.grad(loss.sum(), s)
    return grad


def run(config: GradientConfig) -> list[dict]:
    """Rows (one per rate): config fields, rate, and the gradient-quality metrics."""
    base = asdict(config)
    del base["rates"]
    record = REGISTRY[config.estimator]
    base["uses_temperature"] = record.uses_temperature
    chunk = min(CHUNK, config.n_grad_samples)
    evaluations = record.cost.evaluations(chunk, config.n_latents) / chunk
    rows = []
    for rate in config.rates:
        x, phi, log_rate = linear_problem(
            float(rate), config.n_latents, config.n_obs, config.batch, config.seed
        )
        exact, hessian = linear_decoder_grad_hessian(x, phi, log_rate)

        def loss(z: torch.Tensor, x=x, phi=phi) -> torch.Tensor:
            return (x - z @ phi.T).pow(2).sum(-1)

        gen = torch.Generator().manual_seed(
            seed_for(config.seed, config.estimator, config.temperature, rate)
        )
        control = learn_control(
            loss, log_rate, config.estimator, config.temperature, CONTROL_STEPS,
            CONTROL_SAMPLES, gen,
        )
        moments = GradientMoments()
        remaining = config.n_grad_samples
        while remaining > 0:
            size = min(CHUNK, remaining)
            samples = gradient_samples(
                loss, log_rate, config.estimator, size, config.temperature, gen, control
            )
            moments.update(samples, exact)
            remaining -= size
        expected = _expected_gradient(config, x, phi, log_rate)
        quality = moments.quality(exact, hessian, expected)
        check = (quality["rel_bias_mc"] - quality["rel_bias"]) / max(
            quality["rel_bias_mc_se"], 1e-12
        )
        rows.append(
            {
                **base,
                "rate": float(rate),
                **quality,
                "bias_source": "monte_carlo" if expected is None else "closed_form",
                "bias_check_z": check if expected is not None else float("nan"),
                "evaluations": evaluations,
                "rel_var_equal_cost": quality["rel_var"] * evaluations,
                "cv_eta": math.nan if control is None else float(control.eta.detach()),
                "cv_temperature": math.nan if control is None else control.temperature,
                "control_samples": 0 if control is None else CONTROL_STEPS * CONTROL_SAMPLES,
            }
        )
    return rows


def grid_configs(grid: Grid, seed: int = 0) -> list[GradientConfig]:
    """Every job of a named grid: relaxed estimators × τ, plus τ-free estimators once.

    EAT relaxations (closed-form bias) draw the paper's 100 samples per cell; the others
    ``MC_SAMPLES[grid]``, so that their bias is resolved.
    """
    rates, taus = rates_and_taus(grid)
    configs = []
    for e in gradient_estimators():
        record = REGISTRY[e]
        closed = record.arrival_times and not record.straight_through
        n = CHUNK if closed else MC_SAMPLES[grid]
        for t in taus if record.uses_temperature else (0.0,):
            configs.append(GradientConfig(e, t, rates, n_grad_samples=n, seed=seed))
    return configs


# --- report section: figures and summary table of the stored rows ---------------------------


GRADIENT_METRICS = (
    ("rel_bias", "relative bias"),
    ("rel_var", "relative variance"),
    ("cosine", "cos(mean, exact)"),
)


_BIAS_FLOOR = 1e-3  # the bias axis is linear below this (a bias can be exactly 0)


def _errors(d: pd.DataFrame, col: str):
    """± SE error bars, the lower one clipped at 0 for a bias (a norm cannot be negative)."""
    se = f"{col}_se"
    if se not in d:
        return None
    upper = d[se].fillna(0).to_numpy()
    lower = np.minimum(upper, d[col].to_numpy()) if col == "rel_bias" else upper
    return np.vstack([lower, upper])


def _scale(ax, col: str, axis: str = "y") -> None:
    if col == "rel_bias":
        getattr(ax, f"set_{axis}scale")("symlog", linthresh=_BIAS_FLOOR)
        getattr(ax, f"set_{axis}lim")(0.0, None)  # a norm: nothing below 0
    elif col != "cosine":
        getattr(ax, f"set_{axis}scale")("log")


def gradient_figures(
    rows: pd.DataFrame, out: Path, rate: float = 5.0, tau: float = 0.1
) -> list[Path]:
    """The paper's Fig. 3 (relative bias against relative variance at the rate nearest
    ``rate``, one line per estimator through its temperatures, bias ± SE), and the metrics
    against τ and against λ (τ nearest ``tau``); τ-free estimators are single points or
    horizontal lines."""
    out.mkdir(parents=True, exist_ok=True)
    lam = nearest(rows.rate, rate)
    relaxed, free = split_by_temperature(rows)
    t0 = nearest(relaxed.temperature, tau) if len(relaxed) else tau
    names = list(dict.fromkeys(rows.estimator))
    paths = []

    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    at = rows[rows.rate == lam]
    for name, d in at.groupby("estimator", sort=False):
        d = d.sort_values("temperature")
        c = colour(name)
        ax.errorbar(
            d.rel_var_equal_cost,
            d.rel_bias,
            yerr=_errors(d, "rel_bias"),
            capsize=2,
            label=name,
            **estimator_style(name),
        )
        if REGISTRY[name].uses_temperature:
            for _, r in d.iloc[[0, -1]].iterrows():
                ax.annotate(f"τ={r.temperature:g}", (r.rel_var_equal_cost, r.rel_bias),
                            fontsize=FONT_SIZE, color=c)
    ax.set_xscale("log")
    _scale(ax, "rel_bias")
    ax.set_xlabel("relative variance ΣVar/‖g*‖² at equal cost (× evaluations of f per sample)")
    ax.set_ylabel("relative bias ‖E g − g*‖/‖g*‖ (± SE)")
    ax.set_title(f"Gradient bias against variance, λ = {lam:g}")
    figure_legend(fig, [ax])
    paths.append(save_figure(fig, out / "gradients_bias_variance.png"))

    paths.append(
        _metric_panels(
            relaxed[relaxed.rate == lam],
            "temperature",
            "τ",
            f"λ={lam:g}",
            names,
            out / "gradients_vs_tau.png",
            free[free.rate == lam],
        )
    )
    at = pd.concat([relaxed[relaxed.temperature == t0], free])
    paths.append(_metric_panels(at, "rate", "λ", f"τ={t0:g}", names, out / "gradients_vs_rate.png"))
    return paths


def _metric_panels(
    rows: pd.DataFrame,
    x: str,
    x_label: str,
    where: str,
    names: list[str],
    path: Path,
    levels: pd.DataFrame | None = None,
) -> Path:
    """One panel per gradient metric against column ``x``, a line per estimator (± SE where
    stored); ``levels`` (τ-free estimators) are drawn as labelled horizontal lines."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for ax, (col, label) in zip(axes, GRADIENT_METRICS, strict=True):
        for name, d in rows.groupby("estimator", sort=False):
            d = d.sort_values(x)
            ax.errorbar(
                d[x],
                d[col],
                yerr=_errors(d, col),
                label=name,
                capsize=2,
                **estimator_style(name),
            )
        fixed = levels if levels is not None else rows.iloc[:0]
        level_lines(
            ax,
            {n: (float(d[col].iloc[0]), 0.0) for n, d in fixed.groupby("estimator", sort=False)},
        )
        if x == "rate":
            ax.set_xscale("log")
        ax.set_xlabel(x_label)
        ax.set_title(f"{label}, {where}")
        _scale(ax, col)
    figure_legend(fig, axes)
    return save_figure(fig, path)


def gradient_summary_table(rows: pd.DataFrame, rate: float = 5.0) -> pd.DataFrame:
    """Relative bias, relative variance (per sample and at equal cost) and cosine per estimator
    and τ, at the rate nearest λ."""
    lam = nearest(rows.rate, rate)
    d = rows[rows.rate == lam]
    values = ["rel_bias", "rel_var", "rel_var_equal_cost", "cosine"]
    table = d.pivot_table(index="estimator", columns="temperature", values=values)
    return table.round(3)


def gradient_notes(rows: pd.DataFrame) -> str:
    """Where each bias comes from and how many samples each cell used."""
    parts = []
    for source, d in rows.groupby("bias_source"):
        samples = ", ".join(str(int(n)) for n in sorted(d.n_grad_samples.unique()))
        names = ", ".join(dict.fromkeys(d.estimator))
        parts.append(f"{source.replace('_', ' ')} bias ({samples} samples per cell): {names}")
    checks = rows.bias_check_z.dropna()
    check = (
        f" Closed form against Monte Carlo on the same samples: |z| ≤ {checks.abs().max():.1f} "
        f"over {len(checks)} cells."
        if len(checks)
        else ""
    )
    return "Bias: " + "; ".join(parts) + "." + check


_GRADIENT_METRICS = {
    "rel_bias": "relative bias ‖E g − g*‖/‖g*‖ pooled over items: closed form or Monte Carlo",
    "rel_bias_se": "its standard error (0 for the closed form)",
    "bias_source": "closed_form or monte_carlo",
    "rel_bias_mc": "Monte-Carlo relative bias with the sampling error of ḡ removed",
    "rel_bias_naive": "‖ḡ − g*‖/‖g*‖ of the sample mean (the paper's; includes MC error)",
    "rel_var": "total variance / ‖g*‖²",
    "snr": "‖ḡ‖ / per-sample spread",
    "cosine": "cos(ḡ, g*)",
    "evaluations": "evaluations of f per gradient sample (the registry's cost, K latents)",
    "rel_var_equal_cost": "rel_var × evaluations: relative variance at equal cost in f",
    "cv_eta": "learned control-variate scale η (REBAR/RELAX; NaN otherwise)",
    "cv_temperature": "learned control-variate τ (REBAR/RELAX; NaN otherwise)",
    "control_samples": "samples per item spent learning the control variate first",
}

def smoke_configs(seed: int = 0) -> list[GradientConfig]:
    """The smoke grid: EAT-cubic (τ = 0.3) and the LOO score function, two rates, 10 samples."""
    return [
        GradientConfig(e, t, SMOKE_RATES, batch=4, n_grad_samples=10, seed=seed)
        for e, t in (("eat_cubic", 0.3), ("score_loo", 0.0))
    ]


EXPERIMENT = Experiment(
    name="gradients",
    help="gradient quality against exact gradients on a linear decoder",
    config=GradientConfig,
    grid_configs=grid_configs,
    smoke_configs=smoke_configs,
    run=run,
    metrics=_GRADIENT_METRICS,
    title="Gradient quality",
    description="Per-sample gradients of E‖x − Φz‖² with respect to log λ on a linear "
    "decoder, against the closed-form gradient. Table at the rate nearest λ = 5: relative "
    "bias (Monte-Carlo error removed), relative variance per sample and at equal cost (times "
    "the evaluations of f one sample spends: 2 for REBAR/RELAX, K + 1 for the difference "
    "identity, 1 + 1/100 for Stein, 1 otherwise; the bias–variance figure and the ratings use "
    "equal cost) and cosine to the exact gradient. REBAR/RELAX learn their control variate "
    "(η, τ) on each cell first; the τ column is their initial τ.",
    figures=gradient_figures,
    summary=gradient_summary_table,
    notes=gradient_notes,
    rating_inputs=(
        RatingInput("bias", "rel_bias", nonnegative=True),
        RatingInput("variance", "rel_var_equal_cost", nonnegative=True),
    ),
    dropped_fields=("rates",),
    extra_columns=("rate",),
    text_metrics=("bias_source",),
)
