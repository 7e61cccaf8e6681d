"""Plotting helpers shared by the experiments' figures (PNG, written atomically).

Matplotlib runs headless (Agg). Every figure is saved through :func:`save_figure`, which writes
a unique temporary file and replaces the target, so concurrent runs never leave half a PNG.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from poissongrad.atomic import atomic_path  # noqa: E402
from poissongrad.registry import REGISTRY  # noqa: E402
from poissongrad.stats import mean_se  # noqa: E402

__all__ = [
    "colour",
    "estimator_style",
    "plt",
    "save_figure",
    "split_by_temperature",
    "task_figure",
    "tau_colours",
]


def save_figure(fig: plt.Figure, path: Path) -> Path:
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def tau_colours(taus: list[float]):
    cmap = plt.get_cmap("viridis")
    return {t: cmap(i / max(len(taus) - 1, 1)) for i, t in enumerate(taus)}


def colour(name: str, names: list[str]):
    cmap = plt.get_cmap("tab10")
    return cmap(names.index(name) % 10)


def estimator_style(name: str) -> dict:
    straight_through = name in REGISTRY and REGISTRY[name].straight_through
    return {"ls": "--" if straight_through else "-", "marker": "."}


def split_by_temperature(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows of estimators that use τ, rows of those that do not)."""
    uses = rows.uses_temperature.astype(bool)
    return rows[uses], rows[~uses]


def task_figure(
    rows: pd.DataFrame,
    out: Path,
    metrics: list[tuple[str, str]],
    name: str,
    title: str,
    references: dict[str, list[tuple[str, str]]] | None = None,
) -> Path:
    """The paper's Fig. 4: task metrics against τ, one line per estimator, mean ± SE over
    seeds (and networks); estimators that do not use τ (``uses_temperature`` false) are
    horizontal lines with a grey ± SE band. ``references`` maps a metric to (label, column)
    pairs drawn as dashed black lines at the column's mean."""
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4), squeeze=False)
    relaxed, free = split_by_temperature(rows)
    names = list(dict.fromkeys(rows.estimator))
    for ax, (col, label) in zip(axes[0], metrics, strict=True):
        for est, d in relaxed.groupby("estimator", sort=False):
            g = mean_se(d.dropna(subset=[col]), "temperature", col)
            if not len(g):
                continue
            ax.errorbar(
                g.temperature,
                g["mean"],
                yerr=g["se"],
                label=est,
                capsize=2,
                color=colour(est, names),
                **estimator_style(est),
            )
        for est, d in free.groupby("estimator", sort=False):
            level = float(d[col].mean())
            se = float(d[col].std() / max(len(d), 1) ** 0.5) if len(d) > 1 else 0.0
            ax.axhline(level, ls=":", color=colour(est, names))
            ax.axhspan(level - se, level + se, color="grey", alpha=0.15)
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
        if (relaxed.temperature > 0).any():
            ax.set_xscale("log")
        ax.set_xlabel("final τ")
        ax.set_title(label)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title)
    return save_figure(fig, out / name)
