"""Figures of the fidelity and gradient experiments, made from their stored rows (PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

from poissongrad.atomic import atomic_path

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from poissongrad.registry import REGISTRY  # noqa: E402

__all__ = [
    "fidelity_figures",
    "generalisability_figures",
    "grasshopper_figures",
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
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def _tau_colours(taus: list[float]):
    cmap = plt.get_cmap("viridis")
    return {t: cmap(i / max(len(taus) - 1, 1)) for i, t in enumerate(taus)}


#: Rates at which the fidelity figures plot against τ (the nearest stored rates).
FIGURE_RATES = (1.0, 5.0, 20.0)


def _colour(name: str, names: list[str]):
    cmap = plt.get_cmap("tab10")
    return cmap(names.index(name) % 10)


def fidelity_figures(rows: pd.DataFrame, out: Path) -> list[Path]:
    """The paper's Fig. 1 and 2: mean/λ, variance/λ and W1/√λ against τ, one panel per rate,
    one line per relaxation; closed-form EAT moments dashed, exact draws as the W1 floor."""
    out.mkdir(parents=True, exist_ok=True)
    relaxed = rows[rows.uses_temperature.astype(bool)]
    floor = rows[~rows.uses_temperature.astype(bool)]
    methods = list(dict.fromkeys(relaxed.estimator))
    rates = list(dict.fromkeys(nearest(rows.rate, r) for r in FIGURE_RATES))
    paths = []

    panels = [("mean_ratio", "mean / λ"), ("var_ratio", "variance / λ")]
    fig, axes = plt.subplots(2, len(rates), figsize=(4.2 * len(rates), 6.4), squeeze=False)
    for j, lam in enumerate(rates):
        for i, (col, label) in enumerate(panels):
            ax = axes[i, j]
            for method in methods:
                d = relaxed[(relaxed.estimator == method) & (relaxed.rate == lam)]
                d = d.sort_values("temperature")
                c = _colour(method, methods)
                ax.plot(d.temperature, d[col], marker=".", color=c, label=method)
                closed = f"{col}_closed"
                if closed in d and d[closed].notna().any():
                    ax.plot(d.temperature, d[closed], color=c, ls=":", lw=1)
            ax.axhline(1.0, color="k", lw=0.8, ls="--")
            ax.set_title(f"λ = {lam:g}" if i == 0 else "")
            ax.set_xlabel("τ")
            ax.set_ylabel(label if j == 0 else "")
    axes[0, -1].legend(fontsize=7, title="dotted: closed form", title_fontsize=7)
    paths.append(_save(fig, out / "fidelity_moments.png"))

    fig, axes = plt.subplots(1, len(rates), figsize=(4.2 * len(rates), 3.4), squeeze=False)
    for j, lam in enumerate(rates):
        ax = axes[0, j]
        for method in methods:
            d = relaxed[(relaxed.estimator == method) & (relaxed.rate == lam)]
            d = d.sort_values("temperature")
            ax.plot(d.temperature, d.w1, marker=".", color=_colour(method, methods), label=method)
        level = floor[floor.rate == lam].w1
        if len(level):
            ax.axhline(float(level.mean()), color="k", ls="--", lw=1, label="exact draws")
        ax.set_yscale("log")
        ax.set_title(f"λ = {lam:g}")
        ax.set_xlabel("τ")
        ax.set_ylabel("W1 / √λ" if j == 0 else "")
    axes[0, -1].legend(fontsize=7)
    paths.append(_save(fig, out / "fidelity_w1.png"))
    return paths


GRADIENT_METRICS = (
    ("rel_bias", "relative bias"),
    ("rel_var", "relative variance"),
    ("cosine", "cos(mean, exact)"),
)
_BIAS_FLOOR = 1e-3  # the bias axis is linear below this (a bias can be exactly 0)


def _estimator_style(name: str) -> dict:
    straight_through = name in REGISTRY and REGISTRY[name].straight_through
    return {"ls": "--" if straight_through else "-", "marker": "."}


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
    relaxed, free = _split_by_temperature(rows)
    t0 = nearest(relaxed.temperature, tau) if len(relaxed) else tau
    names = list(dict.fromkeys(rows.estimator))
    paths = []

    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    at = rows[rows.rate == lam]
    for name, d in at.groupby("estimator", sort=False):
        d = d.sort_values("temperature")
        c = _colour(name, names)
        ax.errorbar(
            d.rel_var,
            d.rel_bias,
            yerr=_errors(d, "rel_bias"),
            color=c,
            capsize=2,
            label=name,
            **_estimator_style(name),
        )
        if REGISTRY[name].uses_temperature:
            for _, r in d.iloc[[0, -1]].iterrows():
                ax.annotate(f"τ={r.temperature:g}", (r.rel_var, r.rel_bias), fontsize=6, color=c)
    ax.set_xscale("log")
    _scale(ax, "rel_bias")
    ax.set_xlabel("relative variance ΣVar/‖g*‖²")
    ax.set_ylabel("relative bias ‖E g − g*‖/‖g*‖ (± SE)")
    ax.set_title(f"Gradient bias against variance, λ = {lam:g}")
    ax.legend(fontsize=6, ncol=2)
    paths.append(_save(fig, out / "gradients_bias_variance.png"))

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
                color=_colour(name, names),
                **_estimator_style(name),
            )
        for name, d in (levels if levels is not None else rows.iloc[:0]).groupby(
            "estimator", sort=False
        ):
            level = float(d[col].iloc[0])
            ax.axhline(level, lw=1, ls=":", color=_colour(name, names))
            ax.annotate(
                name,
                (0.99, level),
                xycoords=("axes fraction", "data"),
                annotation_clip=True,
                ha="right",
                fontsize=6,
                color="grey",
            )
        if x == "rate":
            ax.set_xscale("log")
        ax.set_xlabel(x_label)
        ax.set_title(f"{label}, {where}")
        _scale(ax, col)
    axes[-1].legend(fontsize=6, ncol=2)
    return _save(fig, path)


def _split_by_temperature(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows of estimators that use τ, rows of those that do not)."""
    uses = rows.uses_temperature.astype(bool)
    return rows[uses], rows[~uses]


