"""Hide a recorded retinal ganglion cell, infer it as a hidden neuron, score against its spikes.

On a real population nobody knows the connectivity, but hiding a cell that *was* recorded
gives a ground truth. The test is posed so that its answer is knowable, by rules fixed before
any fit was looked at:

* **Units screened for duplicates.** Of each pair of units sharing more than half the less
  active one's spikes within ±1 ms (one cell sorted twice,
  :func:`poissongrad.data.retina.duplicate_units`), the less active unit is removed: a hidden
  cell never has a visible twin.
* **A predictability ceiling per candidate.** For every screened cell, a ridge readout of its
  trial-to-trial residual (spikes minus its PSTH) from all the other cells' residuals at lags
  ±30 ms (:func:`poissongrad.metrics.readout.ridge_ceilings`): the most any model of the
  visible spikes could recover of it. The hidden cells are the candidates whose
  cross-validated 100 ms ceiling on *training* trials is at least :data:`QUALIFY` times the
  test bar 2/√n (n = test trials × 100 ms bins), ranked by that ceiling: the quick grid takes
  the first 3, the paper grid the first 6. The test trials stay untouched by the choice.
* **A stimulus drive that is not misspecified.** Every visible cell's own PSTH (smoothed,
  leave-one-trial-out on training trials, the training PSTH on test trials) is a fixed offset
  of its drive (the link's inverse); the hidden neuron's stimulus drive is a learned filter of
  the same offsets. The reference without a hidden neuron is then "PSTH + coupling", so a
  likelihood gain can only come from shared trial-to-trial variability.
* **A sign- and scale-free recovery score.** A readout of the hidden cell's residual from the
  inferred trace (q's expected hidden counts, residual to its own trial mean, lags ±30 ms),
  fitted on training trials and scored on test trials: correlation at 10 and 100 ms and
  bits per spike over the PSTH, each also as a fraction of the cell's ceiling (the same
  readouts from the visible cells' spikes).
* **The literature's number.** The held-out log-likelihood of the visible cells per visible
  spike (bits) by the particle filter, for the POGLM and for the fully observed GLM of the
  same cells (the reference), as diff-POGLM reports it; their difference is the gain.

Each fit trains to a convergence criterion: early stopping on 20 % of the training trials
(patience 10 epochs, at most ``epochs``). Data: :func:`poissongrad.data.retina.load_retina`
(Onken et al. 2016), recording 2, movie 2, 10 ms bins, 24 training and 6 test trials of 18 s.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from poissongrad.data.retina import duplicate_units, load_retina
from poissongrad.experiments.base import Experiment
from poissongrad.experiments.grids import Grid
from poissongrad.glm import get_link
from poissongrad.metrics.readout import (
    lagged_features,
    poisson_readout_bits,
    residuals,
    ridge_ceilings,
    ridge_readout,
)
from poissongrad.models.base import model_from
from poissongrad.models.poglm import POGLM
from poissongrad.registry import REGISTRY, tagged
from poissongrad.utils.hashing import seed_for
from poissongrad.utils.plotting import FONT_SIZE, colour, figure_legend, plt, save_figure

__all__ = ["EXPERIMENT", "RetinaConfig", "chosen_cells", "grid_configs", "run", "screened_cells"]

#: Bins of the PSTH smoothing window (50 ms at 10 ms bins).
SMOOTH_BINS = 5
#: Spike-history and coupling filters over this many bins (50 ms at 10 ms bins).
HISTORY = 5
#: Bins summed for the coarse scores (100 ms at 10 ms bins).
COARSE = 10
#: A candidate qualifies as a hidden cell when its training-CV 100 ms ceiling is at least this
#: many times the test bar 2/√n.
QUALIFY = 2.0
#: Hidden cells per grid (the first of the ranked qualifying candidates).
HIDDEN_CELLS = {"quick": 3, "paper": 6, "smoke": 1}
#: A likelihood gain whose 2-SE interval lies within ±GAIN_MARGIN bits per visible spike is
#: "none".
GAIN_MARGIN = 0.01
#: Particle filter of the held-out likelihood: particles per filter, independent filters.
PARTICLES, REPEATS = 200, 2


@dataclass(frozen=True)
class RetinaConfig:
    """One fit: the cell at position ``rank`` of the ranked qualifying candidates is hidden;
    the model has ``n_hidden`` = 1 hidden neuron for it, or 0 for the "PSTH + coupling"
    reference on the same visible cells."""

    rank: int
    n_hidden: int
    estimator: str
    temperature: float
    seed: int = 0
    recording: str = "recording2"
    movie: str = "movie2"
    bin_ms: int = 10
    epochs: int = 100
    lr: float = 0.02
    batch_size: int = 8
    patience: int = 10


@lru_cache(maxsize=4)
def _data(recording: str, movie: str, bin_ms: int):
    return load_retina(recording, movie, bin_ms)


@lru_cache(maxsize=4)
def screened_cells(recording: str, movie: str) -> np.ndarray:
    """Neuron ids left after removing the less active unit of every duplicate pair."""
    data = _data(recording, movie, 1000)
    dropped = {a for a, _, _ in duplicate_units(recording, movie)}
    return np.array([c for c in range(data.train_counts.shape[-1]) if c not in dropped])


def test_bar(recording: str, movie: str, bin_ms: int) -> float:
    """2/√n: two standard errors of a correlation of n independent 100 ms test bins."""
    data = _data(recording, movie, bin_ms)
    n = len(data.test_trials) * (data.test_counts.shape[1] // COARSE)
    return 2.0 / math.sqrt(n)


@lru_cache(maxsize=4)
def ceilings(recording: str, movie: str, bin_ms: int) -> pd.DataFrame:
    """Ridge ceilings of every screened cell (index: neuron id): ``corr_fine``,
    ``corr_coarse`` (test trials), ``cv_coarse`` (training trials, cross-validated)."""
    data = _data(recording, movie, bin_ms)
    cells = screened_cells(recording, movie)
    scores = ridge_ceilings(
        data.train_counts[..., cells], data.test_counts[..., cells], SMOOTH_BINS, COARSE
    )
    return pd.DataFrame(scores, index=pd.Index(cells, name="cell"))


def chosen_cells(recording: str, movie: str, bin_ms: int) -> list[int]:
    """Neuron ids of the qualifying candidates, best training-CV ceiling first."""
    table = ceilings(recording, movie, bin_ms)
    bar = test_bar(recording, movie, bin_ms)
    qualified = table[table.cv_coarse >= QUALIFY * bar]
    return [
        int(c) for c in qualified.sort_values("cv_coarse", ascending=False, kind="stable").index
    ]


@lru_cache(maxsize=16)
def _ceiling_bits(recording: str, movie: str, bin_ms: int, cell: int) -> float:
    """Held-out bits per spike of ``cell`` that the other screened cells' residuals (lags
    ±30 ms) add to its PSTH: the likelihood ceiling (a leave-one-neuron-out Poisson GLM)."""
    data = _data(recording, movie, bin_ms)
    cells = screened_cells(recording, movie)
    others = cells[cells != cell]
    r_train, r_test, _, _ = residuals(
        data.train_counts[..., others], data.test_counts[..., others], SMOOTH_BINS
    )
    _, _, loo, psth = residuals(
        data.train_counts[..., [cell]], data.test_counts[..., [cell]], SMOOTH_BINS
    )
    return poisson_readout_bits(
        lagged_features(r_train),
        data.train_counts[..., cell],
        loo[..., 0],
        lagged_features(r_test),
        data.test_counts[..., cell],
        psth[:, 0],
    )


def _offsets(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The visible cells' fixed drives: the link's inverse of their PSTH (leave-one-trial-out
    on training trials, (trials, bins, V); the training PSTH on test trials, (bins, V))."""
    _, _, loo, psth = residuals(train, test, SMOOTH_BINS)
    inverse = get_link("softplus").inverse
    return inverse(loo).numpy(), inverse(psth).numpy()


