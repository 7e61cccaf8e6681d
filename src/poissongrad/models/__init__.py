"""Models with Poisson latents: the Poisson VAE and the partially observable GLM."""

from poissongrad.models.base import NotFittedError
from poissongrad.models.poglm import POGLM
from poissongrad.models.pvae import PoissonVAE

__all__ = ["NotFittedError", "POGLM", "PoissonVAE"]
