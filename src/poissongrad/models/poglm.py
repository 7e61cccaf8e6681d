"""Partially observable Poisson GLM (POGLM) of a neural population, and its inference.

N = V visible + H hidden neurons in discrete time bins. Neuron n fires y_{n,t} ~ Poisson(λ_{n,t})
with λ_{n,t} = link(b_n + Σ_m Σ_{d=1..D} W_{n,m,d} y_{m,t−d}): W (N, N, D) is the connectivity
(history and coupling filters), b (N,) the baseline; links are softplus capped at 10 spikes/bin,
or sigmoid. Spike arrays are (..., T, N): time then neurons, any leading (sequence, sample) axes.

Inference is variational: q(z | x) is Poisson over hidden spikes z (..., T, H) with rates from a
convolution of the visible spikes x, causal (``"forward"``: lags 1..D) or non-causal
(``"forward_backward"``: lags −D..D). The ELBO E_q[log p(x, z) − log q(z | x)] is maximised jointly
over (W, b) and q, with hidden spikes drawn through any estimator of
:mod:`poissongrad.estimators`. Relaxed (real-valued) hidden counts enter log p and log q through
the Poisson log-pmf extended with lgamma, as in the paper's code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from poissongrad.estimators import ESTIMATORS, surrogate_loss
from poissongrad.moments import poisson_log_prob

__all__ = [
    "LINKS",
    "POGLM",
    "HiddenPosterior",
    "lagged",
    "glm_rates",
    "glm_log_likelihood",
    "simulate",
    "fit_observed_glm",
    "match_hidden",
    "connectivity_errors",
]

RATE_CAP = 10.0


def _softplus_capped(a: torch.Tensor) -> torch.Tensor:
    return nn.functional.softplus(a).clamp(max=RATE_CAP)


LINKS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "softplus": _softplus_capped,
    "sigmoid": torch.sigmoid,
}


def _link(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    if name not in LINKS:
        raise ValueError(f"unknown link {name!r}; expected one of {sorted(LINKS)}")
    return LINKS[name]


def lagged(y: torch.Tensor, lags: range) -> torch.Tensor:
    """Shifted copies of spikes: out[..., t, m, i] = y[..., t − lags[i], m], zero outside [0, T).

    Args:
        y: spikes (..., T, N).
        lags: e.g. ``range(1, D + 1)`` (past only) or ``range(-D, D + 1)``.

    Returns:
        Tensor (..., T, N, len(lags)), differentiable in ``y``.
    """
    t = y.shape[-2]
    before, after = max(max(lags), 0), max(-min(lags), 0)
    padded = nn.functional.pad(y, (0, 0, before, after))
    return torch.stack([padded[..., before - d : before - d + t, :] for d in lags], dim=-1)


def glm_rates(
    y: torch.Tensor, weights: torch.Tensor, bias: torch.Tensor, link: str = "softplus"
) -> torch.Tensor:
    """Conditional rates λ (..., T, N) of every neuron given the spike history of ``y``.

    Args:
        y: spikes (..., T, N); weights: W (N, N, D), W[n, m, d−1] from m to n at lag d;
        bias: b (N,).
    """
    history = lagged(y, range(1, weights.shape[-1] + 1))
    return _link(link)(bias + torch.einsum("...tmd,nmd->...tn", history, weights))


def glm_log_likelihood(
    y: torch.Tensor, weights: torch.Tensor, bias: torch.Tensor, link: str = "softplus"
) -> torch.Tensor:
    """log p(y) = Σ_{t,n} log Poisson(y_{n,t}; λ_{n,t}), shape (...); real y allowed (lgamma)."""
    return poisson_log_prob(y, glm_rates(y, weights, bias, link)).sum((-1, -2))


@torch.no_grad()
def simulate(
    weights: torch.Tensor,
    bias: torch.Tensor,
    n_sequences: int,
    n_bins: int,
    link: str = "softplus",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sample spike trains from the GLM, vectorised over sequences (a loop over time bins).

    Returns:
        Counts (n_sequences, n_bins, N), in the dtype of ``weights``.
    """
    n, _, depth = weights.shape
    f = _link(link)
    y = torch.zeros(n_sequences, n_bins + depth, n, dtype=weights.dtype)
    flipped = weights.flip(-1)  # flipped[..., j] is lag depth − j
    for t in range(n_bins):
        window = y[:, t : t + depth, :]  # bins t − depth … t − 1 of the output, (S, D, N)
        drive = bias + torch.einsum("sdm,nmd->sn", window, flipped)
        y[:, t + depth] = torch.poisson(f(drive), generator=generator)
    return y[:, depth:]


