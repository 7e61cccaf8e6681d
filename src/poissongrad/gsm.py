"""Gumbel-SoftMax (GSM) relaxation of a count over a truncated support {0, …, K − 1}.

The relaxed count is z̃ = Σ_k k·w_k with w = softmax((ℓ + G)/τ), ℓ the log-pmf on the support
(up to a constant) and G_k iid Gumbel(0, 1). :func:`gumbel_softmax_counts` takes any logits, so
another count law (negative binomial, COM-Poisson) plugs in by supplying its own log-pmf; the
Poisson one is :func:`poisson_logits`. Cost and memory are O(K·numel).

Examples
--------
>>> import torch
>>> rate = torch.tensor([3.0])
>>> auto_support_size(rate)  # covers all but 1e-6 of Poisson(3)
15
>>> z = gumbel_softmax_counts(poisson_logits(rate, 15), 0.1, hard=True)
>>> bool(z == z.round())
True
"""

from __future__ import annotations

import torch
from scipy import stats

__all__ = ["poisson_logits", "auto_support_size", "gumbel_softmax_counts", "GSM_TAIL_MASS"]

#: Default tail mass left outside the support by ``support_size="auto"``.
GSM_TAIL_MASS = 1e-6


def auto_support_size(rate: torch.Tensor, tail_mass: float = GSM_TAIL_MASS) -> int:
    """Smallest K such that P(Poisson(λ_max) ≥ K) ≤ ``tail_mass`` for the largest rate.

    One host sync (the largest rate). Under ``torch.jit.trace`` the size would be frozen at its
    trace-time value and silently wrong at other rates, so tracing raises ``ValueError``: pass a
    fixed ``support_size`` there.
    """
    if torch.jit.is_tracing():
        raise ValueError(
            "support_size='auto' depends on the rates and cannot be traced: a trace would keep "
            "the size of the example rates; pass a fixed support_size"
        )
    rate_max = float(rate.detach().max()) if rate.numel() else 0.0
    return int(stats.poisson.ppf(1.0 - tail_mass, rate_max)) + 1


def poisson_logits(rate: torch.Tensor, support_size: int) -> torch.Tensor:
    """Poisson log-pmf up to a constant: ℓ_k = k·log λ − log k! − max_j ℓ_j for k = 0 … K − 1.

    Args:
        rate: λ ≥ 0, shape (*B).
        support_size: K ≥ 1.

    Returns:
        Tensor of shape (*B, K), differentiable in ``rate`` (zero gradient at λ = 0 exactly).
    """
    # In float64 and relative to the largest logit: k log λ − log k! reaches ~1e5 at λ = 1e4,
    # where float32 would keep only ~0.01 of the differences that the softmax sees.
    wide = rate.double()
    k = torch.arange(support_size, dtype=torch.float64, device=rate.device)
    log_rate = wide.clamp_min(torch.finfo(rate.dtype).tiny).log().unsqueeze(-1)
    logits = k * log_rate - torch.lgamma(k + 1.0)
    logits = (logits - logits.detach().amax(-1, keepdim=True)).to(rate.dtype)
    # Rate 0 puts all mass on k = 0 (the clamp alone would leave e^{-87} on k = 1 in float32).
    return logits.masked_fill((rate == 0).unsqueeze(-1) & (k > 0), float("-inf"))


def gumbel_softmax_counts(
    logits: torch.Tensor,
    temperature: float | torch.Tensor,
    hard: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Relaxed count Σ_k k·softmax((ℓ + G)/τ)_k over the last axis of ``logits``.

    Args:
        logits: unnormalised log-probabilities of the counts 0 … K − 1, shape (*B, K).
        temperature: τ > 0, a float or a tensor of shape (*B) (one τ per count).
        hard: straight-through; forward the Gumbel-max count argmax_k(ℓ_k + G_k) (an exact
            sample of the truncated law), backward through the soft weights.
        generator: optional ``torch.Generator``.

    Returns:
        Tensor of shape (*B), differentiable in ``logits``.
    """
    # G = −log E with E ~ Exponential(1) is Gumbel(0, 1).
    noise = torch.empty_like(logits).exponential_(generator=generator).log_().neg_()
    perturbed = logits + noise
    tau = temperature.unsqueeze(-1) if isinstance(temperature, torch.Tensor) else temperature
    weights = torch.softmax(perturbed / tau, dim=-1)
    k = torch.arange(logits.shape[-1], dtype=logits.dtype, device=logits.device)
    soft = weights @ k
    if not hard:
        return soft
    count = perturbed.detach().argmax(dim=-1).to(logits.dtype)
    return soft + (count - soft).detach()
