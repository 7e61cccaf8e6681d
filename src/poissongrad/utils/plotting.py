"""Plotting helpers shared by the experiments' figures (PNG, written atomically).

Matplotlib runs headless (Agg). Every figure is saved through :func:`save_figure`, which writes
a unique temporary file and replaces the target, so concurrent runs never leave half a PNG.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from poissongrad.registry import REGISTRY  # noqa: E402
from poissongrad.utils.atomic import atomic_path  # noqa: E402
from poissongrad.utils.stats import mean_se  # noqa: E402

__all__ = [
    "FONT_SIZE",
    "colour",
    "estimator_style",
    "figure_legend",
    "level_lines",
    "panel_grid",
    "plt",
    "save_figure",
    "split_by_temperature",
    "task_figure",
    "tau_colours",
]


#: The smallest text in a figure (points): the report shows figures at most ~12 inches wide,
#: so text stays ≥ 9 pt where it is read.
FONT_SIZE = 9

#: Panels per row: wider figures would be shrunk to fit the page, and their text with them.
MAX_COLUMNS = 3


def panel_grid(n: int, width: float, height: float) -> tuple[plt.Figure, list]:
    """A figure of ``n`` panels of ``width`` × ``height`` inches, at most :data:`MAX_COLUMNS`
    per row; returns (figure, the ``n`` axes in reading order), spare axes removed."""
    columns = min(n, MAX_COLUMNS)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows),
                             squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.remove()
    return fig, flat[:n]


def figure_legend(fig: plt.Figure, axes, title: str | None = None) -> None:
    """One legend for the whole figure, just right of the panels (labels merged across axes;
    call it once the panels are laid out)."""
    handles: dict = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    if handles:
        right = max(ax.get_position().x1 for ax in fig.axes)
        fig.legend(handles.values(), handles.keys(), loc="center left",
                   bbox_to_anchor=(right + 0.01, 0.5), fontsize=FONT_SIZE, title=title,
                   title_fontsize=FONT_SIZE)


def level_lines(ax, levels: dict[str, tuple[float, float]]) -> None:
    """τ-free estimators' results across a τ axis: for each name → (level, se), a dotted line
    at the level in its colour with a grey ± se band (se > 0), labelled at the right edge;
    labels of levels closer than 4 % of the axis' height share one line of text ("a, b"), so
    they never print over each other."""
    low, high = ax.get_ylim()
    close = 0.04 * (high - low)
    groups: list[list[tuple[str, float]]] = []
    finite = {name: v for name, v in levels.items() if math.isfinite(v[0])}  # not measured: none
    for name, (level, se) in sorted(finite.items(), key=lambda item: item[1][0]):
        ax.axhline(level, lw=1, ls=":", color=colour(name))
        if se > 0:
            ax.axhspan(level - se, level + se, color="grey", alpha=0.15)
        if groups and level - groups[-1][-1][1] < close:
            groups[-1].append((name, level))
        else:
            groups.append([(name, level)])
    for group in groups:
        ax.annotate(
            ", ".join(name for name, _ in group),
            (0.99, sum(level for _, level in group) / len(group)),
            xycoords=("axes fraction", "data"),
            annotation_clip=True,
            ha="right",
            fontsize=FONT_SIZE,
            color="grey",
        )


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


#: Markers, in the registry's order (paired with :func:`_palette`'s colours).
_MARKERS = "osD^vP*Xph<>"


def _palette() -> list:
    """20 distinguishable colours: matplotlib's tab10, then ten darker or bolder hues none of
    them resembles (navy, teal, gold, magenta, olive, maroon, slate, coral, indigo, black)."""
    extra = ["#1a1a6e", "#008080", "#b8860b", "#c71585", "#556b2f",
             "#800000", "#708090", "#ff7f50", "#4b0082", "#000000"]
    return [*plt.get_cmap("tab10").colors, *extra]


def estimator_style(name: str) -> dict:
    """Colour, marker and line style of estimator ``name``, the same in every figure.

    Each estimator gets its own colour and marker from its place in the registry; a
    straight-through variant shares its relaxation's colour, dashed with a hollow marker.
    Names outside the registry (references such as ``exact``) are black.
    """
    record = REGISTRY.get(name)
    if record is None:
        return {"color": "k", "marker": ".", "ls": "-"}
    own = [n for n, r in REGISTRY.items() if not r.straight_through]
    i = own.index(record.relaxation if record.straight_through else name)
    style = {"color": _palette()[i % 20], "marker": _MARKERS[i % len(_MARKERS)], "ls": "-"}
    if record.straight_through:
        style.update(ls="--", markerfacecolor="none")
    return style


def colour(name: str) -> tuple:
    """The colour of estimator ``name`` (see :func:`estimator_style`)."""
    return estimator_style(name)["color"]


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
    fig, axes = panel_grid(len(metrics), 4.4, 3.6)
    relaxed, free = split_by_temperature(rows)
    for ax, (col, label) in zip(axes, metrics, strict=True):
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
                **estimator_style(est),
            )
        level_lines(
            ax,
            {
                est: (
                    float(d[col].mean()),
                    float(d[col].std() / len(d) ** 0.5) if len(d) > 1 else 0.0,
                )
                for est, d in free.groupby("estimator", sort=False)
            },
        )
        for ref_label, ref_col in (references or {}).get(col, []):
            level = float(rows[ref_col].mean())
            ax.axhline(level, ls="--", color="k", lw=1)
            ax.annotate(
                ref_label,
                (0.01, level),
                xycoords=("axes fraction", "data"),
                annotation_clip=True,
                fontsize=FONT_SIZE,
                va="bottom",
            )
        if (relaxed.temperature > 0).any():
            ax.set_xscale("log")
        ax.set_xlabel("final τ")
        ax.set_title(label)
    fig.suptitle(title)
    fig.tight_layout()
    figure_legend(fig, axes)
    return save_figure(fig, out / name)
