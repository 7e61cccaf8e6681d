"""Gradient quality on a linear decoder, where the exact gradient and Hessian are closed-form.

Model: latents z ∈ ℕ^K, z_k ~ Poisson(λ_k), loss f(z) = ‖x − Φz‖². For each grid rate λ, a batch
of items has log-rates log λ + 0.3·N(0, 1) (seeded) and data x = Φz_true + 0.1·N(0, 1); Φ is a
seeded Gaussian D × K matrix scaled by 1/√D. Every estimator draws ``n_grad_samples`` gradients of
E[f] with respect to log λ per item (in chunks of :data:`CHUNK`, which are also the groups a score
function's baseline uses), scored by :class:`poissongrad.metrics.gradients.GradientMoments`
against the closed form.

Bias: for an EAT relaxation (not straight-through) the expected pathwise gradient is the gradient
of the closed-form relaxed objective (:func:`poissongrad.exact.relaxed_linear_decoder_loss`), so
its bias is exact (``bias_source = "closed_form"``) and the paper's 100 samples suffice for the
variance; the Monte-Carlo estimate is stored beside it as a check (``bias_check_z``). Every other
estimator's bias is estimated from many samples, with its standard error
(``bias_source = "monte_carlo"``). Estimators that do not use τ (registry's
``uses_temperature``) run once, with ``temperature = 0``; every row says ``uses_temperature``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from poissongrad.estimators import gradient_samples
from poissongrad.exact import linear_decoder_grad_hessian, relaxed_linear_decoder_loss
from poissongrad.experiments.grids import Grid, rates_and_taus
from poissongrad.hashing import seed_for
from poissongrad.metrics.gradients import GradientMoments
from poissongrad.registry import ESTIMATORS, REGISTRY

__all__ = ["CHUNK", "GRADIENT_ESTIMATORS", "GradientConfig", "run", "grid_configs"]

#: Gradient samples drawn per call (and the group size of score-function baselines).
CHUNK = 100
#: Estimators of the gradient experiment: every generic estimator of the registry, with the
#: straight-through variants of the paper's three relaxations only (a new estimator joins by
#: its registry entry alone).
PAPER_RELAXATIONS = ("eat_cubic", "eat_sigmoid", "gsm")
GRADIENT_ESTIMATORS: tuple[str, ...] = tuple(
    e
    for e in ESTIMATORS
    if not REGISTRY[e].straight_through or REGISTRY[e].relaxation in PAPER_RELAXATIONS
)
#: Samples per cell for estimators whose bias must be estimated, per grid.
MC_SAMPLES = {"quick": 1000, "paper": 5000}


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

    def __post_init__(self) -> None:
        if self.n_grad_samples < 2 or self.n_grad_samples % CHUNK and self.n_grad_samples > CHUNK:
            raise ValueError(
                f"n_grad_samples must be >= 2 and, above {CHUNK}, a multiple of {CHUNK}; "
                f"got {self.n_grad_samples}"
            )


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


def _expected_gradient(
    config: GradientConfig, x: torch.Tensor, phi: torch.Tensor, log_rate: torch.Tensor
) -> torch.Tensor | None:
    """E of the pathwise gradient in log λ where closed form (EAT, not straight-through)."""
    record = REGISTRY[config.estimator]
    if record.family != "eat" or record.straight_through:
        return None
    s = log_rate.detach().clone().requires_grad_(True)
    loss = relaxed_linear_decoder_loss(x, phi, s.exp(), record.name, config.temperature)
    (grad,) = torch.autograd.grad(loss.sum(), s)
    return grad


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
        moments = GradientMoments()
        remaining = config.n_grad_samples
        while remaining > 0:
            size = min(CHUNK, remaining)
            chunk = gradient_samples(
                loss, log_rate, config.estimator, size, config.temperature, gen
            )
            moments.update(chunk, exact)
            remaining -= size
        expected = _expected_gradient(config, x, phi, log_rate)
        quality = moments.quality(exact, hessian, expected)
        check = (quality["rel_bias_mc"] - quality["rel_bias"]) / max(
            quality["rel_bias_mc_se"], 1e-12
        )
        rows.append(
            {
                **base,
                "rate": float(rate),
                **quality,
                "bias_source": "monte_carlo" if expected is None else "closed_form",
                "bias_check_z": check if expected is not None else float("nan"),
            }
        )
    return rows


def grid_configs(grid: Grid, seed: int = 0) -> list[GradientConfig]:
    """Every job of a named grid: relaxed estimators × τ, plus τ-free estimators once.

    EAT relaxations (closed-form bias) draw the paper's 100 samples per cell; the others
    ``MC_SAMPLES[grid]``, so that their bias is resolved.
    """
    rates, taus = rates_and_taus(grid)
    configs = []
    for e in GRADIENT_ESTIMATORS:
        record = REGISTRY[e]
        closed = record.family == "eat" and not record.straight_through
        n = CHUNK if closed else MC_SAMPLES[grid]
        for t in taus if record.uses_temperature else (0.0,):
            configs.append(GradientConfig(e, t, rates, n_grad_samples=n, seed=seed))
    return configs
