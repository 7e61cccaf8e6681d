"""poissongrad: gradients through Poisson-distributed latent variables in PyTorch."""

from poissongrad.com_poisson import RelaxedCOMPoisson
from poissongrad.distributions import RelaxedPoisson
from poissongrad.negative_binomial import RelaxedNegativeBinomial
from poissongrad.samplers.gsm import RelaxedCount
from poissongrad.samplers.indicators import INDICATORS, get_indicator
from poissongrad.samplers.moments import (
    poisson_kl,
    poisson_log_prob,
    relaxed_mean,
    relaxed_variance,
)
from poissongrad.samplers.validation import METHODS
from poissongrad.sampling import relaxed_poisson

__version__ = "0.2.0"

__all__ = [
    "INDICATORS",
    "METHODS",
    "RelaxedCOMPoisson",
    "RelaxedCount",
    "RelaxedNegativeBinomial",
    "RelaxedPoisson",
    "get_indicator",
    "poisson_kl",
    "poisson_log_prob",
    "relaxed_mean",
    "relaxed_poisson",
    "relaxed_variance",
]
