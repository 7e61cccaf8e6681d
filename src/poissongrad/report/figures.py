"""Figures of the fidelity and gradient experiments, made from their stored rows (PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from poissongrad.registry import REGISTRY  # noqa: E402

__all__ = [
    "fidelity_figures",
    "gradient_figures",
    "nearest",
    "poglm_figures",
    "task_figure",
    "vae_figures",
]


def nearest(values: pd.Series | list[float], target: float) -> float:
    """The value in ``values`` closest to ``target`` (on a log scale)."""
    vals = np.unique(np.asarray(values, dtype=float))
    vals = vals[vals > 0]
    return float(vals[np.argmin(np.abs(np.log(vals) - np.log(target)))])


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _tau_colours(taus: list[float]):
    cmap = plt.get_cmap("viridis")
    return {t: cmap(i / max(len(taus) - 1, 1)) for i, t in enumerate(taus)}


def fidelity_figures(rows: pd.DataFrame, out: Path) -> list[Path]:
    """Moment ratios and W1/√λ against λ, one panel per method, one line per τ."""
    out.mkdir(parents=True, exist_ok=True)
    relaxed = rows[rows.uses_temperature.astype(bool)]
    floor = rows[~rows.uses_temperature.astype(bool)].sort_values("rate")
    methods = list(dict.fromkeys(relaxed.estimator))
    taus = sorted(relaxed.temperature.unique())
    colour = _tau_colours(taus)
    paths = []

    fig, axes = plt.subplots(2, len(methods), figsize=(3.1 * len(methods), 5.6), squeeze=False)
    for j, method in enumerate(methods):
        for i, (col, label) in enumerate([("mean_ratio", "mean / λ"), ("var_ratio", "var / λ")]):
            ax = axes[i, j]
            for tau in taus:
                d = relaxed[(relaxed.estimator == method) & (relaxed.temperature == tau)]
                d = d.sort_values("rate")
                ax.plot(d.rate, d[col], marker=".", color=colour[tau], label=f"τ={tau:g}")
            ax.axhline(1.0, color="k", lw=0.8, ls="--")
            ax.set_xscale("log")
            ax.set_title(method if i == 0 else "")
            ax.set_xlabel("λ")
            ax.set_ylabel(label if j == 0 else "")
    axes[0, -1].legend(fontsize=6)
    paths.append(_save(fig, out / "fidelity_moments.png"))

    fig, axes = plt.subplots(1, len(methods), figsize=(3.1 * len(methods), 3.0), squeeze=False)
    for j, method in enumerate(methods):
        ax = axes[0, j]
        for tau in taus:
            d = relaxed[(relaxed.estimator == method) & (relaxed.temperature == tau)]
            d = d.sort_values("rate")
            ax.plot(d.rate, d.w1, marker=".", color=colour[tau], label=f"τ={tau:g}")
        if len(floor):
            ax.plot(floor.rate, floor.w1, color="k", ls="--", label="Poisson draws")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(method)
        ax.set_xlabel("λ")
        ax.set_ylabel("W1 / √λ" if j == 0 else "")
    axes[0, -1].legend(fontsize=6)
    paths.append(_save(fig, out / "fidelity_w1.png"))
    return paths


GRADIENT_METRICS = (
    ("rel_bias", "relative bias"),
    ("rel_var", "relative variance"),
    ("cosine", "cos(mean, exact)"),
)


def _estimator_style(name: str) -> dict:
    straight_through = name in REGISTRY and REGISTRY[name].straight_through
    return {"ls": "--" if straight_through else "-", "marker": "."}


def _split_by_temperature(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows of estimators that use τ, rows of those that do not)."""
    uses = rows.uses_temperature.astype(bool)
    return rows[uses], rows[~uses]


