"""Quality of gradient estimates against an exact gradient: bias with its standard error,
variance, alignment.

Per-sample gradients g_s (s = 1…S) of B items with K coordinates are summarised by their first
two moments, so arbitrarily many samples can be streamed in chunks (:class:`GradientMoments`).
The bias is pooled over items and reported relative to the exact gradient g*:

* ``rel_bias_mc``: √(Σ_i max(0, ‖ḡ_i − g*_i‖² − Tr Σ_i/S) / Σ_i ‖g*_i‖²), the Monte-Carlo
  estimate with the sampling error of ḡ removed in expectation, and ``rel_bias_mc_se`` its
  standard error (Gaussian approximation: Var(‖ḡ − g*‖²) ≈ 4 bᵀΣb/S + 2 Tr Σ²/S², put on the
  root scale as √(B + SE_B) − √B, which stays finite when the bias is near 0);
* ``rel_bias``: the best available value: the closed form √(Σ‖E g − g*‖²/Σ‖g*‖²) when the expected
  gradient is known (``expected``: e.g. an EAT relaxation on a linear decoder, whose expected
  pathwise gradient is the gradient of the closed-form relaxed objective), with
  ``rel_bias_se`` 0, else the Monte-Carlo estimate and its standard error.

Examples
--------
>>> import torch
>>> exact = torch.ones(5, 3)
>>> samples = exact + 0.1 * torch.randn(200, 5, 3, generator=torch.Generator().manual_seed(0))
>>> q = gradient_quality(samples, exact)
>>> round(q["rel_var"], 2), q["cosine"] > 0.99, q["rel_bias_mc"] < 3 * q["rel_bias_mc_se"]
(0.01, True, True)
"""

from __future__ import annotations

import math

import torch

__all__ = ["GradientMoments", "gradient_quality"]

_EPS = 1e-30


