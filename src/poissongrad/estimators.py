"""Gradient estimators for ∇_s E[f(z)], z ~ Poisson(e^s), behind one interface.

Estimator names (:data:`ESTIMATORS`):

* every relaxation in :data:`poissongrad.METHODS` (pathwise through relaxed counts), and the same
  with ``_st`` appended (straight-through: hard counts forward, relaxed gradient backward);
* ``score`` (REINFORCE, no baseline), ``score_mean`` (baseline: mean of f over the S samples, the
  sample itself included, which scales the expected gradient by 1 − 1/S), ``score_loo``
  (leave-one-out baseline, unbiased);
* ``difference``: the Poisson difference identity (unbiased; K + 1 evaluations of f per sample).

``f`` maps counts (..., K) to per-item losses (...); the latent axis is the last one. The
:func:`surrogate_loss` has value f(z) and a gradient (in ``log_rate`` and in any parameter f uses)
equal to the estimator, for training. :func:`gradient_samples` returns per-sample gradients for
evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from poissongrad.exact import difference_identity
from poissongrad.sampling import relaxed_poisson
from poissongrad.validation import METHODS, check_temperature

__all__ = ["ESTIMATORS", "SCORE_ESTIMATORS", "surrogate_loss", "gradient_samples", "split_name"]

SCORE_ESTIMATORS: tuple[str, ...] = ("score", "score_mean", "score_loo")
ESTIMATORS: tuple[str, ...] = (
    METHODS + tuple(f"{m}_st" for m in METHODS) + SCORE_ESTIMATORS + ("difference",)
)

CountFn = Callable[[torch.Tensor], torch.Tensor]


def split_name(estimator: str) -> tuple[str, bool]:
    """``"eat_cubic_st"`` → (``"eat_cubic"``, True); ``ValueError`` for an unknown estimator."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; expected one of {ESTIMATORS}")
    if estimator.endswith("_st"):
        return estimator[: -len("_st")], True
    return estimator, False


def _score_baseline(values: torch.Tensor, estimator: str) -> torch.Tensor:
    n = values.shape[0]
    if estimator == "score":
        return torch.zeros_like(values)
    if estimator == "score_mean":
        return values.mean(0, keepdim=True).expand_as(values)
    if n < 2:
        raise ValueError("score_loo needs at least 2 samples")
    return (values.sum(0, keepdim=True) - values) / (n - 1)


def surrogate_loss(
    f: CountFn,
    log_rate: torch.Tensor,
    estimator: str,
    n_samples: int = 1,
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
    **options: Any,
) -> torch.Tensor:
    """Per-sample losses whose gradient is the chosen estimator of ∇ E[f(z)].

    Args:
        f: maps counts (S, *B, K) to losses (S, *B); may depend on trainable parameters.
        log_rate: s = log λ, shape (*B, K), differentiable.
        estimator: one of :data:`ESTIMATORS`.
        n_samples: S ≥ 1 draws per item.
        temperature: τ for relaxed estimators (ignored by score and difference).
        generator: optional ``torch.Generator``.
        **options: method options passed to :func:`poissongrad.relaxed_poisson`.

    Returns:
        Tensor (S, *B) whose value is f(z) (relaxed z for relaxed estimators, hard otherwise);
        the gradient of its sum is the sum over samples of the per-sample estimates.
    """
    expanded = log_rate.expand((n_samples, *log_rate.shape))
    return _surrogate(f, expanded, estimator, temperature, generator, options)


def gradient_samples(
    f: CountFn,
    log_rate: torch.Tensor,
    estimator: str,
    n_samples: int,
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
    **options: Any,
) -> torch.Tensor:
    """S per-sample estimates of ∇_s E[f(z)] for every item, s = log λ.

    Args:
        f: maps counts (S, *B, K) to losses (S, *B).
        log_rate: shape (*B, K) (not modified; its own gradient is untouched).
        estimator, n_samples, temperature, generator, options: as in :func:`surrogate_loss`.

    Returns:
        Tensor (S, *B, K). Score-function baselines couple the S samples of an item (the LOO
        estimate of sample i uses the others), as they do in training.
    """
    # Each sample gets its own copy of s, so the gradient at copy i is sample i's estimate.
    leaf = log_rate.detach().expand((n_samples, *log_rate.shape)).clone().requires_grad_(True)
    losses = _surrogate(f, leaf, estimator, temperature, generator, options)
    (grad,) = torch.autograd.grad(losses.sum(), leaf)
    return grad


def _surrogate(
    f: CountFn,
    log_rate: torch.Tensor,
    estimator: str,
    temperature: float,
    generator: torch.Generator | None,
    options: dict[str, Any],
) -> torch.Tensor:
    """The surrogate for log-rates that already carry the sample axis first: (S, *B, K)."""
    method, straight_through = split_name(estimator)
    rate = log_rate.exp()
    if method in METHODS:
        tau = check_temperature(temperature)
        return f(relaxed_poisson(rate, tau, method, (), straight_through, generator, **options))
    with torch.no_grad():
        z = torch.poisson(rate.detach(), generator=generator)
    values = f(z)
    if method == "difference":
        with torch.no_grad():
            slope = difference_identity(f, z)  # ∂/∂λ, shape (S, *B, K)
        return values + (slope * (rate - rate.detach())).sum(-1)
    advantage = (values - _score_baseline(values, method)).detach()
    score = (z * log_rate - rate).sum(-1)  # log p(z | λ) up to terms free of s
    return values + advantage * (score - score.detach())