def _fit(config: RetinaConfig, cell: int, train: np.ndarray, offsets: np.ndarray) -> POGLM:
    record = REGISTRY[config.estimator]
    hidden = config.n_hidden > 0
    model = model_from(
        POGLM,
        config,
        estimator=config.estimator if hidden else "score_loo",
        temperature=config.temperature if record.uses_temperature and hidden else 0.0,
        n_samples=5 if record.score_function or not hidden else 1,
        history=HISTORY,
        input_history=1,
        input_targets="hidden",
        validation_fraction=0.2,
        random_state=seed_for(config.seed, "retina fit", config.n_hidden, cell),
    )
    inputs = offsets if hidden else None  # the hidden neuron's drive: a filter of the PSTHs
    return model.fit(train, inputs=inputs, offsets=offsets)


def _recovery(
    trace_train: np.ndarray, trace_test: np.ndarray, real_train: np.ndarray, real_test: np.ndarray
) -> dict[str, float]:
    """Readouts of the hidden cell's residual from the inferred trace (trials, bins)."""
    t_train, t_test, _, _ = residuals(trace_train[..., None], trace_test[..., None], SMOOTH_BINS)
    r_train, r_test, loo, psth = residuals(real_train[..., None], real_test[..., None], SMOOTH_BINS)
    f_train, f_test = lagged_features(t_train), lagged_features(t_test)
    ridge = ridge_readout(f_train, r_train[..., 0], f_test, r_test[..., 0], COARSE)
    bits = poisson_readout_bits(f_train, real_train, loo[..., 0], f_test, real_test, psth[:, 0])
    return {"corr_fine": ridge["corr_fine"], "corr_coarse": ridge["corr_coarse"], "bits": bits}


