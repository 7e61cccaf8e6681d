"""Poisson VAE (Vafaii et al., 2024): Poisson prior and posterior over spike-count latents.

Prior z_k ~ Poisson(r_k) with a learnable log r per latent; posterior z_k ~ Poisson(r_k δr_k(x))
with the encoder giving log δr (soft-clamped above at ``max_log_modulation``). The KL per latent is
r(1 − δr + δr log δr). The decoder maps counts to the observation mean: Gaussian with fixed unit
variance (loss = summed squared error, as in the paper) or Poisson (loss = −log-pmf).

Gradients through the latents use any estimator of :mod:`poissongrad.estimators`, or ``"exact"``:
the closed-form expected loss E‖x − Φz − c‖² = ‖x − c − Φλ‖² + Σ_k λ_k‖φ_k‖² (linear decoder with
Gaussian observations only).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from poissongrad.estimators import ESTIMATORS, surrogate_loss
from poissongrad.exact import linear_decoder_loss
from poissongrad.moments import poisson_log_prob

__all__ = ["PoissonVAE", "VAE_ESTIMATORS"]

VAE_ESTIMATORS: tuple[str, ...] = ESTIMATORS + ("exact",)


def _net(kind: str, n_in: int, n_out: int, hidden: int) -> nn.Module:
    if kind == "linear":
        return nn.Linear(n_in, n_out)
    if kind == "mlp":
        return nn.Sequential(
            nn.Linear(n_in, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, n_out),
        )
    raise ValueError(f"unknown network {kind!r}; expected 'linear' or 'mlp'")


class PoissonVAE(nn.Module):
    """A VAE with Poisson latents.

    Args:
        n_inputs: D, the flattened input size.
        n_latents: K.
        encoder, decoder: ``"linear"`` or ``"mlp"`` (two hidden layers of ``hidden`` units).
        observation: ``"gaussian"`` (unit variance, summed squared error) or ``"poisson"``
            (decoder output is log-rate; requires count data).
        max_log_modulation: soft upper clamp on log δr.
        prior_rate: initial prior rate r for every latent.
    """

    def __init__(
        self,
        n_inputs: int,
        n_latents: int,
        encoder: Literal["linear", "mlp"] = "linear",
        decoder: Literal["linear", "mlp"] = "linear",
        observation: Literal["gaussian", "poisson"] = "gaussian",
        hidden: int = 256,
        max_log_modulation: float = 4.0,
        prior_rate: float = 1.0,
    ) -> None:
        super().__init__()
        if observation not in ("gaussian", "poisson"):
            raise ValueError(f"unknown observation {observation!r}; expected gaussian or poisson")
        self.encoder = _net(encoder, n_inputs, n_latents, hidden)
        self.decoder = _net(decoder, n_latents, n_inputs, hidden)
        self.prior_log_rate = nn.Parameter(torch.full((n_latents,), float(prior_rate)).log())
        self.observation = observation
        self.linear_decoder = decoder == "linear"
        self.max_log_modulation = max_log_modulation

    def log_modulation(self, x: torch.Tensor) -> torch.Tensor:
        """log δr of shape (B, K), soft-clamped above: c − softplus(c − raw)."""
        c = self.max_log_modulation
        return c - nn.functional.softplus(c - self.encoder(x))

    def posterior_log_rate(self, x: torch.Tensor) -> torch.Tensor:
        """log(r·δr(x)), shape (B, K)."""
        return self.prior_log_rate + self.log_modulation(x)

    def kl(self, log_modulation: torch.Tensor) -> torch.Tensor:
        """KL(q ‖ p) per latent, r(1 − δr + δr log δr), shape (B, K); differentiable."""
        dr = log_modulation.exp()
        return self.prior_log_rate.exp() * (1.0 - dr + dr * log_modulation)

    def reconstruction_loss(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """−log p(x | z) up to constants, per item: x (B, D), z (..., B, K) → (..., B)."""
        return self.observation_nll(x, self.decoder(z))

    def observation_nll(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """−log p(x | decoder output) up to constants, summed over the last axis."""
        if self.observation == "gaussian":
            return (x - out).pow(2).sum(-1)
        return -poisson_log_prob(x, out.exp()).sum(-1)

    def loss(
        self,
        x: torch.Tensor,
        estimator: str,
        temperature: float = 0.0,
        n_samples: int = 1,
        beta: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training objective (mean over items of recon + β·KL) and its two parts.

        Returns:
            (objective to minimise, mean reconstruction loss, mean KL), scalars. The gradient of
            the objective uses ``estimator`` for the latents (any of :data:`VAE_ESTIMATORS`).
        """
        log_mod = self.log_modulation(x)
        log_rate = self.prior_log_rate + log_mod
        if estimator == "exact":
            if not (self.linear_decoder and self.observation == "gaussian"):
                raise ValueError("'exact' needs a linear decoder with Gaussian observations")
            lin = self.decoder
            recon = linear_decoder_loss(x - lin.bias, lin.weight, log_rate.exp())
        else:
            if estimator not in ESTIMATORS:
                raise ValueError(f"unknown estimator {estimator!r}; expected {VAE_ESTIMATORS}")
            recon = surrogate_loss(
                lambda z: self.reconstruction_loss(x, z),
                log_rate,
                estimator,
                n_samples,
                temperature,
                generator,
            ).mean(0)
        kl = self.kl(log_mod).sum(-1)
        recon, kl = recon.mean(), kl.mean()
        return recon + beta * kl, recon, kl