class GradientMoments:
    """Running sums of per-sample gradients (S, B, K): count, Σg, Σggᵀ and Σ cos(g, g*)."""

    def __init__(self) -> None:
        self.count = 0
        self.total: torch.Tensor | None = None
        self.outer: torch.Tensor | None = None
        self.cosine_sum: torch.Tensor | None = None
        self._exact: torch.Tensor | None = None

    def update(self, samples: torch.Tensor, exact: torch.Tensor) -> GradientMoments:
        """Add a chunk of samples (S, B, K) of a gradient whose exact value is ``exact`` (B, K)."""
        if samples.dim() != 3 or exact.shape != samples.shape[1:]:
            raise ValueError(
                f"expected samples (S, B, K) and exact (B, K); got {tuple(samples.shape)} and "
                f"{tuple(exact.shape)}"
            )
        g = samples.detach().double()
        star = exact.detach().double()
        cos = torch.nn.functional.cosine_similarity(g, star.expand_as(g), dim=-1, eps=_EPS)
        parts = (g.sum(0), torch.einsum("sbi,sbj->bij", g, g), cos.sum(0))
        if self.total is None:
            self.total, self.outer, self.cosine_sum = parts
            self._exact = star
        else:
            self.total, self.outer, self.cosine_sum = (
                a + b for a, b in zip((self.total, self.outer, self.cosine_sum), parts, strict=True)
            )
        self.count += g.shape[0]
        return self

    def quality(
        self,
        exact: torch.Tensor,
        hessian: torch.Tensor | None = None,
        expected: torch.Tensor | None = None,
    ) -> dict[str, float]:
        """The metrics of :func:`gradient_quality` from the accumulated moments."""
        if self.count < 2 or self.total is None:
            raise ValueError("need at least 2 gradient samples to estimate a variance")
        n = self.count
        g_star = exact.detach().double()
        mean = self.total / n
        cov = (self.outer - n * mean.unsqueeze(-1) * mean.unsqueeze(-2)) / (n - 1)
        total_var = cov.diagonal(dim1=-2, dim2=-1).sum(-1)
        bias = mean - g_star
        star_sq = g_star.pow(2).sum(-1)
        norm_star = star_sq.sqrt().clamp_min(_EPS)
        cos = torch.nn.functional.cosine_similarity
        out = {
            "rel_bias_naive": bias.norm(dim=-1) / norm_star,
            "rel_var": total_var / norm_star**2,
            "snr": mean.norm(dim=-1) / total_var.clamp_min(_EPS).sqrt(),
            "cosine": cos(mean, g_star, dim=-1, eps=_EPS),
            "sample_cosine": self.cosine_sum / n,
        }
        if hessian is not None:
            h = hessian.double()
            curvature = torch.einsum("bi,bij,bj->b", g_star, h, g_star)
            out["bias_energy"] = torch.einsum("bi,bij,bj->b", bias, h, bias) / curvature
            out["noise_energy"] = torch.einsum("bij,bji->b", h, cov) / curvature
        summary = {name: float(value.mean()) for name, value in out.items()}
        # E‖ḡ − g*‖² = ‖b‖² + Tr Σ/S: remove the Monte-Carlo part, pool over items.
        squared = bias.pow(2).sum(-1) - total_var / n
        spread = 4 * torch.einsum("bi,bij,bj->b", bias, cov, bias) / n
        spread = spread + 2 * torch.einsum("bij,bji->b", cov, cov) / n**2
        denominator = float(star_sq.sum().clamp_min(_EPS))
        pooled = max(float(squared.sum()) / denominator, 0.0)
        pooled_se = math.sqrt(float(spread.clamp_min(0).sum())) / denominator
        summary["rel_bias_mc"] = math.sqrt(pooled)
        summary["rel_bias_mc_se"] = math.sqrt(pooled + pooled_se) - math.sqrt(pooled)
        if expected is not None:
            exact_bias = expected.detach().double() - g_star
            summary["rel_bias"] = math.sqrt(float(exact_bias.pow(2).sum()) / denominator)
            summary["rel_bias_se"] = 0.0
        else:
            summary["rel_bias"] = summary["rel_bias_mc"]
            summary["rel_bias_se"] = summary["rel_bias_mc_se"]
        summary["n_grad_samples_used"] = float(n)
        return summary


def gradient_quality(
    samples: torch.Tensor,
    exact: torch.Tensor,
    hessian: torch.Tensor | None = None,
    expected: torch.Tensor | None = None,
) -> dict[str, float]:
    """Bias, variance and alignment of S gradient samples against the exact gradient g*.

    Args:
        samples: per-sample estimates, shape (S, B, K): S samples, B items, K coordinates.
        exact: g*, shape (B, K).
        hessian: H, shape (B, K, K), for the energy metrics (optional).
        expected: the estimator's exact expected gradient E g, shape (B, K), when known: the
            bias is then closed form (optional).

    Returns:
        Floats averaged over items: ``rel_bias_naive`` ‖ḡ − g*‖/‖g*‖ (the paper's measure; it
        includes Monte-Carlo error), ``rel_var`` ΣVar/‖g*‖² (unbiased per-coordinate variance),
        ``snr`` ‖ḡ‖/√ΣVar, ``cosine`` cos(ḡ, g*), ``sample_cosine`` the mean over samples of
        cos(g_s, g*), with H ``bias_energy`` bᵀHb / g*ᵀHg* and ``noise_energy`` Tr(HΣ) / g*ᵀHg*
        (b = ḡ − g*, Σ the sample covariance; H may be indefinite, so per-item ratios can be
        negative); and, pooled over items, ``rel_bias_mc`` ± ``rel_bias_mc_se`` and ``rel_bias``
        ± ``rel_bias_se`` (see the module docstring), and ``n_grad_samples_used``.
    """
    moments = GradientMoments().update(samples, exact)
    return moments.quality(exact, hessian, expected)