def _mean_se(d: pd.DataFrame, by: str, col: str) -> pd.DataFrame:
    g = d.groupby(by)[col].agg(["mean", "std", "count"]).reset_index()
    g["se"] = (g["std"] / g["count"].clip(lower=1) ** 0.5).fillna(0.0)
    return g


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
    relaxed, free = _split_by_temperature(rows)
    names = list(dict.fromkeys(rows.estimator))
    for ax, (col, label) in zip(axes[0], metrics, strict=True):
        for est, d in relaxed.groupby("estimator", sort=False):
            g = _mean_se(d.dropna(subset=[col]), "temperature", col)
            if not len(g):
                continue
            ax.errorbar(
                g.temperature,
                g["mean"],
                yerr=g["se"],
                label=est,
                capsize=2,
                color=_colour(est, names),
                **_estimator_style(est),
            )
        for est, d in free.groupby("estimator", sort=False):
            level = float(d[col].mean())
            se = float(d[col].std() / max(len(d), 1) ** 0.5) if len(d) > 1 else 0.0
            ax.axhline(level, ls=":", color=_colour(est, names))
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
    return _save(fig, out / name)


def _with_exact_gap(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with ``gap_to_exact``: neg_elbo minus the exact run's of the same seed and data."""
    keys = ["dataset", "seed"]
    exact = rows[rows.estimator == "exact"].groupby(keys).neg_elbo.mean().rename("_exact")
    d = rows.join(exact, on=keys)
    return d.assign(gap_to_exact=d.neg_elbo - d._exact).drop(columns="_exact")


def vae_figures(rows: pd.DataFrame, out: Path) -> list[Path]:
    """Gap to the exact-gradient run and R² against the final temperature (mean ± SE over
    seeds), and the held-out learning curves at the smallest and largest τ."""
    datasets = ", ".join(sorted(rows.dataset.unique()))
    if (rows.estimator == "exact").any():
        d = _with_exact_gap(rows)
        d = d[d.estimator != "exact"]
        first = ("gap_to_exact", "held-out neg. ELBO − exact run (nats, hard samples)")
    else:
        d, first = rows, ("neg_elbo", "held-out negative ELBO (nats, hard samples)")
    metrics = [first, ("r2", "R²")]
    paths = [task_figure(d, out, metrics, "vae_temperature.png", f"Poisson VAE ({datasets})")]
    if "validation_curve" in rows:
        paths.append(_learning_curves(rows, out, datasets))
    return paths


def _learning_curves(rows: pd.DataFrame, out: Path, datasets: str) -> Path:
    """Held-out negative ELBO minus the exact run's of the same seed, after every epoch, at the
    smallest and largest final τ (mean ± SE over seeds)."""
    curves = {
        (r.estimator, r.temperature, r.seed): np.asarray(r.validation_curve, dtype=float)
        for r in rows.itertuples()
    }
    exact = {seed: c for (est, _, seed), c in curves.items() if est == "exact"}
    relaxed, free = _split_by_temperature(rows)
    taus = sorted(relaxed.temperature.unique()) or [0.0]
    ends = [taus[0], taus[-1]] if len(taus) > 1 else taus
    names = list(dict.fromkeys(rows.estimator))
    fig, axes = plt.subplots(1, len(ends), figsize=(6.2 * len(ends), 4.2), squeeze=False)
    for ax, tau in zip(axes[0], ends, strict=True):
        cells = pd.concat([relaxed[relaxed.temperature == tau], free])
        for est, d in cells[cells.estimator != "exact"].groupby("estimator", sort=False):
            gaps = [
                curves[est, t, s] - exact[s]
                for t, s in zip(d.temperature, d.seed, strict=True)
                if s in exact and len(exact[s]) == len(curves[est, t, s])
            ]
            if not gaps:
                continue
            gaps = np.array(gaps)
            mean = gaps.mean(0)
            se = gaps.std(0, ddof=1) / np.sqrt(len(gaps)) if len(gaps) > 1 else 0 * mean
            epochs = np.arange(1, len(mean) + 1)
            colour = _colour(est, names)
            ax.plot(epochs, mean, color=colour, label=est, **_estimator_style(est))
            ax.fill_between(epochs, mean - se, mean + se, color=colour, alpha=0.15)
        ax.axhline(0.0, color="k", lw=1, label="exact")
        ax.axvline(0.75 * ax.get_xlim()[1], color="grey", lw=0.8, ls=":")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_xlabel("epoch (dotted: start of the last quarter)")
        ax.set_ylabel("held-out neg. ELBO − exact run (nats)")
        ax.set_title(f"final τ = {tau:g}")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"Poisson VAE learning curves ({datasets}; same epochs for every estimator)")
    return _save(fig, out / "vae_learning_curves.png")


