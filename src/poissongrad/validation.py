"""Argument checks shared by the samplers and distributions: clear ``ValueError``s, never NaN."""

from __future__ import annotations

import math

import torch

from poissongrad.registry import METHODS, get_relaxation

__all__ = ["METHODS", "check_floating", "check_method", "check_rate", "check_temperature"]


def check_method(method: str) -> str:
    """Return ``method`` if it is one of :data:`METHODS`; ``ValueError`` otherwise."""
    return get_relaxation(method).name


def check_temperature(temperature: float | torch.Tensor) -> float | torch.Tensor:
    """τ as a Python float, or as a tensor of per-element temperatures (detached).

    ``ValueError`` unless a number is finite and ≥ 0, or a tensor of several elements has a
    floating dtype and finite entries > 0 (one host sync; τ = 0 means hard counts and is only
    meaningful for a whole call).
    """
    if isinstance(temperature, torch.Tensor):
        if temperature.numel() != 1:
            check_floating("temperature", temperature)
            bad = ~(torch.isfinite(temperature) & (temperature > 0))
            if bool(bad.any()):
                raise ValueError(
                    "a tensor temperature must be finite and > 0 everywhere; found "
                    f"{temperature.detach()[bad][:5].tolist()}"
                )
            return temperature.detach()
        temperature = temperature.item()
    try:
        tau = float(temperature)
    except (TypeError, ValueError):
        raise ValueError(f"temperature must be a number, got {temperature!r}") from None
    if not math.isfinite(tau) or tau < 0:
        raise ValueError(f"temperature must be finite and >= 0, got {tau}")
    return tau


def check_floating(name: str, value: torch.Tensor) -> None:
    """``ValueError`` unless ``value`` is a tensor of a floating dtype."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.dtype.is_floating_point:
        raise ValueError(f"{name} must have a floating dtype, got {value.dtype}")


def check_rate(rate: torch.Tensor) -> None:
    """``ValueError`` naming the bad values unless every rate is finite and ≥ 0 (one host sync)."""
    check_floating("rate", rate)
    bad = ~(torch.isfinite(rate) & (rate >= 0))
    if bad.any():
        raise ValueError(
            f"rate must be finite and >= 0; found invalid values {rate.detach()[bad][:5].tolist()}"
        )
