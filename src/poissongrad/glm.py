"""The Poisson GLM of a neural population: links, history features, rates and likelihood.

N neurons in discrete time bins; neuron n fires y_{n,t} ~ Poisson(λ_{n,t}) with
λ_{n,t} = link(b_n + Σ_m Σ_{d=1..D} W_{n,m,d} y_{m,t−d} + u_{n,t}). W (N, N, D) holds the history
and coupling filters (W[n, m, d − 1] from m to n at lag d), b (N,) the baselines and u an
optional external drive (..., T, N), e.g. a stimulus filtered by :func:`input_drive`. Spike
arrays are (..., T, N): time then neurons, with any leading (sequence, sample) axes. Rates are in
spikes per bin.

Examples
--------
>>> import torch
>>> from poissongrad.glm import get_link
>>> link = get_link("sigmoid")
>>> float(link.forward(link.inverse(0.25)))
0.25
>>> round(float(link.inverse(3.0)), 4)  # beyond the sigmoid's range: clamped, no domain error
6.9068
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from poissongrad.samplers.moments import poisson_log_prob

__all__ = [
    "GLM",
    "LINKS",
    "Link",
    "RATE_CAP",
    "fit_observed_glm",
    "get_link",
    "glm_log_likelihood",
    "glm_rates",
    "history_drive",
    "input_drive",
    "lagged",
]

#: The softplus link is capped at this many spikes per bin.
RATE_CAP = 10.0


@dataclass(frozen=True)
class Link:
    """An inverse link (drive → rate) and its inverse (rate → drive), with the rate range.

    ``forward`` maps a drive tensor to rates in (0, ``upper``); ``inverse`` maps a rate (float or
    tensor) back, clamping it into the open range first so that any mean count gives a finite
    starting drive.
    """

    name: str
    forward: Callable[[torch.Tensor], torch.Tensor]
    inverse_fn: Callable[[torch.Tensor], torch.Tensor]
    upper: float

    def inverse(self, rate: float | torch.Tensor) -> torch.Tensor:
        r = torch.as_tensor(rate, dtype=torch.float64)
        margin = 1e-3 * self.upper
        return self.inverse_fn(r.clamp(margin, self.upper - margin))


def _softplus_capped(a: torch.Tensor) -> torch.Tensor:
    return nn.functional.softplus(a).clamp(max=RATE_CAP)


LINKS: dict[str, Link] = {
    "softplus": Link("softplus", _softplus_capped, lambda r: torch.log(torch.expm1(r)), RATE_CAP),
    "sigmoid": Link("sigmoid", torch.sigmoid, torch.logit, 1.0),
}


def get_link(name: str) -> Link:
    """The link called ``name``; ``ValueError`` naming the choices otherwise."""
    if name not in LINKS:
        raise ValueError(f"unknown link {name!r}; expected one of {sorted(LINKS)}")
    return LINKS[name]


def lagged(y: torch.Tensor, lags: range) -> torch.Tensor:
    """Shifted copies of spikes: out[..., t, m, i] = y[..., t − lags[i], m], zero outside [0, T).

    Parameters
    ----------
    y : Tensor (..., T, N)
        Spikes.
    lags : range
        e.g. ``range(1, D + 1)`` (past only) or ``range(-D, D + 1)``.

    Returns
    -------
    Tensor (..., T, N, len(lags)), differentiable in ``y``.
    """
    t = y.shape[-2]
    before, after = max(max(lags), 0), max(-min(lags), 0)
    padded = nn.functional.pad(y, (0, 0, before, after))
    return torch.stack([padded[..., before - d : before - d + t, :] for d in lags], dim=-1)


def input_drive(inputs: torch.Tensor, input_weights: torch.Tensor) -> torch.Tensor:
    """External drive u (..., T, N) of inputs (..., T, C) through filters (N, C, L).

    u[..., t, n] = Σ_c Σ_{l=0..L−1} K[n, c, l] s[..., t − l, c]: lag 0 (the same bin) included,
    zero before the start. Differentiable in both arguments.
    """
    features = lagged(inputs, range(0, input_weights.shape[-1]))
    return torch.einsum("...tcl,ncl->...tn", features, input_weights)


#: Filters with at most this many coefficients per neuron (neurons × lags) take the lagged
#: copies and one matrix product; wider ones a convolution, faster there and without the copies.
_MATMUL_FILTER_SIZE = 32


def history_drive(y: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The spike-history term Σ_m Σ_{d=1..D} W[n, m, d − 1] y[..., t − d, m], shape (..., T, N).

    In the dtype of ``y``, zero before the start. Small filters (N·D ≤ 32, e.g. the paper's
    5 neurons × 3 lags) multiply the :func:`lagged` copies by W as one matrix; larger ones run
    one 1-D convolution over time, which does not materialise the (..., T, N, D) copies. The
    two agree up to rounding. Differentiable in both arguments.
    """
    bins, n = y.shape[-2:]
    depth = weights.shape[-1]
    weights = weights.to(y.dtype)
    if n * depth <= _MATMUL_FILTER_SIZE:
        return lagged(y, range(1, depth + 1)).flatten(-2) @ weights.reshape(n, -1).T
    series = y.reshape(-1, bins, n).transpose(1, 2)  # (B, M, T)
    padded = nn.functional.pad(series, (depth, 0))  # bin t of the output sees t − D … t − 1
    out = nn.functional.conv1d(padded, weights.flip(-1))[..., :bins]
    return out.transpose(1, 2).reshape(*y.shape[:-1], n)


