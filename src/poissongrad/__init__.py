"""poissongrad: gradients through Poisson-distributed latent variables in PyTorch."""

from poissongrad.com_poisson import RelaxedCOMPoisson
from poissongrad.distributions import RelaxedPoisson
from poissongrad.gsm import RelaxedCount
from poissongrad.indicators import INDICATORS, get_indicator
from poissongrad.moments import poisson_kl, poisson_log_prob, relaxed_mean, relaxed_variance
from poissongrad.negative_binomial import RelaxedNegativeBinomial
from poissongrad.sampling import relaxed_poisson
from poissongrad.validation import METHODS

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
