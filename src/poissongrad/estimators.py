"""Gradient estimators for ∇_s E[f(z)], z ~ Poisson(e^s), behind one interface.

Estimator names are the keys of :data:`poissongrad.registry.REGISTRY`; what each one is (family,
relaxation, straight-through, temperature, minimum samples) is read from its record, never from
its spelling. The generic ones (:data:`ESTIMATORS`) are:

* every relaxation in :data:`poissongrad.METHODS` (pathwise through relaxed counts), and its
  straight-through variant (hard counts forward, relaxed gradient backward);
* ``score`` (REINFORCE, no baseline), ``score_mean`` (baseline: mean of f over the S samples, the
  sample itself included, which scales the expected gradient by 1 − 1/S), ``score_loo``
  (leave-one-out baseline, unbiased; needs S ≥ 2);
* ``difference``: the Poisson difference identity (unbiased; K + 1 evaluations of f per sample,
  in batches of bounded memory);
* ``rebar_<indicator>`` and ``relax_cubic``: the score function with an EAT relaxation coupled to
  the hard count as control variate (unbiased; 2 evaluations per sample; the control variate's
  η and τ, and RELAX's network, are learned when a
  :class:`~poissongrad.control_variates.ControlVariate` is passed as ``control``);
* ``stein``: the score function with a first-order Taylor (Stein) control variate and a
  leave-one-out baseline (unbiased; S ≥ 2; one more evaluation per item).

Each record says whether it is ``unbiased`` and what it costs (``REGISTRY[name].cost``).

``f`` maps counts (..., K) to per-item losses (...); the latent axis is the last one. The
:func:`surrogate_loss` has value f(z) and a gradient (in ``log_rate`` and in any parameter f uses)
equal to the estimator, for training. :func:`gradient_samples` returns per-sample gradients for
evaluation.

Examples
--------
>>> import torch
>>> from poissongrad.estimators import gradient_samples
>>> log_rate = torch.zeros(3, dtype=torch.float64)  # λ = 1
>>> g = gradient_samples(lambda z: z.sum(-1), log_rate, "score_loo", 4,
...                      generator=torch.Generator().manual_seed(0))
>>> g.shape
torch.Size([4, 3])
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import torch

from poissongrad.control_variates import ControlVariate, make_control
from poissongrad.families import family_of
from poissongrad.registry import (
    ESTIMATORS,
    REGISTRY,
    Estimator,
    generic_estimators,
    get_estimator,
)
from poissongrad.samplers.validation import check_log_rate, check_temperature

__all__ = [
    "ESTIMATORS",
    "REGISTRY",
    "Surrogate",
    "check_estimator_use",
    "gradient_samples",
    "law_surrogate_loss",
    "learn_control",
    "surrogate_loss",
]

CountFn = Callable[[torch.Tensor], torch.Tensor]


def check_estimator_use(
    estimator: str,
    temperature: float,
    n_samples: int,
    allowed: tuple[str, ...] | None = None,
) -> Estimator:
    """The record of ``estimator``, after checking it can run with these settings.

    ``ValueError`` for an unknown estimator, a relaxed estimator at τ = 0 (it would return hard
    counts with no gradient, silently), a negative or non-finite τ, or fewer samples than the
    estimator needs.
    """
    record = get_estimator(estimator, generic_estimators() if allowed is None else allowed)
    tau = check_temperature(temperature)
    if record.uses_temperature and not isinstance(tau, torch.Tensor) and tau == 0:
        raise ValueError(
            f"estimator {estimator!r} needs a temperature > 0 (at τ = 0 a relaxation gives hard "
            "counts and no gradient)"
        )
    if (
        isinstance(n_samples, bool)
        or not isinstance(n_samples, numbers.Integral)
        or n_samples < record.min_samples
    ):
        raise ValueError(
            f"estimator {estimator!r} needs n_samples >= {record.min_samples}, got {n_samples!r}"
        )
    return record


def surrogate_loss(
    f: CountFn,
    log_rate: torch.Tensor,
    estimator: str,
    n_samples: int = 1,
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
    control: ControlVariate | None = None,
    **options: Any,
) -> torch.Tensor:
    """Per-sample losses whose gradient is the chosen estimator of ∇ E[f(z)].

    Args:
        f: maps counts (S, *B, K) to losses (S, *B); may depend on trainable parameters.
        log_rate: s = log λ, shape (*B, K), differentiable.
        estimator: one of :data:`ESTIMATORS`.
        n_samples: S draws per item (at least the estimator's ``min_samples``).
        temperature: τ > 0 for relaxed estimators (ignored by score and difference).
        generator: optional ``torch.Generator``.
        control: a :class:`~poissongrad.control_variates.ControlVariate` for ``rebar_*`` and
            ``relax_cubic`` (its η and τ replace ``temperature``; while it is training, the call
            takes one step of its own optimiser on the estimator's variance). Without one they
            run with η = 1 and τ = ``temperature``, unlearned.
        **options: method options passed to :func:`poissongrad.relaxed_poisson`, and
            ``validate_args`` (default: ``torch.distributions``' global setting): check
            ``log_rate`` once (one host sync).

    Returns:
        Tensor (S, *B) whose value is f(z) (relaxed z for relaxed estimators, hard otherwise);
        the gradient of its sum is the sum over samples of the per-sample estimates.

    Raises:
        ValueError: unknown estimator, a relaxed estimator at τ = 0, too few samples, a
            ``control`` for an estimator that learns none, or (validating) NaN log-rates or
            rates beyond what can be drawn. A training loop checks once with
            :class:`Surrogate`.
    """
    options = dict(options)
    validate = options.pop("validate_args", torch.distributions.Distribution._validate_args)
    surrogate = Surrogate(estimator, n_samples, temperature, control, **options)
    if validate:
        check_log_rate(log_rate)
    return surrogate(f, log_rate, generator)


class Surrogate:
    """:func:`surrogate_loss` checked once, for a training loop.

    The estimator, its settings, its options and its control variate are checked when the
    object is built; each call then builds the per-sample losses (S, *B) without checking them
    again, and without validating the log-rates: the caller owns them (a model's own network),
    and a NaN or infinite rate gives a non-finite loss, which the models' training step
    (:func:`poissongrad.models.training.descend`) reports.

    Args:
        estimator, n_samples, temperature, control, options: as in :func:`surrogate_loss`.

    Example:
        >>> import torch
        >>> loss = Surrogate("eat_cubic", n_samples=4, temperature=0.5)
        >>> loss(lambda z: z.sum(-1), torch.zeros(3, 2)).shape
        torch.Size([4, 3])
    """

    def __init__(
        self,
        estimator: str,
        n_samples: int = 1,
        temperature: float = 0.0,
        control: ControlVariate | None = None,
        **options: Any,
    ) -> None:
        self.record = check_estimator_use(estimator, temperature, n_samples)
        _check_inputs(self.record, options, control)
        self.n_samples, self.temperature, self.control = n_samples, temperature, control
        # The rates are the caller's to check: the relaxed samplers skip their own check.
        self.options = {**options, "validate_args": False} if self.record.pathwise else options
        self.family = family_of(self.record)

    def __call__(
        self,
        f: CountFn,
        log_rate: torch.Tensor,
        generator: torch.Generator | None = None,
        temperature: float | None = None,
    ) -> torch.Tensor:
        """Per-sample losses (S, *B) for log-rates (*B, K).

        ``temperature``: this call's τ (a float, e.g. an annealing schedule's), in place of
        the one given when the object was built; ``ValueError`` unless it is finite and > 0
        for an estimator that uses τ.
        """
        tau = self.temperature
        if temperature is not None:
            if self.record.uses_temperature and not 0 < temperature < math.inf:
                raise ValueError(f"temperature must be finite and > 0, got {temperature!r}")
            tau = temperature
        expanded = log_rate.expand((self.n_samples, *log_rate.shape))
        return self.family.surrogate(
            f, expanded, self.record, tau, generator, self.options, self.control
        )


def gradient_samples(
    f: CountFn,
    log_rate: torch.Tensor,
    estimator: str,
    n_samples: int,
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
    control: ControlVariate | None = None,
    **options: Any,
) -> torch.Tensor:
    """S per-sample estimates of ∇_s E[f(z)] for every item, s = log λ.

    Args:
        f: maps counts (S, *B, K) to losses (S, *B).
        log_rate: shape (*B, K) (not modified; its own gradient is untouched).
        estimator, n_samples, temperature, generator, control, options: as in
            :func:`surrogate_loss` (pass a control in ``eval()`` mode to measure a learned
            one without changing it).

    Returns:
        Tensor (S, *B, K). Score-function baselines couple the S samples of an item (the LOO
        estimate of sample i uses the others), as they do in training.
    """
    record = check_estimator_use(estimator, temperature, n_samples)
    _check_inputs(record, options, control)
    if torch.distributions.Distribution._validate_args:
        check_log_rate(log_rate)
    # Each sample gets its own copy of s, so the gradient at copy i is sample i's estimate.
    leaf = log_rate.detach().expand((n_samples, *log_rate.shape)).clone().requires_grad_(True)
    losses = family_of(record).surrogate(f, leaf, record, temperature, generator, options, control)
    (grad,) = torch.autograd.grad(losses.sum(), leaf)
    return grad


def learn_control(
    f: CountFn,
    log_rate: torch.Tensor,
    estimator: str,
    temperature: float,
    steps: int = 200,
    n_samples: int = 16,
    generator: torch.Generator | None = None,
) -> ControlVariate | None:
    """A control variate for ``estimator`` learned by ``steps`` variance steps of ``n_samples``
    draws per item on this ``f`` and ``log_rate`` (*B, K), returned frozen (``eval()``); None
    for an estimator that learns none. Costs ``steps · n_samples`` estimator evaluations.

    Example:
        >>> import torch
        >>> control = learn_control(lambda z: (z - 3.0).pow(2).sum(-1), torch.zeros(2, 4),
        ...                         "rebar_cubic", 0.5, steps=20)
        >>> control.training, 0 < control.temperature
        (False, True)
    """
    seed = 0 if generator is None else generator.initial_seed()
    control = make_control(estimator, temperature, log_rate.shape[-1], seed)
    if control is None:
        return None
    leaf = log_rate.detach()
    for _ in range(steps):
        surrogate_loss(f, leaf, estimator, n_samples, temperature, generator, control=control)
    return control.eval()


def _check_inputs(
    record: Estimator,
    options: dict[str, Any],
    control: ControlVariate | None = None,
) -> None:
    """``ValueError`` for options an estimator does not take or a control variate it has no
    use for."""
    if control is not None and not record.learns_control:
        raise ValueError(f"estimator {record.name!r} learns no control variate; got control=")
    if control is not None and not isinstance(control, ControlVariate):
        raise ValueError(f"control must be a ControlVariate, got {type(control).__name__}")
    if not record.pathwise and options:
        raise ValueError(
            f"estimator {record.name!r} draws exact Poisson counts and takes no sampler "
            f"options; got {sorted(options)}"
        )


def law_surrogate_loss(
    f: CountFn,
    distribution: torch.distributions.Distribution,
    estimator: str,
    n_samples: int = 1,
    control: ControlVariate | None = None,
) -> torch.Tensor:
    """Per-sample losses whose gradient in the parameters of any count law is the estimator.

    For laws beyond Poisson (:class:`poissongrad.RelaxedNegativeBinomial`,
    :class:`poissongrad.RelaxedCOMPoisson`, or any distribution with ``sample`` and a
    ``log_prob`` differentiable in its parameters). Score-function estimators (``score``,
    ``score_mean``, ``score_loo``) use ``sample`` and ``log_prob``; a pathwise estimator uses the
    distribution's own ``rsample`` and must name its relaxation (``distribution.method`` and
    ``straight_through``); REBAR/RELAX run on the Poisson rate of a Gamma–Poisson mixture
    (``distribution.mixing_rate``, the negative binomial's), with the distribution's
    temperature as the control variate's τ. The latent axis is the last of the batch shape.

    Args:
        f: maps counts (S, *B, K) to losses (S, *B).
        distribution: batch shape (*B, K).
        estimator: a score-function, pathwise or REBAR/RELAX estimator of the registry whose
            count laws include this law.
        n_samples: S (at least the estimator's ``min_samples``).
        control: a REBAR/RELAX estimator's control variate (see :func:`surrogate_loss`).

    Returns:
        Tensor (S, *B) with value f(z); backpropagating its sum gives the estimator.
    """
    record = get_estimator(estimator, generic_estimators())
    if not isinstance(n_samples, int) or n_samples < record.min_samples:
        raise ValueError(
            f"estimator {estimator!r} needs n_samples >= {record.min_samples}, got {n_samples!r}"
        )
    if control is not None and not record.learns_control:
        raise ValueError(f"estimator {estimator!r} learns no control variate; got control=")
    return family_of(record).law_surrogate(f, distribution, record, n_samples, control)
