"""Plain-text summary tables of experiments, made from their stored rows."""

from __future__ import annotations

import pandas as pd

from poissongrad.metrics.identifiability import TRUST_THRESHOLD
from poissongrad.report.figures import nearest

__all__ = [
    "fidelity_summary_table",
    "generalisability_summary_table",
    "grasshopper_summary_table",
    "setting_best",
    "setting_gaps",
    "gradient_notes",
    "vae_notes",
    "gradient_summary_table",
    "poglm_summary_table",
    "task_summary_table",
    "vae_summary_table",
]


def fidelity_summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean over rates of W1/√λ and of |mean/λ − 1|, per relaxation (rows) and τ (columns)."""
    d = rows.assign(mean_error=(rows.mean_ratio - 1).abs())
    table = d.pivot_table(index="estimator", columns="temperature", values=["w1", "mean_error"])
    return table.round(4)


def gradient_summary_table(rows: pd.DataFrame, rate: float = 5.0) -> pd.DataFrame:
    """Relative bias, relative variance and cosine per estimator and τ, at the rate nearest λ."""
    lam = nearest(rows.rate, rate)
    d = rows[rows.rate == lam]
    values = ["rel_bias", "rel_var", "cosine"]
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


def vae_notes(rows: pd.DataFrame) -> str:
    """The convergence criterion and whether it held, for the exact runs and for all runs."""
    if "converged" not in rows:
        return ""
    exact = rows[rows.estimator == "exact"]
    held = int(rows.converged.astype(bool).sum())
    text = (
        "Convergence criterion: the held-out negative ELBO changes by less than 1% between the "
        "3 epochs ending at three quarters of training and the last 3 epochs. "
    )
    if len(exact):
        text += (
            f"Exact runs: largest change {exact.last_quarter_change.max():.2%} "
            f"({int(exact.converged.astype(bool).sum())} of {len(exact)} converged). "
        )
    return text + f"All runs: {held} of {len(rows)} converged with the same budget of epochs."


def _mean_pm_se(values: pd.Series) -> str:
    n = values.count()
    if n == 0:
        return ""
    if n == 1:
        return f"{values.mean():.2f}"
    return f"{values.mean():.2f} ± {values.std() / n**0.5:.2f}"


def task_summary_table(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """'mean ± SE' over seeds (and networks) of a task metric per estimator (rows) and final τ
    (columns; '—' for estimators without a temperature)."""
    uses = rows.uses_temperature.astype(bool)
    d = rows.assign(tau=rows.temperature.where(uses, float("inf")))
    table = d.pivot_table(index="estimator", columns="tau", values=metric, aggfunc=_mean_pm_se)
    table = table[sorted(table.columns)]
    table.columns = [f"τ={c:g}" if c != float("inf") else "no τ" for c in table.columns]
    return table.fillna("")


def vae_summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Held-out negative ELBO minus that of the exact run of the same seed (nats, mean ± SE over
    seeds), per estimator and final τ; the exact run's own value in the last row."""
    keys = ["dataset", "seed"]
    exact = rows[rows.estimator == "exact"].groupby(keys).neg_elbo.mean().rename("_exact")
    if not len(exact):
        return task_summary_table(rows, "neg_elbo")
    d = rows.join(exact, on=keys)
    d = d.assign(gap=d.neg_elbo - d._exact)
    table = task_summary_table(d[d.estimator != "exact"], "gap")
    column = "no τ" if "no τ" in table.columns else table.columns[0]
    table.loc["exact (its neg. ELBO)", column] = _mean_pm_se(exact)
    return table.fillna("")


#: POGLM weight-error columns shown per block: (row key, column title).
_BLOCK_COLUMNS = (
    ("weight_error", "all W"),
    ("vv_weight_error", "v←v"),
    ("vh_weight_error", "v←h"),
    ("hv_weight_error", "h←v"),
    ("hh_weight_error", "h←h"),
)


