"""Quality of gradient estimates against an exact gradient, per item then averaged.

Examples
--------
>>> import torch
>>> exact = torch.ones(5, 3)
>>> samples = exact + 0.1 * torch.randn(200, 5, 3, generator=torch.Generator().manual_seed(0))
>>> q = gradient_quality(samples, exact)
>>> round(q["rel_var"], 2), q["cosine"] > 0.99
(0.01, True)
"""

from __future__ import annotations

import torch

__all__ = ["gradient_quality"]

_EPS = 1e-30


def gradient_quality(
    samples: torch.Tensor, exact: torch.Tensor, hessian: torch.Tensor | None = None
) -> dict[str, float]:
    """Bias, variance and alignment of S gradient samples against the exact gradient g*.

    Args:
        samples: per-sample estimates, shape (S, B, K): S samples, B items, K coordinates.
        exact: g*, shape (B, K).
        hessian: H, shape (B, K, K), for the energy metrics (optional).

    Returns:
        Averages over items of: ``rel_bias`` ‖ḡ − g*‖/‖g*‖ (which includes the Monte-Carlo
        error of ḡ, about √(rel_var/S)); ``rel_var`` ΣVar/‖g*‖² (unbiased
        per-coordinate variance over S); ``snr`` ‖ḡ‖/√ΣVar; ``cosine`` cos(ḡ, g*);
        ``sample_cosine`` the mean over samples of cos(g_s, g*); and with H ``bias_energy``
        bᵀHb / g*ᵀHg* and ``noise_energy`` Tr(HΣ) / g*ᵀHg* (b = ḡ − g*, Σ the sample covariance).
        Also ``rel_bias_debiased`` = √(Σ_items(‖ḡ − g*‖² − ΣVar/S) / Σ_items ‖g*‖²) (clamped at
        0): pooled over items and with the Monte-Carlo error of ḡ removed in expectation, the
        bias measure to compare estimators by.
    """
    if samples.dim() != 3 or exact.shape != samples.shape[1:]:
        raise ValueError(
            f"expected samples (S, B, K) and exact (B, K); got {tuple(samples.shape)} and "
            f"{tuple(exact.shape)}"
        )
    if samples.shape[0] < 2:
        raise ValueError("need at least 2 gradient samples to estimate a variance")
    g = samples.double()
    g_star = exact.double()
    mean = g.mean(0)
    bias = mean - g_star
    norm_star = g_star.norm(dim=-1).clamp_min(_EPS)
    total_var = g.var(0, unbiased=True).sum(-1)
    cos = torch.nn.functional.cosine_similarity
    out = {
        "rel_bias": bias.norm(dim=-1) / norm_star,
        "rel_var": total_var / norm_star**2,
        "snr": mean.norm(dim=-1) / total_var.clamp_min(_EPS).sqrt(),
        "cosine": cos(mean, g_star, dim=-1, eps=_EPS),
        "sample_cosine": cos(g, g_star.expand_as(g), dim=-1, eps=_EPS).mean(0),
    }
    if hessian is not None:
        h = hessian.double()
        curvature = torch.einsum("bi,bij,bj->b", g_star, h, g_star)
        centred = g - mean
        cov = torch.einsum("sbi,sbj->bij", centred, centred) / (g.shape[0] - 1)
        out["bias_energy"] = torch.einsum("bi,bij,bj->b", bias, h, bias) / curvature
        out["noise_energy"] = torch.einsum("bij,bji->b", h, cov) / curvature
    summary = {name: float(value.mean()) for name, value in out.items()}
    # E‖ḡ − g*‖² = ‖b‖² + ΣVar/S: subtract the Monte-Carlo part, pool over items, then root.
    squared = (bias.pow(2).sum(-1) - total_var / g.shape[0]).sum() / norm_star.pow(2).sum()
    summary["rel_bias_debiased"] = float(squared.clamp_min(0).sqrt())
    return summary