def run(config: RetinaConfig) -> list[dict]:
    """One row: the hidden cell's ceiling, the fit's held-out likelihood of the visible cells
    and (with a hidden neuron) the recovery of the hidden cell from the inferred trace."""
    key = (config.recording, config.movie, config.bin_ms)
    data = _data(*key)
    chosen = chosen_cells(*key)
    if not 0 <= config.rank < len(chosen):
        raise ValueError(
            f"rank {config.rank}: only {len(chosen)} cells qualify as hidden cells "
            f"(training-CV ceiling >= {QUALIFY:g} × 2/√n)"
        )
    if config.n_hidden not in (0, 1):
        raise ValueError("n_hidden must be 1 (the hidden cell) or 0 (the reference)")
    cell = chosen[config.rank]
    cells = screened_cells(config.recording, config.movie)
    visible = cells[cells != cell]
    train, test = data.train_counts[..., visible], data.test_counts[..., visible]
    off_train, off_test = _offsets(train, test)
    started = time.perf_counter()
    model = _fit(config, cell, train, off_train)
    seconds = time.perf_counter() - started
    inputs_test = off_test if config.n_hidden else None
    if config.n_hidden:
        ll, se = model.score_samples(
            test, PARTICLES, REPEATS, seed_for(config.seed, "particles"), inputs_test, off_test
        )
        ll_mean, ll_se = float(ll.mean()), float(se.pow(2).sum().sqrt() / len(se))
    else:  # nothing hidden: the likelihood is exact, no particles needed
        x, glm = model.design(test, None, off_test)
        ll_mean, ll_se = float(glm.log_likelihood(x).mean()), 0.0
    spikes = float(test.sum()) / len(test)
    table = ceilings(*key)
    row = {
        **asdict(config),
        "uses_temperature": bool(REGISTRY[config.estimator].uses_temperature and config.n_hidden),
        "hidden_cell": cell,
        "n_visible": len(visible),
        "trace": [],
        "marginal_ll": ll_mean,
        "marginal_ll_se": ll_se,
        "bits_per_spike": ll_mean / (spikes * math.log(2)),
        "bits_per_spike_se": ll_se / (spikes * math.log(2)),
        "ceiling_corr_fine": float(table.corr_fine[cell]),
        "ceiling_corr_coarse": float(table.corr_coarse[cell]),
        "ceiling_cv_coarse": float(table.cv_coarse[cell]),
        "ceiling_bits": _ceiling_bits(*key, cell),
        "epochs_run": len(model.loss_curve_),
        "best_epoch": model.best_epoch_,
        "fit_seconds": seconds,
        **{f"recovery_{k}": math.nan for k in ("corr_fine", "corr_coarse", "bits")},
        "fraction_corr": math.nan,
        "fraction_bits": math.nan,
        "cell_rate": float(data.test_counts[..., cell].mean()),
        "trace_rate": math.nan,
    }
    if config.n_hidden:
        trace_train = model.posterior_rates(train, off_train, off_train).numpy()[..., 0]
        trace_test = model.posterior_rates(test, inputs_test, off_test).numpy()[..., 0]
        scores = _recovery(
            trace_train, trace_test, data.train_counts[..., cell], data.test_counts[..., cell]
        )
        row.update({f"recovery_{k}": v for k, v in scores.items()})
        row["fraction_corr"] = scores["corr_coarse"] / row["ceiling_corr_coarse"]
        row["fraction_bits"] = scores["bits"] / row["ceiling_bits"]
        row["trace_rate"] = float(trace_test.mean())
        row["trace"] = [round(float(r), 5) for r in trace_test[0, : 6000 // config.bin_ms]]
    return [row]


def grid_configs(grid: Grid, seed: int = 0) -> list[RetinaConfig]:
    """quick: the first 3 qualifying hidden cells, each with the retina estimators at τ = 0.5
    and its "PSTH + coupling" reference, 3 seeds, at most 100 epochs. paper: the first 6, the
    POGLM paper's τ ∈ {0.1, 0.2, 0.5, 1.0}, 3 seeds, at most 200 epochs."""
    if grid == "quick":
        taus, epochs = (0.5,), 100
    elif grid == "paper":
        taus, epochs = (0.1, 0.2, 0.5, 1.0), 200
    else:
        raise ValueError(f"unknown grid {grid!r}; expected 'quick' or 'paper'")
    defaults = RetinaConfig(0, 0, "score_loo", 0.0)
    available = len(chosen_cells(defaults.recording, defaults.movie, defaults.bin_ms))
    configs = []
    for s in (seed, seed + 1, seed + 2):
        for rank in range(min(HIDDEN_CELLS[grid], available)):
            configs.append(RetinaConfig(rank, 0, "score_loo", 0.0, s, epochs=epochs))
            for est in tagged("real_data"):
                for tau in taus if REGISTRY[est].uses_temperature else (0.0,):
                    configs.append(RetinaConfig(rank, 1, est, tau, s, epochs=epochs))
    return configs


def smoke_configs(seed: int = 0) -> list[RetinaConfig]:
    """The smoke grid: the first hidden cell (EAT-cubic, τ = 0.5) and its reference, 1 epoch."""
    return [
        RetinaConfig(0, 0, "score_loo", 0.0, seed, epochs=1),
        RetinaConfig(0, 1, "eat_cubic", 0.5, seed, epochs=1),
    ]


# --- report section: verdict, summary table and figures of the stored rows --------------------


def with_gain(rows: pd.DataFrame) -> pd.DataFrame:
    """The hidden-neuron rows with ``gain_bits``: their held-out bits per visible spike minus
    the reference's of the same hidden cell and seed (paired; positive: the hidden neuron
    helps), and ``reference_bits`` (the fully observed GLM's, the literature's baseline)."""
    keys = ["rank", "seed", "recording", "movie", "bin_ms", "epochs"]
    reference = rows[rows.n_hidden == 0].set_index(keys).bits_per_spike
    hidden = rows[rows.n_hidden > 0].copy()
    matched = reference.reindex(pd.MultiIndex.from_frame(hidden[keys])).to_numpy()
    hidden["reference_bits"] = matched
    hidden["gain_bits"] = hidden.bits_per_spike.to_numpy() - matched
    return hidden


def _interval(values: pd.Series) -> tuple[float, float]:
    """(mean, SE over replicates; NaN for one)."""
    n = values.count()
    return float(values.mean()), float(values.std() / math.sqrt(n)) if n > 1 else math.nan


def recovery_verdict(values: pd.Series, bar: float) -> str:
    """'recovered' when mean − 2 SE > the bar, 'not recovered' when mean + 2 SE < it,
    'unresolved' otherwise (or with one replicate)."""
    mean, se = _interval(values)
    if not math.isfinite(se):
        return "unresolved"
    if mean - 2 * se > bar:
        return "recovered"
    return "not recovered" if mean + 2 * se < bar else "unresolved"


def gain_verdict(values: pd.Series) -> str:
    """'none' when mean ± 2 SE lies within ±:data:`GAIN_MARGIN`, else 'gain' (above 0),
    'loss' (below 0) or 'unresolved'."""
    mean, se = _interval(values)
    if not math.isfinite(se):
        return "unresolved"
    low, high = mean - 2 * se, mean + 2 * se
    if -GAIN_MARGIN < low and high < GAIN_MARGIN:
        return "none"
    if low > 0:
        return "gain"
    return "loss" if high < 0 else "unresolved"


def _pm(values: pd.Series, digits: int = 3) -> str:
    mean, se = _interval(values)
    return f"{mean:+.{digits}f}" + (f" ± {se:.{digits}f}" if math.isfinite(se) else "")


def retina_summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per hidden cell and estimator (mean ± SE over seeds): the cell's ceiling (100 ms
    correlation; bits per spike), the recovery from the inferred trace and its fraction of
    the ceiling, the visible cells' held-out bits per spike (POGLM and the fully observed
    GLM), the paired gain, and the verdicts by the stated rules."""
    d = with_gain(rows)
    if not len(d):
        return pd.DataFrame()
    bar = test_bar(d.recording.iloc[0], d.movie.iloc[0], int(d.bin_ms.iloc[0]))
    out = []
    for (cell, est, tau), g in d.groupby(["hidden_cell", "estimator", "temperature"], sort=False):
        out.append(
            {
                "fit": f"cell {int(cell)} (rank {int(g['rank'].iloc[0])}): {est}"
                + (f" τ={tau:g}" if tau else ""),
                "seeds": int(g.seed.nunique()),
                "ceiling r 100 ms": f"{g.ceiling_corr_coarse.iloc[0]:+.3f}",
                "recovery r 100 ms": _pm(g.recovery_corr_coarse),
                "fraction of ceiling (r)": _pm(g.fraction_corr, 2),
                "ceiling bits/spike": f"{g.ceiling_bits.iloc[0]:+.3f}",
                "recovery bits/spike": _pm(g.recovery_bits),
                "visible bits/spike: POGLM": _pm(g.bits_per_spike),
                "fully observed GLM": _pm(g.reference_bits),
                "gain bits/spike": _pm(g.gain_bits, 4),
                "recovered?": recovery_verdict(g.recovery_corr_coarse, bar),
                "gain?": gain_verdict(g.gain_bits),
            }
        )
    return pd.DataFrame(out).set_index("fit")


def retina_notes(rows: pd.DataFrame) -> str:
    """The verdict, by rules fixed before the run (see :func:`recovery_verdict` and
    :func:`gain_verdict`), with the numbers it rests on."""
    d = with_gain(rows)
    if not len(d):
        return ""
    first = d.iloc[0]
    bar = test_bar(first.recording, first.movie, int(first.bin_ms))
    groups = d.groupby(["hidden_cell", "estimator", "temperature"], sort=False)
    recovered = groups.recovery_corr_coarse.apply(lambda v: recovery_verdict(v, bar))
    gains = groups.gain_bits.apply(gain_verdict)
    cells = d.groupby("hidden_cell").first()
    ceiling_text = ", ".join(
        f"cell {int(c)}: r = {r.ceiling_corr_coarse:+.3f}, {r.ceiling_bits:+.3f} bits/spike"
        for c, r in cells.iterrows()
    )
    counts = lambda s: ", ".join(f"{n} {k}" for k, n in s.value_counts().items())  # noqa: E731
    best = d.groupby(["hidden_cell", "estimator"]).fraction_corr.mean()
    off = d.trace_rate < 0.01 * d.cell_rate
    training = (
        f" The fits kept the parameters of epochs {int(d.best_epoch.min())}–"
        f"{int(d.best_epoch.max())} (median {d.best_epoch.median():g}; early stopping on "
        f"held-out training trials, at most {int(d.epochs.max())}); in {int(off.sum())} of "
        f"{len(d)} the inferred trace's mean rate is below 1 % of the hidden cell's "
        f"({d.trace_rate.median():.2g} against {d.cell_rate.median():.2g} spikes per bin, "
        "medians): the hidden neuron was switched off."
    )
    return (
        f"Hidden cells (chosen by the stated rule from {d.n_visible.iloc[0] + 1} screened "
        f"cells, ceilings on the test trials): {ceiling_text}; the bar is 2/√n = {bar:.3f}. "
        f"Verdict per hidden cell and estimator over {d.seed.nunique()} seeds: recovery "
        f"beyond the PSTH (100 ms readout of the inferred trace above the bar by 2 SE) — "
        f"{counts(recovered)}; the largest mean fraction of the ceiling is "
        f"{best.max():+.2f} ({best.idxmax()[1]}, cell {int(best.idxmax()[0])}). The visible "
        f"cells' held-out likelihood over the fully observed GLM with the same PSTH drive "
        f"(gain within ±{GAIN_MARGIN} bits/spike: none) — {counts(gains)}; gains "
        f"{d.gain_bits.min():+.4f} … {d.gain_bits.max():+.4f} bits per visible spike."
        + training
    )


def retina_figures(rows: pd.DataFrame, out: Path) -> list[Path]:
    """Recovery against the ceiling per hidden cell and estimator (100 ms correlation and
    bits per spike, mean ± SE over seeds); and, for the first hidden cell and seed, its real
    test spikes over the first 6 s of a held-out trial with each estimator's inferred trace."""
    out.mkdir(parents=True, exist_ok=True)
    d = with_gain(rows)
    paths: list[Path] = []
    if not len(d):
        return paths
    first = d.iloc[0]
    bar = test_bar(first.recording, first.movie, int(first.bin_ms))
    cells = list(dict.fromkeys(d.hidden_cell))
    estimators = list(dict.fromkeys(d.estimator))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    width = 0.8 / (len(estimators) + 1)
    for ax, (metric, ceiling, label) in zip(
        axes,
        (
            ("recovery_corr_coarse", "ceiling_corr_coarse", "correlation, 100 ms"),
            ("recovery_bits", "ceiling_bits", "bits per spike over the PSTH"),
        ),
        strict=True,
    ):
        x = np.arange(len(cells))
        tops = [d[d.hidden_cell == c][ceiling].iloc[0] for c in cells]
        ax.bar(x, tops, 0.8, color="0.85", label="ceiling (visible cells' readout)")
        for i, est in enumerate(estimators):
            means, ses = [], []
            for c in cells:
                mean, se = _interval(d[(d.hidden_cell == c) & (d.estimator == est)][metric])
                means.append(mean)
                ses.append(se if math.isfinite(se) else 0.0)
            offset = (i + 1) * width - 0.4
            ax.bar(x + offset, means, width, yerr=ses, color=colour(est), label=est)
        if metric == "recovery_corr_coarse":
            ax.axhline(bar, color="k", ls="--", lw=0.8, label="bar 2/√n")
        ax.axhline(0.0, color="k", lw=0.6)
        ax.set_xticks(x, [f"cell {int(c)}" for c in cells], fontsize=FONT_SIZE)
        ax.set_ylabel(label, fontsize=FONT_SIZE)
        ax.tick_params(labelsize=FONT_SIZE)
    axes[0].set_title("recovery of the hidden cell, test trials", fontsize=FONT_SIZE + 1)
    fig.tight_layout()
    figure_legend(fig, axes[:1])
    paths.append(save_figure(fig, out / "retina_recovery.png"))

    shown = d[(d.hidden_cell == first.hidden_cell) & (d.seed == first.seed)]
    data = _data(first.recording, first.movie, int(first.bin_ms))
    real = data.test_counts[0, : len(first.trace), int(first.hidden_cell)]
    t = np.arange(len(real)) * int(first.bin_ms) / 1000.0
    fig, axes = plt.subplots(1 + len(shown), 1, figsize=(10, 1.2 + 1.0 * len(shown)), sharex=True)
    axes[0].vlines(t[real > 0], 0, 1, lw=0.8, color="k")
    axes[0].set_yticks([])
    axes[0].set_ylabel("real", rotation=0, ha="right", fontsize=FONT_SIZE)
    axes[0].set_title(
        f"held-out trial {int(data.test_trials[0])}: hidden cell {int(first.hidden_cell)} and "
        f"the inferred trace E_q[z] (seed {int(first.seed)})",
        fontsize=FONT_SIZE + 1,
    )
    for ax, (_, r) in zip(axes[1:], shown.iterrows(), strict=True):
        ax.plot(t, np.asarray(r.trace), color=colour(r.estimator), lw=0.8)
        ax.set_ylabel(r.estimator, rotation=0, ha="right", fontsize=FONT_SIZE)
        ax.tick_params(labelsize=FONT_SIZE)
    axes[-1].set_xlabel("time in the trial (s)", fontsize=FONT_SIZE)
    fig.tight_layout()
    paths.append(save_figure(fig, out / "retina_trial.png"))
    return paths