def poglm_summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per network setting: test ELBO (mean ± SE over networks and seeds) per estimator and τ,
    then the mean weight error, overall and per block (v←h: visible neurons driven by hidden
    ones), of each estimator (averaged over τ), of the zero guess and of the fully observed fit,
    and the identifiability check's share of information kept per block. Errors of a block the
    check does not trust (share < 0.5) are marked †."""
    parts = []
    for setting, d in rows.groupby("setting", sort=False):
        table = task_summary_table(d, "elbo")
        for key, title in _BLOCK_COLUMNS:
            if key not in d:
                continue
            column = f"error {title}"
            share = f"share_{key[:2]}"
            known = key != "weight_error" and share in d and d[share].notna().any()
            mark = " †" if known and d[share].mean() < TRUST_THRESHOLD else ""
            table[column] = d.groupby("estimator")[key].mean().map(f"{{:.3f}}{mark}".format)
            for label, prefix in (("zero guess", "zero_"), ("fully observed fit", "observed_")):
                if prefix + key in d:
                    table.loc[label, column] = f"{d[prefix + key].mean():.3f}"
            if known:
                table.loc["information kept (check)", column] = f"{d[share].mean():.2f}"
        table.index = [f"{setting}: {label}" for label in table.index]
        parts.append(table)
    return pd.concat(parts).fillna("") if parts else pd.DataFrame()


def grasshopper_summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per model (hidden neurons, estimator, τ): held-out log p(visible) by the particle filter,
    the gain over the fit without hidden neurons (paired by held-out sequence and seed; mean
    over seeds ± the mean per-seed SE), and the identifiability shares at the fitted
    parameters, means over seeds."""
    label = rows.apply(
        lambda r: (
            "no hidden neuron"
            if r.n_hidden == 0
            else f"{r.n_hidden} hidden: {r.estimator}"
            + (f" τ={r.temperature:g}" * r.uses_temperature)
        ),
        axis=1,
    )
    g = rows.assign(model=label).groupby("model", sort=False)
    table = pd.DataFrame(
        {
            "held-out log p(visible)": g.marginal_ll.mean().map("{:.3f}".format),
            "gain over no hidden ± SE": (
                g.gain.mean().map("{:+.3f}".format) + " ± " + g.gain_se.mean().map("{:.3f}".format)
            ),
            "seeds": g.seed.nunique().astype(str),
        }
    )
    for block, title in (("vh", "v←h"), ("hv", "h←v"), ("hh", "h←h")):
        table[f"info kept {title}"] = (
            g[f"share_{block}"]
            .mean()
            .map(lambda v: "" if pd.isna(v) else f"{v:.2f}" + (" †" if v < TRUST_THRESHOLD else ""))
        )
    return table


def setting_best(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (law, dispersion, estimator): the seed-mean held-out negative ELBO at the estimator's
    best final τ, its SE over seeds, and the mean dispersion error there."""
    cells = (
        rows.groupby(["law", "dispersion", "estimator", "temperature"])
        .agg(
            neg_elbo=("neg_elbo", "mean"),
            sd=("neg_elbo", "std"),
            n=("neg_elbo", "count"),
            dispersion_error=("dispersion_error", "mean"),
        )
        .reset_index()
    )
    best = cells.loc[cells.groupby(["law", "dispersion", "estimator"]).neg_elbo.idxmin()]
    best = best.assign(se=(best.sd / best.n.clip(lower=1) ** 0.5).fillna(0.0))
    return best.drop(columns=["sd", "n"]).reset_index(drop=True)


def setting_gaps(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (law, dispersion, estimator) at the estimator's best τ: the held-out negative ELBO
    minus that of the setting's best estimator on the same seed (same data), mean ± SE over
    seeds (``gap``, ``gap_se``; the best estimator has 0), and ``reference`` (its |mean|)."""
    best = setting_best(rows)
    keys = ["law", "dispersion"]
    chosen = rows.merge(
        best[[*keys, "estimator", "temperature"]], on=[*keys, "estimator", "temperature"]
    )
    winner = best.loc[best.groupby(keys).neg_elbo.idxmin(), [*keys, "estimator"]]
    ref = chosen.merge(winner, on=[*keys, "estimator"])[[*keys, "seed", "neg_elbo"]]
    ref = ref.rename(columns={"neg_elbo": "_ref"})
    paired = chosen.merge(ref, on=[*keys, "seed"])
    paired = paired.assign(gap=paired.neg_elbo - paired._ref)
    out = (
        paired.groupby([*keys, "estimator"])
        .agg(gap=("gap", "mean"), sd=("gap", "std"), n=("gap", "count"), reference=("_ref", "mean"))
        .reset_index()
    )
    out["gap_se"] = (out.sd / out.n.clip(lower=1) ** 0.5).fillna(0.0)
    out["reference"] = out.reference.abs()
    return out.drop(columns=["sd", "n"])


def generalisability_summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Held-out negative ELBO ± SE at each estimator's best τ (and that τ), and the dispersion
    error, per ground truth (columns) and estimator (rows); blank where it cannot express
    the law."""
    best = setting_best(rows)
    table = pd.DataFrame(index=list(dict.fromkeys(best.estimator)))
    for (law, dispersion), d in best.groupby(["law", "dispersion"], sort=False):
        label = f"{'NB r' if law == 'negative_binomial' else 'COM ν'}={dispersion:g}"
        for r in d.itertuples():
            table.loc[r.estimator, f"{label}: neg. ELBO"] = (
                f"{r.neg_elbo:.2f} ± {r.se:.2f} (τ={r.temperature:g})"
            )
            table.loc[r.estimator, f"{label}: disp. err."] = f"{r.dispersion_error:.2f}"
    table.index.name = "estimator"
    return table.fillna("")
