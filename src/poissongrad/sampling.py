"""The functional sampler :func:`relaxed_poisson`: one entry point for every relaxation.

Examples
--------
>>> import torch
>>> rate = torch.tensor([0.5, 3.0, 20.0], requires_grad=True)
>>> z = relaxed_poisson(rate, 0.1, "eat_cubic", sample_shape=(64,))
>>> z.shape
torch.Size([64, 3])
>>> hard = relaxed_poisson(rate, 0.1, "gsm", straight_through=True)  # integers forward
>>> bool((hard == hard.round()).all()), hard.requires_grad
(True, True)
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import Distribution

from poissongrad.registry import DEFAULT_METHOD, get_relaxation
from poissongrad.samplers.eat import eat_reference, eat_windowed
from poissongrad.samplers.gsm import (
    GSM_TAIL_MASS,
    auto_support_size,
    fused_poisson_gsm,
    gumbel_softmax_counts,
    poisson_logits,
)
from poissongrad.samplers.indicators import get_indicator
from poissongrad.samplers.poisson_draws import fused_usable
from poissongrad.samplers.validation import (
    MAX_RATE,
    check_rate,
    check_temperature,
    check_work,
    compute_dtype,
)

__all__ = ["relaxed_poisson", "check_options"]

_EAT_OPTIONS = {"sampler", "n_exp", "tail_mass", "capacity"}
_GSM_OPTIONS = {"sampler", "support_size", "tail_mass"}
#: Sampler choices per family; None (the default) is "fused" where the fused CPU kernel can
#: run (:func:`poissongrad.samplers.poisson_draws.fused_usable`) and the tensor-operation one
#: elsewhere.
SAMPLERS = {"eat": ("fused", "windowed", "reference"), "gsm": ("fused", "softmax")}


def check_options(method: str, options: dict[str, Any]) -> dict[str, Any]:
    """``ValueError`` for an option the method does not take, or a bad option value."""
    record = get_relaxation(method)
    family = record.family
    allowed = _EAT_OPTIONS if record.arrival_times else _GSM_OPTIONS
    unknown = set(options) - allowed
    if unknown:
        raise ValueError(
            f"method {method!r} takes options {sorted(allowed)}; got unknown {sorted(unknown)}"
        )
    if options.get("sampler") not in (None, *SAMPLERS[family]):
        raise ValueError(
            f"sampler for {method!r} must be one of {SAMPLERS[family]}, got {options['sampler']!r}"
        )
    if options.get("sampler") != "reference" and "n_exp" in options:
        raise ValueError("n_exp applies to sampler='reference' only (the windowed one has none)")
    if options.get("sampler", "windowed") == "reference" and "capacity" in options:
        raise ValueError("capacity applies to the windowed sampler only")
    size = options.get("support_size", "auto")
    if size != "auto" and not (_is_int(size) and size >= 1):
        raise ValueError(f"support_size must be a positive int or 'auto', got {size!r}")
    n_exp = options.get("n_exp", "auto")
    if n_exp not in ("auto", "paper") and not (_is_int(n_exp) and n_exp >= 1):
        raise ValueError(f"n_exp must be a positive int, 'auto' or 'paper', got {n_exp!r}")
    capacity = options.get("capacity")
    if capacity is not None and not (_is_int(capacity) and capacity >= 1):
        raise ValueError(f"capacity must be a positive int or None, got {capacity!r}")
    tail = options.get("tail_mass", 1e-6)
    if isinstance(tail, bool) or not isinstance(tail, (int, float)) or not 0 < tail < 1:
        raise ValueError(f"tail_mass must be a number in (0, 1), got {tail!r}")
    return options


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def relaxed_poisson(
    rate: torch.Tensor,
    temperature: float,
    method: str = DEFAULT_METHOD,
    sample_shape: torch.Size | tuple[int, ...] = (),
    straight_through: bool = False,
    generator: torch.Generator | None = None,
    validate_args: bool | None = None,
    **options: Any,
) -> torch.Tensor:
    """Draw relaxed Poisson counts z̃ ≈ Poisson(λ) that are differentiable in λ.

    Args:
        rate: λ ≥ 0, shape (*B), floating dtype, CPU or CUDA. Rate 0 gives z̃ = 0.
        temperature: τ ≥ 0 (float), or a tensor of τ > 0 that broadcasts to the result's shape
            (a temperature per latent, say). τ = 0 returns exact hard counts with no gradient.
        method: one of :data:`poissongrad.METHODS`.
        sample_shape: leading shape of independent draws; the result is (*sample_shape, *B).
        straight_through: forward hard integer counts, backward the relaxed gradient.
        generator: optional ``torch.Generator`` for reproducible draws.
        validate_args: check ``rate`` (finite, ≥ 0: one host sync). Defaults to
            ``torch.distributions.Distribution``'s global setting (on unless turned off).
        **options: EAT: ``sampler`` (default: ``"fused"`` on a CPU tensor, one multi-threaded
            pass per element, :func:`poissongrad.samplers.fused.eat`; ``"windowed"`` elsewhere, the
            exact and lean tensor-operation sampler; or ``"reference"``, the published
            materialised algorithm), ``n_exp`` and ``tail_mass`` for the reference sampler,
            ``capacity`` for the windowed one (a fixed number of arrival slots: static shapes,
            no host sync, for ``torch.compile(fullgraph=True)``; see
            :func:`poissongrad.samplers.eat.eat_windowed`). GSM: ``sampler`` (default ``"fused"``
            on a
            CPU tensor: one pass per element, two saved numbers per element, first and second
            derivatives; ``"softmax"``: the K-table of logits, any order of derivative),
            ``support_size`` (int K or ``"auto"``) and ``tail_mass`` (for auto K).

    Returns:
        Tensor of shape (*sample_shape, *B) and rate's dtype, differentiable in ``rate`` for
        τ > 0. Every method makes one host sync per call (EAT: the number of arrivals in the
        window; GSM with auto K: the largest rate), plus one for ``validate_args``.
    """
    record = get_relaxation(method)
    tau = check_temperature(temperature)
    check_options(method, options)
    if validate_args is None:
        validate_args = Distribution._validate_args
    if validate_args:
        check_rate(rate)
    work = compute_dtype(rate.dtype)
    if work != rate.dtype:  # half precision: draw in float32, exact in law, then cast
        top = float(rate.detach().max()) if rate.numel() else 0.0
        if not top + 10 * top**0.5 + 10 <= torch.finfo(rate.dtype).max:
            raise ValueError(
                f"rate up to {top:.4g} gives counts beyond the largest {rate.dtype} "
                f"({torch.finfo(rate.dtype).max:.4g}); use float32"
            )
        z = relaxed_poisson(
            rate.to(work), temperature, method, sample_shape, straight_through, generator,
            validate_args=False, **options,
        )
        return z.to(rate.dtype)
    shape = torch.Size(sample_shape) + rate.shape
    rate = rate.expand(shape)
    if isinstance(tau, torch.Tensor):
        try:
            tau = tau.to(device=rate.device, dtype=rate.dtype).expand(shape)
        except RuntimeError:
            raise ValueError(
                f"temperature of shape {tuple(tau.shape)} does not broadcast to the samples' "
                f"shape {tuple(shape)}"
            ) from None
    elif tau == 0:
        with torch.no_grad():  # a NaN, infinite or negative rate (validation off): NaN
            drawable = torch.isfinite(rate) & (rate >= 0) & (rate <= MAX_RATE)
            counts = torch.poisson(rate.where(drawable, 0.0), generator=generator)
            return counts.where(drawable, torch.nan)
    if record.softmax:
        tail = options.get("tail_mass", GSM_TAIL_MASS)
        size = options.get("support_size", "auto")
        if size == "auto":
            size = auto_support_size(rate, tail)
        sampler = _resolve_sampler(options.get("sampler"), rate, "softmax")
        if sampler == "fused":
            return fused_poisson_gsm(rate, tau, size, straight_through, generator)
        check_work(float(size) * rate.numel(), f"gsm: a support of {size} counts per element")
        logits = poisson_logits(rate, size)
        return gumbel_softmax_counts(logits, tau, hard=straight_through, generator=generator)
    indicator = get_indicator(record.indicator)
    if options.get("sampler") == "reference":
        extra = {k: options[k] for k in ("n_exp", "tail_mass") if k in options}
        return eat_reference(rate, tau, indicator, straight_through, generator, **extra)
    capacity = options.get("capacity")
    requested = options.get("sampler")
    if requested == "fused" and (capacity is not None or indicator.fused is None):
        raise ValueError("sampler='fused' takes no capacity and needs an indicator it knows")
    # The fused kernel runs inside the autograd Function, where functorch has unwrapped rate.
    sampler = _resolve_sampler(requested, rate, "windowed")
    return eat_windowed(
        rate, tau, indicator, straight_through, generator, capacity, sampler == "fused"
    )


def _resolve_sampler(requested: str | None, rate: torch.Tensor, fallback: str) -> str:
    """The sampler to run: the requested one, or by default "fused" where the fused kernel can
    run and ``fallback`` elsewhere; ``ValueError`` for "fused" where it cannot."""
    usable = fused_usable(rate, wrapped_ok=True)
    if requested == "fused" and not usable:
        raise ValueError(
            "sampler='fused' runs on CPU tensors outside torch.compile and torch.jit.trace, "
            f"with numba installed; use sampler={fallback!r}"
        )
    if requested is None:
        return "fused" if usable else fallback
    return requested
