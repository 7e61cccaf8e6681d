"""Exact-gradient oracles: the ground truth every estimator is measured against.

* Linear decoder with Gaussian loss: E‖x − Φz‖² = ‖x − Φλ‖² + Σ_k λ_k‖φ_k‖² for independent
  z_k ~ Poisson(λ_k), with closed-form gradient and Hessian in s = log λ. The same holds for any
  latents with independent coordinates, mean m and variance v: E‖x − Φz‖² = ‖x − Φm‖² + Σ_k
  v_k‖φ_k‖²; with an EAT relaxation's closed-form moments this is the relaxed objective, whose
  gradient is the expected pathwise gradient (:func:`relaxed_linear_decoder_loss`).
* The Poisson difference identity ∂/∂λ_k E[f(z)] = E[f(z + e_k) − f(z)], on the same draw z.
* Enumeration over a truncated support (1–3 latents): exact E[f(z)] for any f, differentiable in λ.

Conventions: the latent axis is the last one; ``f`` maps counts (..., K) to values (...).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from poissongrad.samplers.moments import relaxed_mean, relaxed_variance

__all__ = [
    "linear_decoder_loss",
    "relaxed_linear_decoder_loss",
    "linear_decoder_grad_hessian",
    "difference_identity",
    "enumerate_expectation",
]

CountFn = Callable[[torch.Tensor], torch.Tensor]


def linear_decoder_loss(
    x: torch.Tensor,
    phi: torch.Tensor,
    rate: torch.Tensor,
    variance: torch.Tensor | None = None,
) -> torch.Tensor:
    """Exact expected loss E‖x − Φz‖² for independent latents of mean ``rate`` and ``variance``.

    Args:
        x: data, shape (*B, D).
        phi: decoder matrix Φ, shape (D, K).
        rate: the latents' mean (λ for Poisson latents), shape (*B, K).
        variance: their variance, shape (*B, K); defaults to ``rate`` (Poisson).

    Returns:
        Shape (*B), differentiable in every argument.
    """
    residual = x - rate @ phi.T
    spread = rate if variance is None else variance
    return residual.pow(2).sum(-1) + spread @ phi.pow(2).sum(0)


def relaxed_linear_decoder_loss(
    x: torch.Tensor, phi: torch.Tensor, rate: torch.Tensor, method: str, temperature: float
) -> torch.Tensor:
    """E‖x − Φz̃‖² under an EAT relaxation z̃ at temperature τ (the relaxed objective).

    Campbell's theorem gives E z̃ = λ∫g and Var z̃ = λ∫g², so the relaxed objective is closed form
    and its gradient in λ (or log λ) is the expected pathwise gradient: the estimator's exact bias
    is this gradient minus that of :func:`linear_decoder_loss`. Shapes as there; ``ValueError``
    for a relaxation without closed-form moments (GSM).

    Example:
        >>> import torch
        >>> x, phi, lam = torch.zeros(1, 2), torch.eye(2), torch.tensor([[2.0, 3.0]])
        >>> loss = relaxed_linear_decoder_loss(x, phi, lam, "eat_cubic", 0.35)
        >>> round(float(loss), 4)  # ‖Φm‖² = 13 plus Σ v = 5·(1 − 9τ/35)
        17.55
    """
    try:
        mean = relaxed_mean(method, rate, temperature)
        variance = relaxed_variance(method, rate, temperature)
    except NotImplementedError as err:
        raise ValueError(f"{method!r} has no closed-form moments: {err}") from None
    return linear_decoder_loss(x, phi, mean, variance)


def linear_decoder_grad_hessian(
    x: torch.Tensor, phi: torch.Tensor, log_rate: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient and Hessian of :func:`linear_decoder_loss` with respect to s = log λ.

    With L(λ) = ‖x − Φλ‖² + cᵀλ, c_k = ‖φ_k‖²: ∂L/∂λ = −2Φᵀ(x − Φλ) + c, ∂²L/∂λ² = 2ΦᵀΦ, so
    ∂L/∂s = λ ⊙ ∂L/∂λ and ∂²L/∂s² = diag(λ)·2ΦᵀΦ·diag(λ) + diag(λ ⊙ ∂L/∂λ).

    Args:
        x: shape (*B, D); phi: shape (D, K); log_rate: shape (*B, K).

    Returns:
        (gradient of shape (*B, K), Hessian of shape (*B, K, K)).
    """
    rate = log_rate.exp()
    d_rate = -2.0 * (x - rate @ phi.T) @ phi + phi.pow(2).sum(0)
    gram = 2.0 * phi.T @ phi
    hessian = rate.unsqueeze(-1) * gram * rate.unsqueeze(-2)
    hessian = hessian + torch.diag_embed(rate * d_rate)
    return rate * d_rate, hessian


