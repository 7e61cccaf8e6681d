"""Held-out log-likelihood of visible spikes that does not depend on a variational posterior.

A bootstrap particle filter (sequential importance resampling) over the hidden spikes of a
partially observed Poisson GLM (:mod:`poissongrad.glm`): at every bin each particle's hidden
spikes are drawn from the model given the particle's history, the particle is weighted by the
Poisson probability of the observed visible spikes given that history, and particles are
resampled in proportion to their weights. The product over bins of the mean weights is an
unbiased estimate of p(visible); its log is a slightly downward-biased estimate of log p(visible)
whose bias and noise shrink as the number of particles grows. Vectorised over sequences and
particles (a Python loop over time bins only).

Examples
--------
>>> import torch
>>> from poissongrad.data.spikes import make_network
>>> from poissongrad.glm import GLM
>>> net = make_network("paper", seed=0)
>>> glm = GLM(net.weights, net.bias)
>>> ll, se = particle_log_likelihood(net.test[:4, :, :3], glm, n_particles=200,
...                                  generator=torch.Generator().manual_seed(0))
>>> ll.shape, bool((se < 1).all())
(torch.Size([4]), True)
"""

from __future__ import annotations

import math

import torch

from poissongrad.glm import GLM, get_link
from poissongrad.samplers.moments import poisson_log_prob

__all__ = ["particle_log_likelihood"]


@torch.no_grad()
def particle_log_likelihood(
    visible: torch.Tensor,
    glm: GLM,
    n_particles: int = 500,
    n_repeats: int = 4,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(visible) per sequence by a bootstrap particle filter, and its Monte-Carlo error.

    Parameters
    ----------
    visible : Tensor (sequences, T, V)
        Visible spike counts.
    glm : GLM
        The model (N = V + H neurons, visible first); its drive, if any, is (sequences, T, N).
    n_particles : int
        Particles per filter (≥ 1).
    n_repeats : int
        Independent filters (≥ 2 for a standard error); the estimate is their mean.
    generator : torch.Generator, optional

    Returns
    -------
    (log-likelihood, standard error), each of shape (sequences,), nats per sequence. With
    ``n_repeats`` = 1 the standard error is NaN.
    """
    if visible.dim() != 3:
        raise ValueError(f"visible must be (sequences, T, V), got shape {tuple(visible.shape)}")
    n, depth = glm.n_neurons, glm.depth
    v = visible.shape[-1]
    if v > n:
        raise ValueError(f"visible has {v} neurons but the GLM has {n}")
    for name, value in (("n_particles", n_particles), ("n_repeats", n_repeats)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    f = get_link(glm.link).forward
    x = visible.to(glm.weights.dtype)
    sequences, bins = x.shape[:2]
    particles = n_repeats * n_particles
    # history[s, p, j] holds bin t − depth + j of every neuron (zeros before the start).
    history = x.new_zeros(sequences, particles, depth, n)
    flipped = glm.weights.flip(-1)  # flipped[..., j] is lag depth − j
    log_z = x.new_zeros(sequences, n_repeats)
    if glm.drive is not None and glm.drive.shape != (sequences, bins, n):
        raise ValueError(
            f"the GLM's drive must be (sequences, T, N) = {(sequences, bins, n)}, got "
            f"{tuple(glm.drive.shape)}"
        )
    baseline = glm.baseline(x).expand(sequences, bins, n)  # (S, T, N)
    rows = torch.arange(sequences).unsqueeze(-1)
    offsets = (torch.arange(n_repeats) * n_particles).repeat_interleave(n_particles)
    for t in range(bins):
        rate = f(baseline[:, t, None] + torch.einsum("spdm,nmd->spn", history, flipped))  # (S,P,N)
        log_w = poisson_log_prob(x[:, t, None, :], rate[..., :v]).sum(-1)  # (S, P)
        grouped = log_w.reshape(sequences, n_repeats, n_particles)
        log_z += torch.logsumexp(grouped, -1) - math.log(n_particles)
        # Resample within each independent filter in proportion to the weights.
        probs = torch.softmax(grouped, -1).reshape(sequences * n_repeats, n_particles)
        picks = torch.multinomial(probs, n_particles, replacement=True, generator=generator)
        index = picks.reshape(sequences, particles) + offsets
        history, rate = history[rows, index], rate[rows, index]
        hidden = torch.poisson(rate[..., v:], generator=generator)
        step = torch.cat([x[:, t, None, :].expand(-1, particles, -1), hidden], dim=-1)
        history = torch.cat([history[:, :, 1:], step.unsqueeze(2)], dim=2)
    estimate = log_z.mean(-1)
    se = (
        log_z.std(-1) / math.sqrt(n_repeats)
        if n_repeats > 1
        else torch.full_like(estimate, math.nan)
    )
    return estimate, se
