"""Cross-validated readouts of one cell's trial-to-trial variability: ceilings and recoveries.

On repeated trials of one stimulus a cell's spikes are its trial-averaged response (PSTH) plus
a residual; only the residual can be shared with other cells beyond the stimulus. A
**readout** predicts that residual from features (the other cells' residual spikes, or an
inferred hidden trace) at lags −30 … +30 ms, is fitted on training trials and scored on test
trials, so it is free of sign and scale. Two scores:

* the correlation of the predicted and real residual (ridge regression), at the bin width and
  summed over coarser bins;
* bits per spike: a Poisson GLM with the cell's log-PSTH as offset and the same features, its
  held-out log-likelihood over the PSTH alone, per test spike (a leave-one-neuron-out
  likelihood when the features are the other cells).

Residuals use a **leave-one-trial-out** PSTH on training trials (a trial's own spikes never
enter its PSTH) and the training PSTH on test trials; PSTHs are smoothed by a centred boxcar.
Penalties are chosen by cross-validation over folds of whole training trials. Arrays are
(trials, bins, cells) of counts per bin.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> shared = rng.poisson(0.5, size=(12, 300, 1)).astype(float)
>>> cells = rng.poisson(0.2, size=(12, 300, 3)) + shared  # three cells share one source
>>> train, test = cells[:9], cells[9:]
>>> ceilings = ridge_ceilings(train, test, smooth=1, coarse=10)
>>> bool(ceilings["corr_fine"].min() > 0.3)
True
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "FOLDS",
    "LAGS",
    "PENALTIES",
    "coarse_sum",
    "correlation",
    "lagged_features",
    "poisson_readout_bits",
    "residuals",
    "ridge_ceilings",
    "ridge_readout",
]

#: Lags of the features in bins, both directions (±30 ms at 10 ms bins).
LAGS = range(-3, 4)
#: Ridge penalties tried (in units of the features' summed squares); chosen by trial folds.
PENALTIES = tuple(10.0**k for k in range(0, 6))
#: Poisson-readout L2 penalties tried, per training bin.
POISSON_PENALTIES = (1e-4, 1e-3, 1e-2)
#: Folds of whole training trials for every penalty choice.
FOLDS = 4


def smoothed_mean(counts: np.ndarray, smooth: int) -> np.ndarray:
    """Mean over trials (bins, cells), smoothed by a centred boxcar of ``smooth`` bins."""
    mean = counts.mean(0)
    if smooth <= 1:
        return mean
    kernel = np.ones(smooth) / smooth
    return np.stack([np.convolve(mean[:, c], kernel, mode="same") for c in range(mean.shape[1])], 1)


def residuals(
    train: np.ndarray, test: np.ndarray, smooth: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(training residuals, test residuals, training PSTHs, test PSTH).

    Training trial i's PSTH is the smoothed mean of the other training trials
    (leave-one-trial-out, (trials, bins, cells)); the test trials' PSTH is the smoothed mean
    of all training trials (bins, cells). Residual = counts − PSTH.
    """
    n = len(train)
    total = smoothed_mean(train, smooth) * n
    own = np.stack([smoothed_mean(train[i : i + 1], smooth) for i in range(n)])
    loo = (total - own) / (n - 1)
    psth = total / n
    return train - loo, test - psth, loo, psth


def lagged_features(x: np.ndarray, lags: range = LAGS) -> np.ndarray:
    """out[trial, t, c·len(lags) + i] = x[trial, t − lags[i], c], zero outside the trial."""
    trials, bins, cells = x.shape
    out = np.zeros((trials, bins, cells, len(lags)))
    for i, lag in enumerate(lags):
        if lag >= 0:
            out[:, lag:, :, i] = x[:, : bins - lag]
        else:
            out[:, :lag, :, i] = x[:, -lag:]
    return out.reshape(trials, bins, cells * len(lags))