def glm_rates(
    y: torch.Tensor,
    weights: torch.Tensor,
    bias: torch.Tensor,
    link: str = "softplus",
    drive: torch.Tensor | None = None,
) -> torch.Tensor:
    """Conditional rates λ (..., T, N) of every neuron given the spike history of ``y``.

    Parameters
    ----------
    y : Tensor (..., T, N)
    weights : Tensor (N, N, D)
        W[n, m, d − 1] from neuron m to n at lag d.
    bias : Tensor (N,)
    link : str
        A key of :data:`LINKS`.
    drive : Tensor (..., T, N), optional
        External drive added before the link (e.g. :func:`input_drive` of a stimulus).
    """
    total = bias.to(y.dtype) + history_drive(y, weights)
    return get_link(link).forward(total if drive is None else total + drive.to(y.dtype))


def glm_log_likelihood(
    y: torch.Tensor,
    weights: torch.Tensor,
    bias: torch.Tensor,
    link: str = "softplus",
    drive: torch.Tensor | None = None,
) -> torch.Tensor:
    """log p(y) = Σ_{t,n} log Poisson(y_{n,t}; λ_{n,t}), shape (...); real y allowed (lgamma).

    ``drive``: optional external drive (..., T, N), see :func:`glm_rates`.
    """
    return poisson_log_prob(y, glm_rates(y, weights, bias, link, drive)).sum((-1, -2))


@dataclass(frozen=True)
class GLM:
    """A Poisson GLM at fixed parameters: the one object the likelihood, the particle filter
    (:func:`poissongrad.particle_filter.particle_log_likelihood`) and the identifiability metric
    (:mod:`poissongrad.metrics.identifiability`) evaluate.

    Attributes:
        weights: W (N, N, D), W[n, m, d − 1] from neuron m to n at lag d; visible neurons first
            when some are hidden.
        bias: b (N,), in the link's domain.
        link: a key of :data:`LINKS`.
        drive: optional external drive u (..., T, N) added before the link (e.g.
            :func:`input_drive` of a stimulus), with the leading axes of the spikes it goes with.

    Examples:
        >>> glm = GLM(torch.zeros(2, 2, 3), torch.zeros(2), "sigmoid")
        >>> glm.n_neurons, glm.depth, glm.rates(torch.zeros(5, 2)).shape
        (2, 3, torch.Size([5, 2]))
    """

    weights: torch.Tensor
    bias: torch.Tensor
    link: str = "softplus"
    drive: torch.Tensor | None = None

    def __post_init__(self) -> None:
        get_link(self.link)
        if self.weights.dim() != 3 or self.weights.shape[0] != self.weights.shape[1]:
            raise ValueError(f"weights must be (N, N, D), got shape {tuple(self.weights.shape)}")
        if self.bias.shape != self.weights.shape[:1]:
            raise ValueError(
                f"bias must be (N,) = ({self.n_neurons},), got shape {tuple(self.bias.shape)}"
            )

    @property
    def n_neurons(self) -> int:
        """N."""
        return self.weights.shape[0]

    @property
    def depth(self) -> int:
        """D, the history length in bins."""
        return self.weights.shape[-1]

    def baseline(self, like: torch.Tensor) -> torch.Tensor:
        """b + u in the dtype of ``like``: (N,) without a drive, (..., T, N) with one."""
        bias = self.bias.to(like.dtype)
        return bias if self.drive is None else bias + self.drive.to(like.dtype)

    def rates(self, y: torch.Tensor) -> torch.Tensor:
        """λ (..., T, N) given the spike history of ``y`` (..., T, N) (:func:`glm_rates`)."""
        return glm_rates(y, self.weights, self.bias, self.link, self.drive)

    def log_likelihood(self, y: torch.Tensor) -> torch.Tensor:
        """log p(y), shape (...) (:func:`glm_log_likelihood`)."""
        return glm_log_likelihood(y, self.weights, self.bias, self.link, self.drive)


def fit_observed_glm(
    y: torch.Tensor, depth: int, link: str = "softplus", max_iter: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """Maximum-likelihood (W, b) of a fully observed GLM (all neurons seen) by L-BFGS.

    Parameters
    ----------
    y : Tensor (..., T, N)
        Spikes of every neuron.
    depth : int
        History length D ≥ 1.

    Returns
    -------
    (W of shape (N, N, D), b of shape (N,)), float64.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    y = y.detach().double()
    n = y.shape[-1]
    weights = torch.zeros(n, n, depth, dtype=torch.float64, requires_grad=True)
    start = get_link(link).inverse(float(y.mean()))
    bias = start.expand(n).clone().requires_grad_(True)
    opt = torch.optim.LBFGS([weights, bias], max_iter=max_iter, line_search_fn="strong_wolfe")
    scale = 1.0 / y[..., 0].numel()

    def closure():
        opt.zero_grad()
        loss = -glm_log_likelihood(y, weights, bias, link).sum() * scale
        loss.backward()
        return loss

    opt.step(closure)
    return weights.detach(), bias.detach()