def gradient_figures(
    rows: pd.DataFrame, out: Path, rate: float = 5.0, tau: float = 0.1
) -> list[Path]:
    """Gradient metrics against τ (at the rate nearest ``rate``) and against λ (τ nearest
    ``tau``), one line per estimator; τ-free estimators are horizontal lines in the τ plot."""
    out.mkdir(parents=True, exist_ok=True)
    lam = nearest(rows.rate, rate)
    relaxed, free = _split_by_temperature(rows)
    t0 = nearest(relaxed.temperature, tau) if len(relaxed) else tau
    paths = []

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for ax, (col, label) in zip(axes, GRADIENT_METRICS, strict=True):
        at = relaxed[relaxed.rate == lam]
        for name, d in at.groupby("estimator", sort=False):
            d = d.sort_values("temperature")
            ax.plot(d.temperature, d[col], label=name, **_estimator_style(name))
        for name, d in free[free.rate == lam].groupby("estimator", sort=False):
            ax.axhline(float(d[col].iloc[0]), lw=1, ls=":", color="grey")
            ax.annotate(
                name,
                (0.99, float(d[col].iloc[0])),
                xycoords=("axes fraction", "data"),
                annotation_clip=True,
                ha="right",
                fontsize=6,
                color="grey",
            )
        ax.set_xlabel("τ")
        ax.set_title(f"{label}, λ={lam:g}")
        if col != "cosine":
            ax.set_yscale("log")
    axes[-1].legend(fontsize=6, ncol=2)
    paths.append(_save(fig, out / "gradients_vs_tau.png"))

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    at = pd.concat([relaxed[relaxed.temperature == t0], free])
    for ax, (col, label) in zip(axes, GRADIENT_METRICS, strict=True):
        for name, d in at.groupby("estimator", sort=False):
            d = d.sort_values("rate")
            ax.plot(d.rate, d[col], label=name, **_estimator_style(name))
        ax.set_xscale("log")
        ax.set_xlabel("λ")
        ax.set_title(f"{label}, τ={t0:g}")
        if col != "cosine":
            ax.set_yscale("log")
    axes[-1].legend(fontsize=6, ncol=2)
    paths.append(_save(fig, out / "gradients_vs_rate.png"))
    return paths


def task_figure(
    rows: pd.DataFrame,
    out: Path,
    metrics: list[tuple[str, str]],
    name: str,
    title: str,
    references: dict[str, list[tuple[str, str]]] | None = None,
) -> Path:
    """Task metrics against τ, one line per estimator (mean ± sd over seeds and networks);
    estimators that do not use τ (``uses_temperature`` false) are horizontal lines.
    ``references`` maps a metric to (label, column) pairs drawn as dashed black lines at the
    column's mean."""
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4), squeeze=False)
    relaxed, free = _split_by_temperature(rows)
    for ax, (col, label) in zip(axes[0], metrics, strict=True):
        for est, d in relaxed.groupby("estimator", sort=False):
            g = d.groupby("temperature")[col].agg(["mean", "std"]).reset_index()
            ax.errorbar(
                g.temperature,
                g["mean"],
                yerr=g["std"].fillna(0),
                label=est,
                capsize=2,
                **_estimator_style(est),
            )
        for est, d in free.groupby("estimator", sort=False):
            level = float(d[col].mean())
            ax.axhline(level, ls=":", color="grey")
            ax.annotate(
                est,
                (0.99, level),
                xycoords=("axes fraction", "data"),
                annotation_clip=True,
                ha="right",
                fontsize=7,
                color="grey",
            )
        for ref_label, ref_col in (references or {}).get(col, []):
            level = float(rows[ref_col].mean())
            ax.axhline(level, ls="--", color="k", lw=1)
            ax.annotate(
                ref_label,
                (0.01, level),
                xycoords=("axes fraction", "data"),
                annotation_clip=True,
                fontsize=7,
                va="bottom",
            )
        ax.set_xscale("log")
        ax.set_xlabel("τ")
        ax.set_title(label)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title)
    return _save(fig, out / name)


def vae_figures(rows: pd.DataFrame, out: Path) -> list[Path]:
    """Held-out negative ELBO and R² of the Poisson VAE against the final temperature."""
    metrics = [("neg_elbo", "held-out negative ELBO (hard samples)"), ("r2", "R²")]
    datasets = ", ".join(sorted(rows.dataset.unique()))
    return [task_figure(rows, out, metrics, "vae_temperature.png", f"Poisson VAE ({datasets})")]


def poglm_figures(rows: pd.DataFrame, out: Path) -> list[Path]:
    """Test ELBO, marginal log-likelihood and weight errors of the POGLM against τ."""
    metrics = [
        ("elbo", "test ELBO (nats/sequence)"),
        ("marginal_ll", "test log p(visible), IW"),
        ("weight_error", "weight error mean|W − Ŵ|"),
        ("visible_weight_error", "visible→visible weight error"),
    ]
    refs = {
        "weight_error": [
            ("zero guess", "zero_weight_error"),
            ("fully observed fit", "observed_weight_error"),
        ],
        "visible_weight_error": [
            ("zero guess", "zero_visible_weight_error"),
            ("fully observed fit", "observed_visible_weight_error"),
        ],
    }
    settings = ", ".join(sorted(rows.setting.unique()))
    return [task_figure(rows, out, metrics, "poglm_temperature.png", f"POGLM ({settings})", refs)]