def difference_identity(
    f: CountFn, counts: torch.Tensor, max_elements: int = 2**24
) -> torch.Tensor:
    """Per-draw unbiased estimate of ∂/∂λ E[f(z)] from f(z + e_k) − f(z) on the same draw.

    Args:
        f: maps counts (..., K) to values (...), broadcasting over leading dimensions (a neural
            decoder and its loss, say).
        counts: hard Poisson draws z, shape (..., K).
        max_elements: the shifted counts are evaluated in batches of latents holding at most
            this many values each (at least one latent per batch), so that many latents with a
            neural decoder do not exhaust memory.

    Returns:
        Shape (..., K): the gradient with respect to λ (multiply by λ for log λ). Evaluates f on
        K + 1 points per draw (in ⌈K / batch⌉ + 1 batched calls).
    """
    k = counts.shape[-1]
    base = f(counts)
    step = max(1, max_elements // max(counts.numel(), 1))
    parts = []
    for start in range(0, k, step):
        # Shifts of latents start…stop − 1 on a new leading axis: f broadcasts over it.
        shift = torch.eye(k, dtype=counts.dtype, device=counts.device)[start : start + step]
        shifted = counts + shift.reshape(-1, *([1] * (counts.dim() - 1)), k)
        parts.append(f(shifted) - base)
    return torch.cat(parts, dim=0).movedim(0, -1)


def enumerate_expectation(
    f: CountFn, rate: torch.Tensor, tail_mass: float = 1e-10
) -> tuple[torch.Tensor, float]:
    """Exact E[f(z)], z_k ~ Poisson(λ_k) independent, by summing over a truncated support.

    Args:
        f: maps counts (..., K) to values (...).
        rate: λ, shape (K,) with K ≤ 3.
        tail_mass: each latent's support is cut where its Poisson tail is below this.

    Returns:
        (E[f(z)] as a 0-d tensor differentiable in ``rate``, the total dropped probability
        mass). The truncation error is at most the dropped mass times sup |f| beyond the cut.
    """
    from scipy import stats  # imported on first use: a light `import poissongrad`
    if rate.dim() != 1 or not 1 <= rate.numel() <= 3:
        raise ValueError(f"enumeration takes 1 to 3 latents, got rate of shape {tuple(rate.shape)}")
    sizes = [int(stats.poisson.ppf(1.0 - tail_mass, float(r))) + 2 for r in rate.detach()]
    grids = [torch.arange(n, dtype=rate.dtype, device=rate.device) for n in sizes]
    counts = torch.stack(torch.meshgrid(*grids, indexing="ij"), dim=-1).reshape(-1, rate.numel())
    log_pmf = torch.xlogy(counts, rate) - rate - torch.lgamma(counts + 1.0)
    weights = log_pmf.sum(-1).exp()
    kept = 1.0
    for r, n in zip(rate.detach().tolist(), sizes, strict=True):
        kept *= float(stats.poisson.cdf(n - 1, r))
    return (weights * f(counts)).sum(), 1.0 - kept
