"""Metrics: distributional fidelity of relaxed samples, quality of gradient estimates."""

from poissongrad.metrics.fidelity import (
    discretised_kl,
    fidelity_summary,
    moment_ratios,
    wasserstein_to_poisson,
)
from poissongrad.metrics.gradients import gradient_quality

__all__ = [
    "discretised_kl",
    "fidelity_summary",
    "gradient_quality",
    "moment_ratios",
    "wasserstein_to_poisson",
]
