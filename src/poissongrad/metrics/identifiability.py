"""Can the visible spikes identify a POGLM's hidden connectivity? A Fisher-information check.

For parameters θ = (W, b) of the GLM of :mod:`poissongrad.glm` with hidden spikes z unobserved,
Louis' identity splits the complete-data information into what the visible spikes x keep and
what the missing z take away:

    I_observed(θ) = E_{z|x}[−∇² log p(x, z; θ)] − Σ_sequences Cov_{z|x}[∇ log p(x, z; θ)],
    I_complete(θ) = E_{z|x}[−∇² log p(x, z; θ)].

Both expectations use hidden spikes drawn from the exact posterior p(z | x; θ) by a Gibbs sampler
(:func:`gibbs_hidden`; no variational family). For each connectivity block (visible←visible,
visible←hidden, hidden←visible, hidden←hidden; :data:`~poissongrad.metrics.connectivity.Block`)
the information about the block (the other parameters known) is compared between observed and
complete data: the **share** tr(I_observed[B, B]) / tr(I_complete[B, B]) is 1 when the visible
spikes carry all the information about the block that the hidden spikes would add and 0 when
they carry none; roughly, 1/share is the variance inflation over a fully observed fit. A block
is **trusted** when its share is at least :data:`TRUST_THRESHOLD` (variances at most about twice
those of a fully observed fit), a rule fixed before any setting was looked at. With the other
parameters unknown the information can only be lower, so the check errs towards trusting.

Examples
--------
>>> import torch
>>> from poissongrad.data.spikes import make_network
>>> from poissongrad.glm import GLM
>>> net = make_network("paper", seed=0)
>>> check = identifiability(net.train[:10, :, :3], GLM(net.weights, net.bias), n_samples=40,
...                         burn_in=20, generator=torch.Generator().manual_seed(0))
>>> sorted(check), check["vv"].trusted, check["hh"].trusted
(['hh', 'hv', 'vh', 'vv'], True, False)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from scipy import stats

from poissongrad.glm import GLM, get_link, lagged
from poissongrad.metrics.connectivity import Block
from poissongrad.samplers.moments import poisson_log_prob

__all__ = [
    "fitted_identifiability",
    "TRUST_THRESHOLD",
    "BlockShare",
    "gibbs_hidden",
    "identifiability",
    "louis_information",
]

#: A block is trusted when the visible spikes keep at least this share of its information.
TRUST_THRESHOLD = 0.5

#: Blocks by their key (rows ← columns: vv, vh, hv, hh): (target part, source part).
BLOCK_NAMES = {str(b): (b.target, b.source) for b in Block}


class BlockShare(NamedTuple):
    """Share of complete-data information the visible spikes keep for one block of W.

    share: tr(I_obs) / tr(I_complete) over the block (1: nothing lost; near 0: nothing kept;
    Monte-Carlo noise can take it slightly below 0); se: its Monte-Carlo standard error (spread
    over batches of posterior draws); worst: the smallest generalised eigenvalue (the least
    informed direction, ≤ 0 when some direction has no information); trusted: share ≥
    :data:`TRUST_THRESHOLD`.
    """

    share: float
    se: float
    worst: float
    trusted: bool


@torch.no_grad()
def gibbs_hidden(
    visible: torch.Tensor,
    glm: GLM,
    n_samples: int = 200,
    burn_in: int = 100,
    generator: torch.Generator | None = None,
    max_count: int | None = None,
) -> torch.Tensor:
    """Draws of the hidden spikes from their exact posterior p(z | x) by Gibbs sampling.

    One sweep updates every hidden count once from its full conditional over 0..``max_count``:
    per hidden neuron, the bins t ≡ r (mod D + 1) are conditionally independent given the rest
    (a count at t enters only the likelihood terms of bins t..t + D), so each update is a
    vectorised draw over sequences and those bins (a Python loop over H·(D + 1) updates).

    Parameters
    ----------
    visible : Tensor (sequences, T, V)
    glm : GLM
        The model, visible neurons first; its drive, if any, is (sequences, T, N).
    n_samples : int
        Sweeps kept (one draw per sweep, after ``burn_in`` sweeps from all-zero hidden spikes).
    max_count : int, optional
        Largest hidden count considered; default: the (1 − 10⁻⁹) Poisson quantile of the link's
        largest rate (30 for the softplus link capped at 10), a truncation of mass < 10⁻⁹.

    Returns
    -------
    Tensor (n_samples, sequences, T, H), float in the dtype of ``weights``.
    """
    f = get_link(glm.link)
    weights, n, depth = glm.weights, glm.n_neurons, glm.depth
    x = visible.to(weights.dtype)
    sequences, bins, v = x.shape
    if max_count is None:
        max_count = int(stats.poisson.ppf(1.0 - 1e-9, f.upper))
    y = torch.cat([x, x.new_zeros(sequences, bins, n - v)], dim=-1)
    baseline = glm.baseline(x)
    candidates = torch.arange(max_count + 1, dtype=x.dtype).view(-1, 1, 1)
    kept = []
    for sweep in range(burn_in + n_samples):
        for j in range(v, n):
            for phase in range(depth + 1):
                t = torch.arange(phase, bins, depth + 1)
                total = baseline + torch.einsum(
                    "stmd,nmd->stn", lagged(y, range(1, depth + 1)), weights
                )
                log_p = poisson_log_prob(candidates, f.forward(total[:, t, j]))  # (K+1, S, G)
                change = candidates - y[:, t, j]  # (K+1, S, G)
                for d in range(1, depth + 1):
                    later = (t + d).clamp(max=bins - 1)
                    shifted = total[:, later] + change.unsqueeze(-1) * weights[:, j, d - 1]
                    terms = poisson_log_prob(y[:, later], f.forward(shifted)).sum(-1)
                    log_p += terms * (t + d < bins)
                u = torch.rand(log_p.shape, generator=generator, dtype=x.dtype)
                gumbel = -torch.log(-torch.log(u.clamp_min(1e-300)))
                y[:, t, j] = (log_p + gumbel).argmax(0).to(x.dtype)
        if sweep >= burn_in:
            kept.append(y[..., v:].clone())
    return torch.stack(kept)


def louis_information(
    visible: torch.Tensor,
    hidden: torch.Tensor,
    glm: GLM,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(complete, observed) Fisher information of θ = (W, b) by Louis' identity.

    Parameters
    ----------
    visible : Tensor (sequences, T, V)
    hidden : Tensor (samples, sequences, T, H)
        Posterior draws (e.g. :func:`gibbs_hidden`); at least 2.
    glm : GLM
        Where the information is evaluated.

    Returns
    -------
    Two (P, P) matrices, P = N·(N·D + 1), parameters ordered by target neuron n: W[n, m, d] at
    index n·(N·D + 1) + m·D + d and b_n at n·(N·D + 1) + N·D.
    """
    weights, depth = glm.weights, glm.depth
    samples = hidden.shape[0]
    x = visible.to(weights.dtype).expand(samples, *visible.shape)
    y = torch.cat([x, hidden.to(weights.dtype)], dim=-1)  # (I, S, T, N)
    history = lagged(y, range(1, depth + 1))  # (I, S, T, N, D)
    features = torch.cat([history.flatten(-2), torch.ones_like(history[..., 0, :1])], dim=-1)
    drive_total = glm.baseline(y) + torch.einsum("istmd,nmd->istn", history, weights)
    drive_total.requires_grad_(True)
    with torch.enable_grad():
        log_lik = poisson_log_prob(y, get_link(glm.link).forward(drive_total)).sum()
        (slope,) = torch.autograd.grad(log_lik, drive_total, create_graph=True)
        (curvature,) = torch.autograd.grad(slope.sum(), drive_total)
    slope = slope.detach()
    # Per-sequence scores (I, S, N·Q); the complete information is block-diagonal in the target.
    scores = torch.einsum("istn,istq->isnq", slope, features).flatten(-2)
    blocks = -torch.einsum("istn,istq,istr->nqr", curvature, features, features) / samples
    complete = torch.block_diag(*blocks)
    centred = scores - scores.mean(0)
    missing = torch.einsum("isp,isr->pr", centred, centred) / (samples - 1)
    return complete, complete - missing