def coarse_sum(x: np.ndarray, coarse: int) -> np.ndarray:
    """Sums over ``coarse`` consecutive bins along axis 1 (a trailing partial bin dropped)."""
    bins = x.shape[1] // coarse * coarse
    return x[:, :bins].reshape(x.shape[0], -1, coarse, *x.shape[2:]).sum(2)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two arrays; 0 when either is constant."""
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    if not a.any() or not b.any():
        return 0.0
    return float((a * b).sum() / math.sqrt(float((a**2).sum() * (b**2).sum())))


def _folds(n_trials: int) -> list[np.ndarray]:
    return [np.arange(n_trials)[k::FOLDS] for k in range(FOLDS)]


def _ridge_solve(gram: np.ndarray, cross: np.ndarray, penalty: float) -> np.ndarray:
    return np.linalg.solve(gram + penalty * np.eye(len(gram)), cross)


def _ridge(
    features_train: np.ndarray,
    target_train: np.ndarray,
    features_test: np.ndarray,
    target_test: np.ndarray,
    coarse: int,
    grams: tuple[np.ndarray, list[np.ndarray]] | None = None,
    columns: np.ndarray | None = None,
    target_column: int | None = None,
) -> dict[str, float]:
    """The ridge readout of one target; with ``grams`` (total and per-fold Gram matrices of
    all columns) the features are ``columns`` of it and the target its ``target_column``."""
    n_trials = len(features_train)
    folds = _folds(n_trials)
    if grams is None:
        flat = features_train.reshape(n_trials, -1, features_train.shape[-1])
        part = [np.einsum("tbf,tbg->fg", flat[f], flat[f]) for f in folds]
        cross = [np.einsum("tbf,tb->f", flat[f], target_train[f]) for f in folds]
        gram_all, cross_all = sum(part), sum(cross)
    else:
        full, per_fold = grams
        pick = np.ix_(columns, columns)
        part = [g[pick] for g in per_fold]
        cross = [g[columns, target_column] for g in per_fold]
        gram_all, cross_all = full[pick], full[columns, target_column]
    scale = np.trace(gram_all) / max(len(gram_all), 1)  # penalties relative to the features
    best, best_error, cv_prediction = PENALTIES[0], math.inf, None
    for penalty in PENALTIES:
        prediction = np.zeros_like(target_train)
        for k, fold in enumerate(folds):
            w = _ridge_solve(gram_all - part[k], cross_all - cross[k], penalty * scale / 100)
            prediction[fold] = features_train[fold] @ w
        error = float(((prediction - target_train) ** 2).mean())
        if error < best_error:
            best, best_error, cv_prediction = penalty, error, prediction
    w = _ridge_solve(gram_all, cross_all, best * scale / 100)
    predicted = features_test @ w
    return {
        "corr_fine": correlation(predicted, target_test),
        "corr_coarse": correlation(coarse_sum(predicted, coarse), coarse_sum(target_test, coarse)),
        "cv_coarse": correlation(
            coarse_sum(cv_prediction, coarse), coarse_sum(target_train, coarse)
        ),
        "penalty": best,
    }


def ridge_readout(
    features_train: np.ndarray,
    target_train: np.ndarray,
    features_test: np.ndarray,
    target_test: np.ndarray,
    coarse: int,
) -> dict[str, float]:
    """Ridge readout of a residual (trials, bins) from features (trials, bins, F).

    The penalty minimises the squared error of predictions on held-out folds of training
    trials; the readout refitted on all training trials is scored on the test trials.

    Returns
    -------
    dict
        The test correlations at the bin width (key ``corr_fine``) and over ``coarse`` bins
        (``corr_coarse``), the cross-validated correlation on training trials over ``coarse``
        bins (``cv_coarse``) and the chosen penalty (``penalty``).
    """
    return _ridge(features_train, target_train, features_test, target_test, coarse)


def ridge_ceilings(
    train: np.ndarray, test: np.ndarray, smooth: int, coarse: int, lags: range = LAGS
) -> dict[str, np.ndarray]:
    """The ridge readout of every cell's residual from all the other cells' residuals at
    ``lags``: arrays (cells,) of ``corr_fine``, ``corr_coarse``, ``cv_coarse``, ``penalty``.

    One Gram matrix of every cell's lagged residuals serves every cell (its own columns are
    left out of its features).
    """
    r_train, r_test, _, _ = residuals(train, test, smooth)
    f_train, f_test = lagged_features(r_train, lags), lagged_features(r_test, lags)
    n_cells, width = train.shape[-1], len(lags)
    flat = f_train.reshape(len(f_train), -1, f_train.shape[-1])
    per_fold = [np.einsum("tbf,tbg->fg", flat[f], flat[f]) for f in _folds(len(train))]
    grams = (sum(per_fold), per_fold)
    zero = list(lags).index(0)
    out: dict[str, list[float]] = {}
    for c in range(n_cells):
        columns = np.array([i for i in range(n_cells * width) if i // width != c])
        scores = _ridge(
            f_train[..., columns],
            r_train[..., c],
            f_test[..., columns],
            r_test[..., c],
            coarse,
            grams,
            columns,
            c * width + zero,
        )
        for key, value in scores.items():
            out.setdefault(key, []).append(value)
    return {key: np.asarray(values) for key, values in out.items()}


def _poisson_fit(
    features: torch.Tensor, counts: torch.Tensor, offset: torch.Tensor, penalty: float
) -> torch.Tensor:
    """Weights (F + 1,) of log λ = offset + [features, 1]·w by L-BFGS, L2 ``penalty`` per bin
    on the feature weights."""
    w = torch.zeros(features.shape[-1] + 1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        log_rate = offset + features @ w[:-1] + w[-1]
        loss = (log_rate.exp() - counts * log_rate).mean() + penalty * w[:-1].pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach()


def _log_lik(features, counts, offset, w) -> float:
    log_rate = offset + features @ w[:-1] + w[-1]
    return float((counts * log_rate - log_rate.exp() - torch.lgamma(counts + 1)).sum())


def poisson_readout_bits(
    features_train: np.ndarray,
    counts_train: np.ndarray,
    psth_train: np.ndarray,
    features_test: np.ndarray,
    counts_test: np.ndarray,
    psth_test: np.ndarray,
) -> float:
    """Held-out bits per test spike that the features add to the PSTH, by a Poisson GLM.

    log λ = log PSTH + [features, 1]·w, fitted on training trials (L2 penalty chosen by folds
    of training trials) and scored on test trials against the PSTH alone:
    (log p(test | GLM) − log p(test | PSTH)) / (test spikes · ln 2). Arrays: features
    (trials, bins, F), counts and PSTHs (trials, bins) (PSTHs broadcast over trials; floored
    at 10⁻³ spikes per bin).
    """

    def tensors(features, counts, psth):
        psth = np.broadcast_to(psth, counts.shape)
        return (
            torch.as_tensor(features.reshape(-1, features.shape[-1]), dtype=torch.float64),
            torch.as_tensor(counts.reshape(-1), dtype=torch.float64),
            torch.as_tensor(np.log(np.maximum(psth, 1e-3)).reshape(-1), dtype=torch.float64),
        )

    n_trials = len(features_train)
    best, best_ll = POISSON_PENALTIES[0], -math.inf
    for penalty in POISSON_PENALTIES:
        total = 0.0
        for fold in _folds(n_trials):
            rest = np.setdiff1d(np.arange(n_trials), fold)
            w = _poisson_fit(
                *tensors(features_train[rest], counts_train[rest], psth_train[rest]), penalty
            )
            total += _log_lik(
                *tensors(features_train[fold], counts_train[fold], psth_train[fold]), w
            )
        if total > best_ll:
            best, best_ll = penalty, total
    w = _poisson_fit(*tensors(features_train, counts_train, psth_train), best)
    features, counts, offset = tensors(features_test, counts_test, psth_test)
    model = _log_lik(features, counts, offset, w)
    alone = _log_lik(features, counts, offset, torch.zeros_like(w))
    spikes = float(counts.sum())
    return (model - alone) / (spikes * math.log(2)) if spikes else math.nan
