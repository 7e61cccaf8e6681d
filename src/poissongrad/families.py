"""Estimator families as objects: each one knows how to build its surrogate.

A surrogate is a tensor of per-sample losses (S, *B) whose value is f(z) and whose gradient is
the family's estimator of ∇ E[f(z)]. Every :class:`~poissongrad.registry.Estimator` record
names its family, and :func:`family_of` gives the object (the registry sits below the samplers
these objects use, so it names them rather than holds them); :mod:`poissongrad.estimators`
checks the inputs once and then asks that object, so no code outside the registry compares
family names.

Families (one class each): :class:`Relaxation` (EAT and GSM; the straight-through variants are
the same object, told by the record), :class:`ScoreFunction` (REINFORCE with a baseline),
:class:`DifferenceIdentity`, :class:`CoupledControlVariate` (REBAR, RELAX),
:class:`TaylorControlVariate` (Stein) and :class:`ClosedForm` (a model's exact objective, which
has no generic surrogate). A new family is a subclass and one entry of :data:`FAMILIES`.

Examples
--------
>>> import torch
>>> from poissongrad.registry import REGISTRY
>>> record = REGISTRY["score_loo"]
>>> type(family_of(record)).__name__
'ScoreFunction'
>>> log_rate = torch.zeros(4, 3).expand(2, 4, 3)  # the sample axis first: (S, *B, K)
>>> family_of(record).surrogate(lambda z: z.sum(-1), log_rate, record, 0.0, None, {}).shape
torch.Size([2, 4])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from poissongrad.control_variates import ControlVariate, rebar_surrogate, stein_surrogate
from poissongrad.exact import difference_identity
from poissongrad.registry import Baseline, Estimator
from poissongrad.samplers.validation import check_temperature
from poissongrad.sampling import relaxed_poisson

__all__ = [
    "ClosedForm",
    "CoupledControlVariate",
    "DifferenceIdentity",
    "EstimatorFamily",
    "FAMILIES",
    "Relaxation",
    "ScoreFunction",
    "TaylorControlVariate",
    "family_of",
]

CountFn = Callable[[torch.Tensor], torch.Tensor]


class EstimatorFamily:
    """How a family of estimators turns a loss f and log-rates into a surrogate."""

    def surrogate(
        self,
        f: CountFn,
        log_rate: torch.Tensor,
        record: Estimator,
        temperature: float,
        generator: torch.Generator | None,
        options: dict[str, Any],
        control: ControlVariate | None = None,
    ) -> torch.Tensor:
        """Per-sample losses (S, *B) for Poisson log-rates (S, *B, K) that already carry the
        sample axis; inputs are checked by the caller (:mod:`poissongrad.estimators`)."""
        raise NotImplementedError

    def law_surrogate(
        self,
        f: CountFn,
        distribution: torch.distributions.Distribution,
        record: Estimator,
        n_samples: int,
        control: ControlVariate | None = None,
    ) -> torch.Tensor:
        """Per-sample losses (S, *B) for any count law with batch shape (*B, K)."""
        raise ValueError(
            f"estimator {record.name!r} is not available for a general count law; use a score "
            "function, a pathwise estimator, or REBAR/RELAX on a Gamma–Poisson mixture"
        )


def _exact_draws(log_rate: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    with torch.no_grad():
        return torch.poisson(log_rate.detach().exp(), generator=generator)


class Relaxation(EstimatorFamily):
    """Pathwise through relaxed counts (EAT, GSM); straight-through when the record says so."""

    def surrogate(self, f, log_rate, record, temperature, generator, options, control=None):
        z = relaxed_poisson(
            log_rate.exp(),
            temperature,
            record.relaxation,
            (),
            record.straight_through,
            generator,
            **options,
        )
        return f(z)

    def law_surrogate(self, f, distribution, record, n_samples, control=None):
        relaxation = getattr(distribution, "method", None)
        straight = getattr(distribution, "straight_through", None)
        if (relaxation, straight) != (record.relaxation, record.straight_through):
            raise ValueError(
                f"estimator {record.name!r} needs a distribution relaxed by "
                f"{record.relaxation!r} (straight_through={record.straight_through}); got "
                f"{relaxation!r} (straight_through={straight})"
            )
        return f(distribution.rsample((n_samples,)))


class ScoreFunction(EstimatorFamily):
    """REINFORCE: f(z) ∇ log p(z), minus the record's :class:`~poissongrad.registry.Baseline`
    (none; the mean over the S samples, the sample itself included; leave-one-out)."""

    @staticmethod
    def baseline(values: torch.Tensor, baseline: Baseline | None) -> torch.Tensor:
        """The baseline of every sample, shape of ``values`` (S, *B)."""
        n = values.shape[0]
        if baseline == Baseline.NONE:
            return torch.zeros_like(values)
        if baseline == Baseline.MEAN:
            return values.mean(0, keepdim=True).expand_as(values)
        if baseline == Baseline.LOO:
            return (values.sum(0, keepdim=True) - values) / (n - 1)
        raise ValueError(
            f"unknown score-function baseline {baseline!r}; expected none, mean or loo"
        )

    def _with_score(self, values, log_p, record) -> torch.Tensor:
        advantage = (values - self.baseline(values, record.baseline)).detach()
        return values + advantage * (log_p - log_p.detach())

    def surrogate(self, f, log_rate, record, temperature, generator, options, control=None):
        z = _exact_draws(log_rate, generator)
        score = (z * log_rate - log_rate.exp()).sum(-1)  # log p(z | λ) up to terms free of s
        return self._with_score(f(z), score, record)

    def law_surrogate(self, f, distribution, record, n_samples, control=None):
        with torch.no_grad():
            z = distribution.sample((n_samples,))
        return self._with_score(f(z), distribution.log_prob(z).sum(-1), record)


class DifferenceIdentity(EstimatorFamily):
    """The Poisson difference identity: ∂E[f]/∂λ_k = E[f(z + e_k) − f(z)], exact draws."""

    def surrogate(self, f, log_rate, record, temperature, generator, options, control=None):
        z = _exact_draws(log_rate, generator)
        rate = log_rate.exp()
        with torch.no_grad():
            slope = difference_identity(f, z)  # ∂/∂λ, shape (S, *B, K)
        return f(z) + (slope * (rate - rate.detach())).sum(-1)


class CoupledControlVariate(EstimatorFamily):
    """REBAR and RELAX: the score function with an EAT relaxation coupled to the hard count
    as control variate (:func:`poissongrad.control_variates.rebar_surrogate`)."""

    def surrogate(self, f, log_rate, record, temperature, generator, options, control=None):
        return rebar_surrogate(f, log_rate, record, temperature, generator, control)

    def law_surrogate(self, f, distribution, record, n_samples, control=None):
        if not hasattr(distribution, "mixing_rate"):
            return super().law_surrogate(f, distribution, record, n_samples, control)
        rate = distribution.mixing_rate((n_samples,))
        log_rate = rate.clamp_min(torch.finfo(rate.dtype).tiny).log()
        tau = check_temperature(distribution.temperature)
        if control is None and not (isinstance(tau, float) and tau > 0):
            raise ValueError(f"estimator {record.name!r} needs a temperature > 0, got {tau!r}")
        generator = getattr(distribution, "generator", None)
        return rebar_surrogate(f, log_rate, record, tau, generator, control)


class TaylorControlVariate(EstimatorFamily):
    """Stein: the score function with a first-order Taylor control variate and a leave-one-out
    baseline (:func:`poissongrad.control_variates.stein_surrogate`)."""

    def surrogate(self, f, log_rate, record, temperature, generator, options, control=None):
        return stein_surrogate(f, log_rate, generator)


class ClosedForm(EstimatorFamily):
    """A model's exact objective (``"exact"``): no generic surrogate exists."""

    def surrogate(self, f, log_rate, record, temperature, generator, options, control=None):
        raise ValueError(f"estimator {record.name!r} is a model's closed form, not a surrogate")


#: The object behind each family name of :class:`poissongrad.registry.Estimator`.
FAMILIES: dict[str, EstimatorFamily] = {
    "eat": Relaxation(),
    "gsm": Relaxation(),
    "score": ScoreFunction(),
    "difference": DifferenceIdentity(),
    "rebar": CoupledControlVariate(),
    "relax": CoupledControlVariate(),
    "stein": TaylorControlVariate(),
    "exact": ClosedForm(),
}


def family_of(record: Estimator) -> EstimatorFamily:
    """The object that computes ``record``'s estimator."""
    return FAMILIES[record.family]