_METRICS = {
    "n_visible": "visible cells in the fit (the screened cells but the hidden one)",
    "marginal_ll": "held-out log p(visible) per test trial (nats): particle filter with a "
    "hidden neuron, exact without",
    "marginal_ll_se": "its Monte-Carlo standard error (0 when exact)",
    "bits_per_spike": "marginal_ll per visible test spike, bits (the literature's number)",
    "bits_per_spike_se": "its Monte-Carlo standard error",
    "ceiling_corr_fine": "ridge readout of the hidden cell's residual from the visible cells, "
    "test correlation, 10 ms",
    "ceiling_corr_coarse": "the same, 100 ms",
    "ceiling_cv_coarse": "the same, cross-validated on training trials (the selection rule)",
    "ceiling_bits": "leave-one-neuron-out Poisson readout, bits per test spike over the PSTH",
    "epochs_run": "epochs trained (early stopping)",
    "best_epoch": "the epoch whose parameters were kept",
    "fit_seconds": "fit wall time (s)",
    "recovery_corr_fine": "ridge readout of the hidden cell's residual from the inferred "
    "trace, test correlation, 10 ms",
    "recovery_corr_coarse": "the same, 100 ms",
    "recovery_bits": "Poisson readout from the inferred trace, bits per test spike",
    "fraction_corr": "recovery_corr_coarse / ceiling_corr_coarse",
    "fraction_bits": "recovery_bits / ceiling_bits",
    "cell_rate": "the hidden cell's mean count per bin on the test trials",
    "trace_rate": "the inferred trace's mean E_q[z] per bin on the test trials (near 0: the "
    "hidden neuron was switched off)",
}

