"""Partially observable Poisson GLM (POGLM) of a neural population, and its inference.

N = V visible + H hidden neurons follow the GLM of :mod:`poissongrad.glm` (spikes
(..., T, N), visible neurons first). Inference is variational: q(z | x) is Poisson over hidden
spikes z (..., T, H) with rates from a convolution of the visible spikes x, causal
(``"forward"``: lags 1..D) or non-causal (``"forward_backward"``: lags −D..D). The ELBO
E_q[log p(x, z) − log q(z | x)] is maximised jointly over (W, b) and q, with hidden spikes drawn
through any estimator of :mod:`poissongrad.estimators`. Relaxed (real-valued) hidden counts enter
log p and log q through the Poisson log-pmf extended with lgamma, as in the paper's code.

The simulator and random networks live in :mod:`poissongrad.data.spikes`, the connectivity
errors in :mod:`poissongrad.metrics.connectivity`.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from torch import nn

from poissongrad.data.spikes import simulate
from poissongrad.estimators import check_estimator_use, surrogate_loss
from poissongrad.glm import get_link, glm_log_likelihood, lagged
from poissongrad.models.base import ModelMixin
from poissongrad.moments import poisson_log_prob
from poissongrad.particle_filter import particle_log_likelihood

__all__ = ["POGLM", "HiddenPosterior"]


class HiddenPosterior(nn.Module):
    """q(z | x): independent Poisson hidden spikes with rates softplus(c + A ⋆ x).

    Args:
        n_visible: V; n_hidden: H; depth: D.
        kind: ``"forward"`` (visible lags 1..D, causal) or ``"forward_backward"`` (lags −D..D,
            so the future visible activity a hidden spike drives informs it).
    """

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        depth: int,
        kind: Literal["forward", "forward_backward"] = "forward_backward",
    ) -> None:
        super().__init__()
        if kind == "forward":
            self.lags = range(1, depth + 1)
        elif kind == "forward_backward":
            self.lags = range(-depth, depth + 1)
        else:
            raise ValueError(f"unknown posterior {kind!r}; expected forward or forward_backward")
        self.kernel = nn.Parameter(torch.zeros(n_hidden, n_visible, len(self.lags)))
        self.offset = nn.Parameter(torch.zeros(n_hidden))

    def rate(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden rates (..., T, H) given visible spikes x (..., T, V)."""
        drive = torch.einsum("...tvl,hvl->...th", lagged(x, self.lags), self.kernel)
        return nn.functional.softplus(self.offset + drive) + 1e-6


def _positive_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


