"""Closed-form moments of the relaxations (Campbell's theorem) and exact Poisson helpers.

For an EAT relaxation z̃ = Σ_k g_τ(T_k) over a rate-λ Poisson process on [0, ∞),
E[z̃] = λ ∫₀^∞ g dt and Var[z̃] = λ ∫₀^∞ g² dt. The Gumbel-softmax relaxation has no closed form.

Examples
--------
>>> import torch
>>> rate = torch.tensor([2.0, 10.0])
>>> relaxed_mean("eat_cubic", rate, 0.35), relaxed_variance("eat_cubic", rate, 0.35)
(tensor([ 2., 10.]), tensor([1.8200, 9.1000]))
"""

from __future__ import annotations

import torch

from poissongrad.registry import get_relaxation
from poissongrad.samplers.indicators import get_indicator
from poissongrad.samplers.validation import refuse_trace

__all__ = [
    "relaxed_mean",
    "relaxed_variance",
    "indicator_of",
    "poisson_log_prob",
    "poisson_log_kernel",
    "poisson_kl",
]


def indicator_of(method: str) -> str:
    """Indicator name of an EAT method (``"eat_cubic"`` → ``"cubic"``); ``ValueError`` for GSM."""
    indicator = get_relaxation(method).indicator
    if indicator is None:
        raise ValueError(f"{method!r} is not an EAT method")
    return indicator


def _moment(
    method: str, rate: torch.Tensor, temperature: float | torch.Tensor, squared: bool
) -> torch.Tensor:
    if not isinstance(temperature, torch.Tensor) and temperature == 0:
        return rate
    if not get_relaxation(method).arrival_times:
        raise NotImplementedError(
            "the Gumbel-softmax relaxation has no closed-form moments; estimate them by sampling"
        )
    ind = get_indicator(indicator_of(method))
    integral = ind.integral_sq if squared else ind.integral
    if not isinstance(temperature, torch.Tensor):
        return rate * integral(temperature)
    # One closed-form value per distinct temperature (a loop over those, not over elements),
    # read on the host: a trace would freeze them at the example's temperatures.
    refuse_trace("the moments with a tensor temperature")
    values, inverse = torch.unique(temperature.detach(), return_inverse=True)
    table = torch.tensor([integral(float(v)) for v in values], dtype=rate.dtype)
    return rate * table.to(rate.device)[inverse]


def relaxed_mean(
    method: str, rate: torch.Tensor, temperature: float | torch.Tensor
) -> torch.Tensor:
    """E[z̃] = λ ∫g of relaxation ``method`` at temperature τ (λ at τ = 0); shaped like rate
    broadcast with τ (a float or a tensor of temperatures)."""
    return _moment(method, rate, temperature, squared=False)


def relaxed_variance(
    method: str, rate: torch.Tensor, temperature: float | torch.Tensor
) -> torch.Tensor:
    """Var[z̃] = λ ∫g² of the relaxation (λ at τ = 0). Same shape as rate."""
    return _moment(method, rate, temperature, squared=True)


def poisson_log_prob(value: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    """Poisson log-pmf k·log λ − λ − log k!, extended to real k ≥ 0 through lgamma.

    Differentiable in ``value`` and ``rate``; log p(0 | λ = 0) = 0.
    """
    return torch.xlogy(value, rate) - rate - torch.lgamma(value + 1.0)


def poisson_log_kernel(value: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    """k·log λ − λ: the Poisson log-pmf without −log k!, the part that depends on λ.

    For objectives in which the log k! terms are constants or cancel (a training loss): a
    multiplication where :func:`poisson_log_prob` needs ``xlogy`` and ``lgamma`` (and digamma
    backward), a quarter of their cost. Rates below the dtype's smallest normal number count
    as that number, so 0·log 0 = 0 and every value is finite. Differentiable in both
    arguments.
    """
    return value * rate.clamp_min(torch.finfo(rate.dtype).tiny).log() - rate


def poisson_kl(p_rate: torch.Tensor, q_rate: torch.Tensor) -> torch.Tensor:
    """KL(Poisson(p) ‖ Poisson(q)) = p log(p/q) − p + q, elementwise."""
    return torch.xlogy(p_rate, p_rate) - torch.xlogy(p_rate, q_rate) - p_rate + q_rate
