"""Count data from a ground-truth model with non-Poisson latents (the generalisability task).

K latents follow a negative binomial (``total_count`` r: over-dispersed, the more so the smaller
r) or a COM-Poisson law (ν < 1 over-, ν > 1 under-dispersed), each with mean ≈ 2; D Poisson
observations have log-rates 0.3 + 0.15·W z (clamped at 3) with a seeded Gaussian W.

Examples
--------
>>> data = make_count_data("negative_binomial", 0.5, seed=0)
>>> data.x_train.shape, data.x_test.shape
(torch.Size([1000, 32]), torch.Size([200, 32]))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.distributions import NegativeBinomial

from poissongrad.com_poisson import RelaxedCOMPoisson, com_poisson_log_pmf

__all__ = ["CountData", "make_count_data"]

LATENT_MEAN = 2.0


@dataclass(frozen=True)
class CountData:
    """Train/test observations (n, D) and the law of the latents that generated them."""

    law: str
    dispersion: float
    x_train: torch.Tensor
    x_test: torch.Tensor


def _com_rate_for_mean(nu: float, mean: float) -> float:
    """λ whose COM-Poisson(λ, ν) mean is ``mean`` (bisection on log λ)."""
    lo, hi = -10.0, 10.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        d = RelaxedCOMPoisson(torch.tensor(mid).exp().double(), torch.tensor(nu).double())
        lo, hi = (mid, hi) if float(d.mean_exact) < mean else (lo, mid)
    return float(torch.tensor(0.5 * (lo + hi)).exp())


def make_count_data(
    law: str,
    dispersion: float,
    seed: int = 0,
    n_latents: int = 8,
    n_obs: int = 32,
    n_train: int = 1000,
    n_test: int = 200,
) -> CountData:
    """Seeded data whose latents follow ``law`` with ``dispersion`` (NB r or COM ν)."""
    gen = torch.Generator().manual_seed(seed)
    n = n_train + n_test
    if law == "negative_binomial":
        probs = torch.tensor(LATENT_MEAN / (LATENT_MEAN + dispersion), dtype=torch.float64)
        law_nb = NegativeBinomial(torch.full((n, n_latents), float(dispersion)).double(), probs)
        with torch.random.fork_rng():  # torch's NB sampler takes no generator: seed it from ours
            torch.manual_seed(int(torch.randint(2**62, (), generator=gen)))
            z = law_nb.sample()
    elif law == "com_poisson":
        lam = _com_rate_for_mean(dispersion, LATENT_MEAN)
        table = com_poisson_log_pmf(torch.tensor(lam).double(), torch.tensor(dispersion).double())
        z = torch.multinomial(table.exp(), n * n_latents, replacement=True, generator=gen)
        z = z.reshape(n, n_latents).double()
    else:
        raise ValueError(f"unknown law {law!r}; expected negative_binomial or com_poisson")
    w = torch.randn(n_obs, n_latents, generator=gen, dtype=torch.float64)
    x = torch.poisson((0.3 + 0.15 * z @ w.T).clamp(max=3.0).exp(), generator=gen)
    return CountData(law, float(dispersion), x[:n_train], x[n_train:])