def fit_observed_glm(
    y: torch.Tensor, depth: int, link: str = "softplus", max_iter: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """Maximum-likelihood (W, b) of a fully observed GLM (all neurons seen) by L-BFGS.

    Args:
        y: spikes (..., T, N) of every neuron.
        depth: history length D.

    Returns:
        (W of shape (N, N, D), b of shape (N,)).
    """
    y = y.detach().double()
    n = y.shape[-1]
    weights = torch.zeros(n, n, depth, dtype=torch.float64, requires_grad=True)
    rate = float(y.mean().clamp_min(1e-3))
    start = math.log(math.expm1(rate)) if link == "softplus" else math.log(rate / (1 - rate))
    bias = torch.full((n,), start, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([weights, bias], max_iter=max_iter, line_search_fn="strong_wolfe")
    scale = 1.0 / y[..., 0].numel()

    def closure():
        opt.zero_grad()
        loss = -glm_log_likelihood(y, weights, bias, link).sum() * scale
        loss.backward()
        return loss

    opt.step(closure)
    return weights.detach(), bias.detach()


def match_hidden(true_weights: torch.Tensor, weights: torch.Tensor, n_visible: int) -> np.ndarray:
    """Permutation of the learned hidden neurons that best matches the true ones.

    Hidden neurons are identifiable only up to relabelling. The cost of assigning learned hidden
    j to true hidden i is the mean |W − Ŵ| over the rows and columns of those two neurons.

    Returns:
        ``perm`` with learned hidden ``perm[i]`` playing true hidden ``i`` (length H).
    """
    w, v = true_weights.detach().cpu(), weights.detach().cpu()
    h = w.shape[0] - n_visible
    cost = np.zeros((h, h))
    for i in range(h):
        for j in range(h):
            a, b = n_visible + i, n_visible + j
            cost[i, j] = float(
                (w[a, :n_visible] - v[b, :n_visible]).abs().mean()
                + (w[:n_visible, a] - v[:n_visible, b]).abs().mean()
            )
    _, cols = linear_sum_assignment(cost)
    return cols


def permute_hidden(
    weights: torch.Tensor, bias: torch.Tensor, perm: np.ndarray, n_visible: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Relabel hidden neurons: new hidden i is old hidden ``perm[i]`` (rows and columns)."""
    order = torch.cat([torch.arange(n_visible), n_visible + torch.as_tensor(perm)])
    return weights[order][:, order], bias[order]


def connectivity_errors(
    true_weights: torch.Tensor,
    true_bias: torch.Tensor,
    weights: torch.Tensor,
    bias: torch.Tensor,
    n_visible: int,
) -> dict[str, float]:
    """Mean |W − Ŵ| (all weights, and visible→visible alone) and mean |b − b̂|, after the best
    permutation of hidden neurons (:func:`match_hidden`)."""
    perm = match_hidden(true_weights, weights, n_visible)
    w, b = permute_hidden(weights.detach().cpu(), bias.detach().cpu(), perm, n_visible)
    tw, tb = true_weights.detach().cpu(), true_bias.detach().cpu()
    return {
        "weight_error": float((tw - w).abs().mean()),
        "visible_weight_error": float((tw - w)[:n_visible, :n_visible].abs().mean()),
        "bias_error": float((tb - b).abs().mean()),
    }


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


class POGLM:
    """Partially observable Poisson GLM, fitted by variational inference (scikit-learn style).

    Args:
        n_hidden: H hidden neurons.
        history: D, the history/coupling filter length in bins.
        link: ``"softplus"`` (capped at 10) or ``"sigmoid"``.
        method: gradient estimator for the hidden spikes, any of
            :data:`poissongrad.estimators.ESTIMATORS` (e.g. ``"eat_cubic"``, ``"gsm"``,
            ``"score_loo"``).
        temperature: τ for relaxed methods.
        n_samples: Monte-Carlo samples of the hidden spikes per step.
        posterior: ``"forward_backward"`` or ``"forward"`` (see :class:`HiddenPosterior`).
        epochs: passes over the data; batch_size: sequences per step (None: all).
        lr: Adam learning rate. l2: strength of a Gaussian prior on W, l2·‖W‖² added to the
            negative ELBO of the whole data set (0: maximum likelihood).
        seed: seeds initialisation and sampling.

    Attributes (after ``fit``):
        weights_: W (N, N, D), visible neurons first. bias_: b (N,).
        posterior_: the fitted :class:`HiddenPosterior`. history_: negative ELBO per epoch.
        n_visible_: V, the number of visible neurons seen in ``fit``.

    Example:
        >>> import torch
        >>> from poissongrad.data.spikes import make_network
        >>> net = make_network("paper", seed=0)
        >>> model = POGLM(n_hidden=2, history=3, epochs=5).fit(net.train[..., :3])
        >>> model.weights_.shape
        torch.Size([5, 5, 3])
    """

    def __init__(
        self,
        n_hidden: int = 2,
        history: int = 3,
        link: str = "softplus",
        method: str = "eat_cubic",
        temperature: float = 0.5,
        n_samples: int = 5,
        posterior: Literal["forward", "forward_backward"] = "forward_backward",
        epochs: int = 300,
        batch_size: int | None = None,
        lr: float = 0.02,
        l2: float = 0.0,
        seed: int = 0,
    ) -> None:
        _link(link)
        if method not in ESTIMATORS:
            raise ValueError(f"unknown method {method!r}; expected one of {ESTIMATORS}")
        self.n_hidden, self.history, self.link, self.method = n_hidden, history, link, method
        self.temperature, self.n_samples, self.posterior = temperature, n_samples, posterior
        self.epochs, self.batch_size, self.lr, self.seed = epochs, batch_size, lr, seed
        self.l2 = l2

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _as_sequences(counts: torch.Tensor | np.ndarray) -> torch.Tensor:
        y = torch.as_tensor(counts, dtype=torch.float64)
        if y.dim() == 2:
            y = y.unsqueeze(0)
        if y.dim() != 3:
            raise ValueError(f"counts must be (T, V) or (sequences, T, V), got {tuple(y.shape)}")
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
        """Fit to visible spike counts (T, V) or (sequences, T, V); returns self."""
        x = self._as_sequences(counts)
        v, n = x.shape[-1], x.shape[-1] + self.n_hidden
        gen = torch.Generator().manual_seed(self.seed)
        rate = float(x.mean().clamp(1e-3, RATE_CAP - 1e-3))
        start = (
            math.log(math.expm1(rate)) if self.link == "softplus" else math.log(rate / (1 - rate))
        )
        weights = 0.01 * torch.randn(n, n, self.history, generator=gen, dtype=torch.float64)
        weights.requires_grad_(True)
        bias = torch.full((n,), start, dtype=torch.float64, requires_grad=True)
        q = HiddenPosterior(v, self.n_hidden, self.history, self.posterior).double()
        with torch.no_grad():
            q.kernel.normal_(0.0, 0.01, generator=gen)
            q.offset.fill_(math.log(math.expm1(rate)))
        params = [weights, bias, *q.parameters()]
        opt = torch.optim.Adam(params, lr=self.lr)
        size = self.batch_size or len(x)
        self.history_ = []
        for _ in range(self.epochs):
            order = torch.randperm(len(x), generator=gen)
            total = 0.0
            for start_i in range(0, len(x), size):
                batch = x[order[start_i : start_i + size]]
                rate_q = q.rate(batch)
                loss = surrogate_loss(
                    lambda z, b=batch, r=rate_q: self._negative_elbo(b, weights, bias, r, z),
                    rate_q.log().flatten(-2),
                    self.method,
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
            self.history_.append(total / len(x))
        self.weights_, self.bias_ = weights.detach(), bias.detach()
        self.posterior_ = q.requires_grad_(False)
        self.n_visible_ = v
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "weights_"):
            raise RuntimeError("this POGLM is not fitted yet; call fit(counts) first")

    @torch.no_grad()
    def sample_hidden(
        self,
        counts: torch.Tensor | np.ndarray,
        n_samples: int = 1,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Hard draws from q(hidden | visible): (n_samples, sequences, T, H)."""
        self._check_fitted()
        rate = self.posterior_.rate(self._as_sequences(counts))
        return torch.poisson(rate.expand(n_samples, *rate.shape), generator=generator)

    @torch.no_grad()
    def _log_weights(self, counts: torch.Tensor | np.ndarray, n_samples: int, seed: int):
        """log p(x, z) − log q(z | x) for hard z ~ q: (n_samples, sequences)."""
        self._check_fitted()
        x = self._as_sequences(counts)
        rate = self.posterior_.rate(x)
        gen = torch.Generator().manual_seed(seed)
        z = torch.poisson(rate.expand(n_samples, *rate.shape), generator=gen)
        return -self._negative_elbo(x, self.weights_, self.bias_, rate, z.flatten(-2))

    def elbo(self, counts: torch.Tensor | np.ndarray, n_samples: int = 64, seed: int = 0) -> float:
        """ELBO per sequence with hard posterior samples (nats), averaged over sequences."""
        return float(self._log_weights(counts, n_samples, seed).mean())

    def score(
        self, counts: torch.Tensor | np.ndarray, n_samples: int = 256, seed: int = 0
    ) -> float:
        """Importance-weighted estimate of log p(visible) per sequence (nats), averaged.

        log p(x) ≈ log mean_k exp(log p(x, z_k) − log q(z_k | x)), z_k ~ q; a lower bound that
        tightens as ``n_samples`` grows.
        """
        log_w = self._log_weights(counts, n_samples, seed)
        return float((torch.logsumexp(log_w, 0) - math.log(n_samples)).mean())

    @torch.no_grad()
    def sample(self, n_sequences: int, n_bins: int, seed: int = 0) -> torch.Tensor:
        """Simulate the fitted network: counts (n_sequences, n_bins, N), visible first."""
        self._check_fitted()
        gen = torch.Generator().manual_seed(seed)
        return simulate(self.weights_, self.bias_, n_sequences, n_bins, self.link, gen)
