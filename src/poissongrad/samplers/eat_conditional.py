"""EAT relaxations coupled to a hard Poisson count: the arrival process given N(1) = k.

REBAR-type control variates need a relaxed sample z̃ drawn *given* the hard count k and
differentiable in λ with k held fixed. For EAT this is cheap, because the arrival process of a
Poisson count has a simple conditional law:

* given N(1) = k, the k arrival times in [0, 1] are k independent uniforms on [0, 1] (sorted,
  the uniform order statistics), whatever λ is;
* by memorylessness the arrivals after 1 are 1 + (a rate-λ process on [0, ∞)), independent of
  the first k.

So for an indicator g_τ that is hard outside a window [lo, hi] with lo < 1 < hi (lo = 1 − τ,
hi = 1 + τ for the compact indicators; 1 ∓ 20τ for the sigmoid, clipped at 0, see
:data:`~poissongrad.samplers.indicators.SIGMOID_CUTOFF`):

* of the k arrivals in [0, 1], n_in ~ Binomial(k, 1 − lo) lie in [lo, 1], uniform there; the
  other k − n_in lie before lo and count exactly 1;
* m ~ Poisson(λ(hi − 1)) arrivals lie in (1, hi], uniform there; later ones count 0;

and z̃ = k − n_in + Σ_j g_τ(T_j) over those n_in + m arrivals. Drawing k ~ Poisson(λ) first and
then this gives exactly the unconditional EAT law (Poisson thinning), so **one draw is both
REBAR's unconditional relaxation z and its conditional relaxation z̃ | k**; only their
derivatives in λ differ:

* unconditional (the whole process reparameterised as T = Γ/λ, Γ a unit-rate process):
  ∂T/∂λ = −T/λ for every arrival, so ∂z̃/∂λ = −Σ_j T_j g'_τ(T_j)/λ (the pathwise EAT gradient);
* conditional on k (the times in [0, 1] do not depend on λ; those after 1 are 1 + Γ'/λ):
  ∂T/∂λ = 0 for T ≤ 1 and −(T − 1)/λ for T > 1, so ∂z̃/∂λ|_k = −Σ_{T_j > 1} (T_j − 1) g'_τ(T_j)/λ.

Both hold for every indicator of :data:`poissongrad.samplers.indicators.INDICATORS`. The values (z̃
and
both slopes) are differentiable in τ when τ is a tensor that requires grad (the arrival times do
not depend on τ, and arrivals outside the window have g' = 0), which is how a control variate
learns its temperature.

Examples
--------
>>> import torch
>>> from poissongrad.samplers.indicators import get_indicator
>>> k = torch.tensor([0.0, 3.0, 7.0])
>>> draw = conditional_relaxation(k, torch.tensor([1.0, 4.0, 6.0]), 0.2, get_indicator("cubic"),
...                               generator=torch.Generator().manual_seed(0))
>>> bool(((draw.relaxed - k).abs() <= draw.window_arrivals).all())  # only window arrivals move
True
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from poissongrad.samplers.indicators import Indicator
from poissongrad.samplers.poisson_draws import poisson_counts
from poissongrad.samplers.validation import check_work, refuse_trace

__all__ = ["ConditionalRelaxation", "conditional_relaxation"]


class ConditionalRelaxation(NamedTuple):
    """One draw of the arrival process given the hard counts, relaxed (each shaped like k).

    Attributes
    ----------
    relaxed : Tensor
        z̃ = Σ g_τ(T) over all arrivals; differentiable in τ (when τ requires grad), not in λ.
    slope : Tensor
        ∂z̃/∂λ of the unconditional reparameterisation, −Σ T g'_τ(T)/λ.
    conditional_slope : Tensor
        ∂z̃/∂λ with k held fixed, −Σ_{T > 1} (T − 1) g'_τ(T)/λ.
    window_arrivals : Tensor
        n_in + m, the arrivals inside the soft window (no gradient).
    """

    relaxed: torch.Tensor
    slope: torch.Tensor
    conditional_slope: torch.Tensor
    window_arrivals: torch.Tensor


def conditional_relaxation(
    counts: torch.Tensor,
    rate: torch.Tensor,
    temperature: float | torch.Tensor,
    indicator: Indicator,
    generator: torch.Generator | None = None,
) -> ConditionalRelaxation:
    """Draw the EAT relaxation of a rate-λ arrival process given its hard counts N(1) = k.

    Parameters
    ----------
    counts : Tensor
        Hard counts k ≥ 0 (integer-valued floats), shape (*B).
    rate : Tensor
        λ ≥ 0, broadcastable to ``counts``; read without gradient (the slopes are returned).
    temperature : float or 0-d Tensor
        τ > 0. A 0-d tensor that requires grad makes every returned value differentiable in τ.
    indicator : Indicator
        The soft indicator g_τ (any of :data:`poissongrad.samplers.indicators.INDICATORS`).
    generator : torch.Generator, optional
        For reproducible draws.

    Returns
    -------
    ConditionalRelaxation
        Every field shaped like ``counts``, in its dtype.

    Makes one host sync per call (the number of arrivals in the window, which sizes the draw).
    With k ~ Poisson(λ), ``relaxed`` has the law of :func:`poissongrad.samplers.eat.eat_windowed`.
    """
    refuse_trace("conditional_relaxation: the number of arrivals in the window")
    rate = rate.detach().expand_as(counts).reshape(-1)
    k = counts.detach().reshape(-1)
    tau = float(temperature.detach()) if isinstance(temperature, torch.Tensor) else temperature
    lo, hi = indicator.window(tau)
    lo = max(lo, 0.0)
    inside = torch.binomial(k, torch.full_like(k, 1.0 - lo), generator=generator)
    after = poisson_counts(rate * (hi - 1.0), generator)
    per_element = (inside + after).to(torch.int64)
    total = int(per_element.sum())  # the call's one host sync
    check_work(3 * total, f"conditional_relaxation: {total:.3g} arrivals in the soft window")
    owner = torch.repeat_interleave(torch.arange(k.numel(), device=k.device), per_element)
    start = torch.cumsum(per_element, 0) - per_element
    position = torch.arange(total, device=k.device) - start[owner]
    late = position >= inside.to(torch.int64)[owner]
    u = torch.rand(total, dtype=k.dtype, device=k.device, generator=generator)
    times = torch.where(late, 1.0 + u * (hi - 1.0), lo + u * (1.0 - lo))
    value = indicator.value(times, temperature)
    derivative = indicator.derivative(times, temperature)

    def sums(values: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(k, dtype=values.dtype).index_add(0, owner, values)

    safe = rate.clamp_min(torch.finfo(rate.dtype).tiny)
    relaxed = (k - inside) + sums(value)
    slope = -sums(times * derivative) / safe
    conditional = -sums(torch.where(late, times - 1.0, 0.0) * derivative) / safe
    shape = counts.shape
    return ConditionalRelaxation(
        relaxed.reshape(shape),
        slope.reshape(shape),
        conditional.reshape(shape),
        per_element.to(counts.dtype).reshape(shape),
    )