def _block_indices(n: int, n_visible: int, depth: int, target: str, source: str) -> torch.Tensor:
    q = n * depth + 1
    part = {"visible": range(n_visible), "hidden": range(n_visible, n)}
    return torch.tensor(
        [r * q + m * depth + d for r in part[target] for m in part[source] for d in range(depth)]
    )


def _shares(complete: torch.Tensor, observed: torch.Tensor, block: torch.Tensor) -> BlockShare:
    """Share of one block's information kept by the visible spikes (other parameters known).

    share = tr(I_obs[B, B]) / tr(I_complete[B, B]); worst = the smallest generalised eigenvalue
    of (I_obs[B, B], I_complete[B, B]), negative where the Monte-Carlo estimate of the observed
    information (at parameters that are not the maximum-likelihood fit of these data) is
    indefinite: a direction with no usable information.
    """
    c, o = complete[block][:, block], observed[block][:, block]
    lower = torch.linalg.cholesky(c)
    whitened = torch.linalg.solve_triangular(lower, o, upper=False)
    whitened = torch.linalg.solve_triangular(lower, whitened.T, upper=False)
    share = float(o.trace() / c.trace())
    worst = float(torch.linalg.eigvalsh((whitened + whitened.T) / 2).min())
    return BlockShare(share, 0.0, worst, share >= TRUST_THRESHOLD)


