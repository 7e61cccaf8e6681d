"""Models with count latents: the Poisson VAE, the partially observable GLM and the count VAE."""

from poissongrad.models.base import NotFittedError
from poissongrad.models.count_vae import CountVAE
from poissongrad.models.poglm import POGLM
from poissongrad.models.pvae import PoissonVAE

__all__ = ["CountVAE", "NotFittedError", "POGLM", "PoissonVAE"]