def poglm_figures(rows: pd.DataFrame, out: Path) -> list[Path]:
    """Test ELBO, marginal log-likelihood and weight errors of the POGLM against τ, one figure
    per network setting."""
    metrics = [
        ("elbo", "test ELBO (nats/sequence)"),
        ("marginal_ll", "test log p(visible), particle filter"),
        ("weight_error", "weight error mean|W − Ŵ|"),
        ("visible_weight_error", "visible→visible weight error"),
        ("vh_weight_error", "hidden→visible (v←h) weight error"),
    ]
    refs = {
        "vh_weight_error": [
            ("zero guess", "zero_vh_weight_error"),
            ("fully observed fit", "observed_vh_weight_error"),
        ],
        "weight_error": [
            ("zero guess", "zero_weight_error"),
            ("fully observed fit", "observed_weight_error"),
        ],
        "visible_weight_error": [
            ("zero guess", "zero_visible_weight_error"),
            ("fully observed fit", "observed_visible_weight_error"),
        ],
    }
    return [
        task_figure(d, out, metrics, f"poglm_{setting}.png", f"POGLM ({setting} setting)", refs)
        for setting, d in rows.groupby("setting", sort=False)
    ]


def generalisability_figures(rows: pd.DataFrame, out: Path) -> list[Path]:
    """Held-out negative ELBO minus the best method's on the same seed (paired: each seed has its
    own data) against τ, a panel per ground truth (law and dispersion), mean ± SE over seeds;
    estimators without τ are horizontal lines."""
    from poissongrad.report.tables import setting_best

    out.mkdir(parents=True, exist_ok=True)
    keys = ["law", "dispersion"]
    best = setting_best(rows)
    winner = best.loc[best.groupby(keys).neg_elbo.idxmin(), [*keys, "estimator", "temperature"]]
    ref = rows.merge(winner, on=[*keys, "estimator", "temperature"])[[*keys, "seed", "neg_elbo"]]
    d = rows.merge(ref.rename(columns={"neg_elbo": "_ref"}), on=[*keys, "seed"])
    d = d.assign(gap=d.neg_elbo - d._ref)
    settings = list(dict.fromkeys(zip(d.law, d.dispersion, strict=True)))
    names = list(dict.fromkeys(rows.estimator))
    fig, axes = plt.subplots(1, len(settings), figsize=(4.4 * len(settings), 3.8), squeeze=False)
    for ax, (law, dispersion) in zip(axes[0], settings, strict=True):
        cell = d[(d.law == law) & (d.dispersion == dispersion)]
        relaxed, free = _split_by_temperature(cell)
        for est, g in relaxed.groupby("estimator", sort=False):
            m = _mean_se(g, "temperature", "gap")
            ax.errorbar(
                m.temperature,
                m["mean"],
                yerr=m["se"],
                label=est,
                capsize=2,
                color=_colour(est, names),
                **_estimator_style(est),
            )
        for est, g in free.groupby("estimator", sort=False):
            ax.axhline(float(g.gap.mean()), ls=":", color=_colour(est, names), label=est)
        ax.axhline(0.0, color="k", lw=0.8)
        taus = sorted(relaxed.temperature.unique())
        if taus:
            ax.set_xscale("log")
            ax.set_xticks(taus, [f"{t:g}" for t in taus])
            ax.minorticks_off()
        symbol = "r" if law == "negative_binomial" else "ν"
        ax.set_title(f"{law.replace('_', ' ')}, {symbol} = {dispersion:g}")
        ax.set_xlabel("final τ")
    axes[0, 0].set_ylabel("held-out neg. ELBO − best method (nats, paired by seed)")
    handles = {}
    for ax in axes[0]:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    fig.legend(handles.values(), handles.keys(), loc="upper right", fontsize=8)
    return [_save(fig, out / "generalisability.png")]


def grasshopper_figures(rows: pd.DataFrame, out: Path) -> list[Path]:
    """Held-out gain in log p(visible) over the fit without hidden neurons against the number
    of hidden neurons, one point per seed ± its SE, a colour per estimator."""
    out.mkdir(parents=True, exist_ok=True)
    hidden = rows[rows.n_hidden > 0]
    names = list(dict.fromkeys(hidden.estimator))
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    for i, (est, g) in enumerate(hidden.groupby("estimator", sort=False)):
        x = g.n_hidden + 0.08 * (i - (len(names) - 1) / 2)
        ax.errorbar(
            x, g.gain, yerr=g.gain_se, fmt="o", capsize=2, label=est, color=_colour(est, names)
        )
    ax.axhline(0.0, color="k", lw=0.8, label="no hidden neuron")
    ax.set_xticks(sorted(hidden.n_hidden.unique()))
    ax.set_xlabel("hidden neurons")
    ax.set_ylabel("held-out log p(visible) − no hidden (nats/seq.)")
    ax.set_title("Grasshopper receptor: do hidden neurons help?")
    ax.legend(fontsize=8)
    return [_save(fig, out / "grasshopper.png")]