EXPERIMENT = Experiment(
    name="retina",
    help="real population: hide a recorded retinal cell, infer it as a hidden neuron",
    config=RetinaConfig,
    grid_configs=grid_configs,
    smoke_configs=smoke_configs,
    run=run,
    metrics=_METRICS,
    title="Real population: hidden retinal cells",
    description="Salamander retinal ganglion cells under a natural movie repeated 30 times "
    "(Onken et al. 2016; recording 2, movie 2; 10 ms bins; every 5th trial held out). Units "
    "sharing more than half their spikes within ±1 ms are one cell sorted twice: the less "
    "active one is removed. For every remaining cell a ridge readout of its trial-to-trial "
    "residual (spikes minus PSTH) from all the other cells at lags ±30 ms gives a "
    "predictability ceiling; the hidden cells are those whose cross-validated ceiling on "
    f"training trials is at least {QUALIFY:g} × 2/√n, best first. Each is hidden in turn from a "
    "POGLM of all the other cells, whose drives are their own PSTHs (fixed offsets) and "
    "whose hidden neuron is driven by a learned filter of those PSTHs; the reference is the "
    "same model without the hidden neuron ('PSTH + coupling'). Recovery: a readout of the "
    "hidden cell's residual from the inferred trace (fitted on training trials, scored on "
    "test trials), as correlation and bits per spike, and as a fraction of the ceiling. "
    "Likelihood: held-out bits per visible spike of the POGLM and of the reference (the "
    "literature's number) and their paired difference, the gain.",
    figures=retina_figures,
    summary=retina_summary_table,
    notes=retina_notes,
    rating_inputs=(),
    extra_columns=("hidden_cell", "trace"),
)