@torch.no_grad()
def identifiability(
    visible: torch.Tensor,
    glm: GLM,
    n_samples: int = 200,
    burn_in: int = 100,
    generator: torch.Generator | None = None,
    n_batches: int = 4,
) -> dict[str, BlockShare]:
    """Per block of W, the share of complete-data information that the visible spikes keep.

    Parameters
    ----------
    visible : Tensor (sequences, T, V)
        Visible spike counts (the data whose information is assessed).
    glm : GLM
        Where the information is evaluated: the true parameters on simulated data, the fitted
        ones otherwise (see :func:`fitted_identifiability`); its drive, if any, is
        (sequences, T, N).
    n_samples, burn_in : int
        Gibbs sweeps kept and discarded (:func:`gibbs_hidden`).
    n_batches : int
        The kept draws are split into this many consecutive batches; the spread of the share
        over batches gives its standard error.

    Returns
    -------
    ``{"vv", "vh", "hv", "hh": BlockShare}`` (rows ← columns: visible←visible, …); with no hidden
    neuron, only ``"vv"`` (share 1).
    """
    n, depth = glm.n_neurons, glm.depth
    v = visible.shape[-1]
    if n == v:
        return {"vv": BlockShare(1.0, 0.0, 1.0, True)}
    if n_samples < 2 * n_batches:
        raise ValueError(f"n_samples must be >= 2·n_batches = {2 * n_batches}, got {n_samples}")
    hidden = gibbs_hidden(visible, glm, n_samples, burn_in, generator)
    with torch.enable_grad():
        total = louis_information(visible, hidden, glm)
        batches = [louis_information(visible, part, glm) for part in hidden.chunk(n_batches)]
    out = {}
    for name, (target, source) in BLOCK_NAMES.items():
        block = _block_indices(n, v, depth, target, source)
        spread = torch.tensor([_shares(*b, block).share for b in batches])
        out[name] = _shares(*total, block)._replace(se=float(spread.std() / n_batches**0.5))
    return out


def fitted_identifiability(
    model,
    counts: torch.Tensor,
    n_samples: int = 200,
    burn_in: int = 100,
    seed: int = 0,
    inputs: torch.Tensor | None = None,
    offsets: torch.Tensor | None = None,
) -> dict[str, BlockShare]:
    """:func:`identifiability` of a fitted POGLM at its fitted parameters, on ``counts``
    (with the ``inputs`` and ``offsets`` it was fitted with).

    ``model`` is anything with ``design(counts, inputs)`` returning (visible counts, fitted
    :class:`~poissongrad.glm.GLM`) (:class:`poissongrad.models.POGLM`); the metric reads the
    model, the model knows nothing of the metric. Keys ``"vv"``, ``"vh"``, ``"hv"``, ``"hh"``
    (rows ← columns: v←h is visible neurons driven by hidden ones).
    """
    x, glm = model.design(counts, inputs, offsets)
    gen = torch.Generator().manual_seed(seed)
    return identifiability(x, glm, n_samples, burn_in, gen)
