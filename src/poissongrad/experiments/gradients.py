"""Gradient quality on a linear decoder, where the exact gradient and Hessian are closed-form.

Model: latents z ∈ ℕ^K, z_k ~ Poisson(λ_k), loss f(z) = ‖x − Φz‖². For each grid rate λ, a batch
of items has log-rates log λ + 0.3·N(0, 1) (seeded) and data x = Φz_true + 0.1·N(0, 1); Φ is a
seeded Gaussian D × K matrix scaled by 1/√D. Every estimator draws ``n_grad_samples`` gradients of
E[f] with respect to log λ per item, scored by :func:`poissongrad.metrics.gradient_quality`
against the closed form. Estimators that do not use τ (registry's ``uses_temperature``) run once,
with ``temperature = 0``; every row says ``uses_temperature``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from poissongrad.estimators import ESTIMATORS, gradient_samples
from poissongrad.exact import linear_decoder_grad_hessian
from poissongrad.experiments.grids import Grid, rates_and_taus
from poissongrad.hashing import seed_for
from poissongrad.metrics.gradients import gradient_quality
from poissongrad.registry import REGISTRY

__all__ = ["GradientConfig", "run", "grid_configs", "linear_problem"]


@dataclass(frozen=True)
class GradientConfig:
    """One job: one estimator at one temperature, over all rates."""

    estimator: str
    temperature: float
    rates: tuple[float, ...]
    n_latents: int = 8
    n_obs: int = 16
    batch: int = 64
    n_grad_samples: int = 100
    seed: int = 0


def linear_problem(
    rate: float, n_latents: int, n_obs: int, batch: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x of shape (B, D), Φ of shape (D, K), log-rates of shape (B, K)), float64, seeded."""
    gen = torch.Generator().manual_seed(seed_for(seed, "linear_problem", rate))
    phi = torch.randn(n_obs, n_latents, generator=gen, dtype=torch.float64) / n_obs**0.5
    log_rate = torch.log(torch.tensor(rate, dtype=torch.float64)) + 0.3 * torch.randn(
        batch, n_latents, generator=gen, dtype=torch.float64
    )
    z_true = torch.poisson(log_rate.exp(), generator=gen)
    x = z_true @ phi.T + 0.1 * torch.randn(batch, n_obs, generator=gen, dtype=torch.float64)
    return x, phi, log_rate


def run(config: GradientConfig) -> list[dict]:
    """Rows (one per rate): config fields, rate, and the gradient-quality metrics."""
    base = asdict(config)
    del base["rates"]
    base["uses_temperature"] = REGISTRY[config.estimator].uses_temperature
    rows = []
    for rate in config.rates:
        x, phi, log_rate = linear_problem(
            float(rate), config.n_latents, config.n_obs, config.batch, config.seed
        )
        exact, hessian = linear_decoder_grad_hessian(x, phi, log_rate)

        def loss(z: torch.Tensor, x=x, phi=phi) -> torch.Tensor:
            return (x - z @ phi.T).pow(2).sum(-1)

        gen = torch.Generator().manual_seed(
            seed_for(config.seed, config.estimator, config.temperature, rate)
        )
        samples = gradient_samples(
            loss, log_rate, config.estimator, config.n_grad_samples, config.temperature, gen
        )
        rows.append({**base, "rate": float(rate), **gradient_quality(samples, exact, hessian)})
    return rows


def grid_configs(grid: Grid, seed: int = 0) -> list[GradientConfig]:
    """Every job of a named grid: relaxed estimators × τ, plus τ-free estimators once."""
    rates, taus = rates_and_taus(grid)
    configs = []
    for e in ESTIMATORS:
        for t in taus if REGISTRY[e].uses_temperature else (0.0,):
            configs.append(GradientConfig(e, t, rates, seed=seed))
    return configs