class POGLM(ModelMixin):
    """Partially observable Poisson GLM, fitted by variational inference (scikit-learn style).

    Parameters
    ----------
    n_hidden : int
        H ≥ 0 hidden neurons (0: a fully observed GLM, fitted and scored by the same code, so
        that models with and without hidden neurons compare on one likelihood).
    history : int
        D ≥ 1, the history/coupling filter length in bins.
    link : {"softplus", "sigmoid"}
        Softplus capped at 10 spikes per bin, or sigmoid (at most 1).
    estimator : str
        Gradient estimator for the hidden spikes, any of
        :data:`poissongrad.estimators.ESTIMATORS` (e.g. ``"eat_cubic"``, ``"gsm"``,
        ``"score_loo"``).
    temperature : float
        τ > 0 for relaxed estimators (ignored by the others).
    n_samples : int
        Monte-Carlo samples of the hidden spikes per step (≥ the estimator's minimum).
    posterior : {"forward_backward", "forward"}
        The family of q (see :class:`HiddenPosterior`).
    epochs : int
        Passes over the data.
    batch_size : int or None
        Sequences per step (None: all).
    lr : float
        Adam learning rate.
    l2 : float
        Strength of a Gaussian prior on W, l2·‖W‖² added to the negative ELBO of the whole data
        set (0: maximum likelihood).
    validation_fraction : float
        Early stopping: this share of the sequences (at least one) is held out, its ELBO (hard
        samples) is measured after every epoch, training stops after ``patience`` epochs
        without improvement and the parameters of the best epoch are kept. 0: off.
    patience : int
        Epochs without a better held-out ELBO before stopping.
    random_state : int
        Seeds initialisation and sampling.

    Attributes
    ----------
    weights_ : Tensor (N, N, D)
        W, visible neurons first, float64.
    bias_ : Tensor (N,)
        b.
    posterior_ : HiddenPosterior
        The fitted q.
    loss_curve_ : list of float
        Negative ELBO per sequence (nats) of every epoch.
    validation_curve_ : list of float
        Held-out ELBO per sequence after every epoch (empty without early stopping).
    best_epoch_ : int
        The epoch whose parameters were kept (the last one without early stopping).
    n_visible_ : int
        V, the number of visible neurons seen in ``fit``.

    Examples
    --------
    >>> import torch
    >>> from poissongrad.data.spikes import make_network
    >>> net = make_network("paper", seed=0)
    >>> model = POGLM(n_hidden=2, history=3, epochs=5).fit(net.train[..., :3])
    >>> model.weights_.shape, len(model.loss_curve_)
    (torch.Size([5, 5, 3]), 5)
    >>> model
    POGLM(epochs=5)
    """

    def __init__(
        self,
        n_hidden: int = 2,
        history: int = 3,
        link: str = "softplus",
        estimator: str = "eat_cubic",
        temperature: float = 0.5,
        n_samples: int = 5,
        posterior: Literal["forward", "forward_backward"] = "forward_backward",
        epochs: int = 300,
        batch_size: int | None = None,
        lr: float = 0.02,
        l2: float = 0.0,
        validation_fraction: float = 0.0,
        patience: int = 20,
        random_state: int = 0,
    ) -> None:
        self.n_hidden, self.history, self.link, self.estimator = n_hidden, history, link, estimator
        self.temperature, self.n_samples, self.posterior = temperature, n_samples, posterior
        self.epochs, self.batch_size, self.lr, self.l2 = epochs, batch_size, lr, l2
        self.validation_fraction, self.patience = validation_fraction, patience
        self.random_state = random_state
        self._validate_params()

    def _validate_params(self) -> None:
        get_link(self.link)
        _positive_int("n_hidden", self.n_hidden, 0)
        _positive_int("history", self.history)
        _positive_int("epochs", self.epochs, 0)
        if self.batch_size is not None:
            _positive_int("batch_size", self.batch_size)
        _positive_int("n_samples", self.n_samples)
        check_estimator_use(self.estimator, self.temperature, self.n_samples)
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(
                f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}"
            )
        _positive_int("patience", self.patience)
        if self.posterior not in ("forward", "forward_backward"):
            raise ValueError(
                f"unknown posterior {self.posterior!r}; expected forward or forward_backward"
            )

    # -- helpers ---------------------------------------------------------------------------
    def _as_sequences(self, counts: torch.Tensor | np.ndarray, fitted: bool = True) -> torch.Tensor:
        """Counts as float64 (sequences, T, V), after checking shape and values."""
        y = torch.as_tensor(counts, dtype=torch.float64)
        if y.dim() == 2:
            y = y.unsqueeze(0)
        if y.dim() != 3:
            raise ValueError(
                f"counts must be (T, V) or (sequences, T, V), got shape {tuple(y.shape)}"
            )
        bins, neurons = y.shape[-2:]
        if neurons > bins:
            raise ValueError(
                f"counts of shape {tuple(y.shape)} have more neurons ({neurons}) than time bins "
                f"({bins}); spikes are (sequences, time bins, neurons): transpose the last two axes"
            )
        if fitted and neurons != self.n_visible_:
            raise ValueError(
                f"counts have {neurons} visible neurons (shape {tuple(y.shape)}) but the model "
                f"was fitted to {self.n_visible_}"
            )
        if not bool((torch.isfinite(y) & (y >= 0)).all()):
            raise ValueError("counts must be finite and >= 0")
        return y

    def _negative_elbo(
        self,
        x: torch.Tensor,
        weights: torch.Tensor,
        bias: torch.Tensor,
        rate_q: torch.Tensor,
        z_flat: torch.Tensor,
    ) -> torch.Tensor:
        """−(log p(x, z) − log q(z | x)) per sample and sequence.

        ``rate_q`` is q's hidden rates (B, T, H) for ``x``; ``z_flat`` is (S, B, T·H).
        """
        z = z_flat.reshape(*z_flat.shape[:-1], *rate_q.shape[-2:])
        y = torch.cat([x.expand(*z.shape[:-1], x.shape[-1]), z], dim=-1)
        log_q = poisson_log_prob(z, rate_q).sum((-1, -2))
        return log_q - glm_log_likelihood(y, weights, bias, self.link)

    # -- scikit-learn style API ---------------------------------------------------------------
    def fit(self, counts: torch.Tensor | np.ndarray) -> POGLM:
        """Fit to visible spike counts (T, V) or (sequences, T, V); returns self.

        ``ValueError`` for counts with more neurons than time bins (a transposed array),
        negative or non-finite counts, or invalid hyper-parameters.
        """
        self._validate_params()
        x = self._as_sequences(counts, fitted=False)
        v, n = x.shape[-1], x.shape[-1] + self.n_hidden
        gen = torch.Generator().manual_seed(self.random_state)
        held_out = None
        if self.validation_fraction > 0:
            if len(x) < 2:
                raise ValueError("early stopping needs at least 2 sequences (one is held out)")
            n_val = max(1, round(self.validation_fraction * len(x)))
            order = torch.randperm(len(x), generator=gen)
            x, held_out = x[order[n_val:]], x[order[:n_val]]
        link = get_link(self.link)
        weights = 0.01 * torch.randn(n, n, self.history, generator=gen, dtype=torch.float64)
        weights.requires_grad_(True)
        bias = link.inverse(float(x.mean())).expand(n).clone().requires_grad_(True)
        q = HiddenPosterior(v, self.n_hidden, self.history, self.posterior).double()
        with torch.no_grad():
            q.kernel.normal_(0.0, 0.01, generator=gen)
            q.offset.copy_(get_link("softplus").inverse(float(x.mean())))
        params = [weights, bias, *q.parameters()]
        opt = torch.optim.Adam(params, lr=self.lr)
        size = self.batch_size or len(x)
        self.loss_curve_: list[float] = []
        self.validation_curve_: list[float] = []
        best = (-math.inf, 0, None)  # (held-out ELBO, epoch, parameters)
        for epoch in range(self.epochs):
            order = torch.randperm(len(x), generator=gen)
            total = 0.0
            for start_i in range(0, len(x), size):
                batch = x[order[start_i : start_i + size]]
                rate_q = q.rate(batch)
                loss = surrogate_loss(
                    lambda z, b=batch, r=rate_q: self._negative_elbo(b, weights, bias, r, z),
                    rate_q.log().flatten(-2),
                    self.estimator,
                    self.n_samples,
                    self.temperature,
                    gen,
                )
                # Per-bin objective; the L2 term is a Gaussian prior on W (MAP), per sequence.
                penalty = self.l2 * weights.pow(2).sum() * len(batch) / len(x)
                opt.zero_grad()
                ((loss.mean(0).sum() + penalty) / x.shape[-2]).backward()
                opt.step()
                total += float(loss.detach().mean(0).sum())
            self.loss_curve_.append(total / len(x))
            if held_out is not None:
                with torch.no_grad():
                    # Held-out ELBO with 8 hard posterior samples (fixed seed).
                    log_w = self._hard_log_weights(held_out, weights, bias, q, 8, self.random_state)
                    score = float(log_w.mean())
                self.validation_curve_.append(score)
                if score > best[0]:
                    state = [p.detach().clone() for p in params]
                    best = (score, epoch, state)
                elif epoch - best[1] >= self.patience:
                    break
        if best[2] is not None:
            with torch.no_grad():
                for p, kept in zip(params, best[2], strict=True):
                    p.copy_(kept)
        self.best_epoch_ = best[1] if best[2] is not None else len(self.loss_curve_) - 1
        self.weights_, self.bias_ = weights.detach(), bias.detach()
        self.posterior_ = q.requires_grad_(False)
        self.n_visible_ = v
        return self

    def _hard_log_weights(
        self,
        x: torch.Tensor,
        weights: torch.Tensor,
        bias: torch.Tensor,
        q: HiddenPosterior,
        n_samples: int,
        seed: int,
    ) -> torch.Tensor:
        """log p(x, z) − log q(z | x) for hard z ~ q: (n_samples, sequences)."""
        rate = q.rate(x)
        gen = torch.Generator().manual_seed(seed)
        z = torch.poisson(rate.expand(n_samples, *rate.shape), generator=gen)
        return -self._negative_elbo(x, weights, bias, rate, z.flatten(-2))

    @torch.no_grad()
    def sample_hidden(
        self,
        counts: torch.Tensor | np.ndarray,
        n_samples: int = 1,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Hard draws from q(hidden | visible): (n_samples, sequences, T, H)."""
        self._check_fitted("weights_")
        _positive_int("n_samples", n_samples)
        rate = self.posterior_.rate(self._as_sequences(counts))
        return torch.poisson(rate.expand(n_samples, *rate.shape), generator=generator)

    @torch.no_grad()
    def _log_weights(self, counts: torch.Tensor | np.ndarray, n_samples: int, seed: int):
        """log p(x, z) − log q(z | x) for hard z ~ q: (n_samples, sequences)."""
        self._check_fitted("weights_")
        _positive_int("n_samples", n_samples)
        x = self._as_sequences(counts)
        return self._hard_log_weights(
            x, self.weights_, self.bias_, self.posterior_, n_samples, seed
        )

    def elbo(self, counts: torch.Tensor | np.ndarray, n_samples: int = 64, seed: int = 0) -> float:
        """ELBO per sequence with hard posterior samples (nats), averaged over sequences."""
        return float(self._log_weights(counts, n_samples, seed).mean())

    def score(
        self,
        counts: torch.Tensor | np.ndarray,
        n_particles: int = 500,
        n_repeats: int = 4,
        seed: int = 0,
    ) -> float:
        """log p(visible) per sequence (nats), averaged over sequences; higher is better.

        Estimated by a bootstrap particle filter over the hidden spikes of the fitted GLM
        (:func:`poissongrad.particle_filter.particle_log_likelihood`), so it does not depend
        on the variational posterior; :meth:`score_with_error` also gives the Monte-Carlo error.
        """
        return self.score_with_error(counts, n_particles, n_repeats, seed)[0]

    def score_with_error(
        self,
        counts: torch.Tensor | np.ndarray,
        n_particles: int = 500,
        n_repeats: int = 4,
        seed: int = 0,
    ) -> tuple[float, float]:
        """(mean log p(visible) per sequence, its Monte-Carlo standard error), nats."""
        self._check_fitted("weights_")
        x = self._as_sequences(counts)
        gen = torch.Generator().manual_seed(seed)
        ll, se = particle_log_likelihood(
            x, self.weights_, self.bias_, self.link, n_particles, n_repeats, gen
        )
        return float(ll.mean()), float(se.pow(2).sum().sqrt() / len(se))

    def iw_bound(
        self, counts: torch.Tensor | np.ndarray, n_samples: int = 256, seed: int = 0
    ) -> float:
        """Importance-weighted lower bound on log p(visible) per sequence (nats), averaged.

        log mean_k exp(log p(x, z_k) − log q(z_k | x)), z_k ~ q: a bound that depends on q and
        tightens as ``n_samples`` grows.
        """
        log_w = self._log_weights(counts, n_samples, seed)
        return float((torch.logsumexp(log_w, 0) - math.log(n_samples)).mean())

    @torch.no_grad()
    def sample(self, n_sequences: int, n_bins: int, seed: int = 0) -> torch.Tensor:
        """Simulate the fitted network: counts (n_sequences, n_bins, N), visible first."""
        self._check_fitted("weights_")
        _positive_int("n_sequences", n_sequences)
        _positive_int("n_bins", n_bins)
        gen = torch.Generator().manual_seed(seed)
        return simulate(self.weights_, self.bias_, n_sequences, n_bins, self.link, gen)
