"""Argument checks shared by the samplers and distributions: a clear ``ValueError``, never NaN."""

from __future__ import annotations

import math

import torch

from poissongrad.registry import METHODS, get_relaxation

__all__ = [
    "MAX_LOG_RATE",
    "MAX_RATE",
    "METHODS",
    "check_floating",
    "check_log_rate",
    "check_method",
    "check_rate",
    "check_temperature",
    "check_work",
    "compute_dtype",
    "is_hard",
    "refuse_nested_forward_mode",
    "refuse_trace",
]


def check_method(method: str) -> str:
    """Return ``method`` if it is one of :data:`METHODS`; ``ValueError`` otherwise."""
    return get_relaxation(method).name


def check_temperature(temperature: float | torch.Tensor) -> float | torch.Tensor:
    """τ as a Python float, or as a tensor of per-element temperatures (detached).

    ``ValueError`` unless a number is finite and ≥ 0, or a tensor of several elements has a
    floating dtype and finite entries > 0 (one host sync; τ = 0 means hard counts and is only
    meaningful for a whole call).
    """
    if isinstance(temperature, (bool, str)) or not isinstance(
        temperature, (int, float, torch.Tensor)
    ):
        raise ValueError(f"temperature must be a number or a tensor, got {temperature!r}")
    if isinstance(temperature, torch.Tensor):
        if temperature.requires_grad:
            raise ValueError(
                "temperature requires grad, but no sampler differentiates in τ; pass "
                "temperature.detach() (a learned τ needs an estimator of its own gradient)"
            )
        if temperature.numel() != 1:
            check_floating("temperature", temperature)
            bad = ~(torch.isfinite(temperature) & (temperature > 0))
            if _found(bad, "a temperature tensor"):
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


def is_hard(temperature: float | torch.Tensor) -> bool:
    """Whether a (checked) temperature asks for hard counts: the number 0."""
    return not isinstance(temperature, torch.Tensor) and temperature == 0


#: Most values one call may hold at once (GSM tables K·numel, reference arrivals n_exp·numel,
#: the windowed sampler's four values per window arrival): ~1 GB per float32 tensor, so a rate
#: too large to draw in bounded memory is refused with a message instead of exhausting it.
MAX_ELEMENTS = 2**28


def check_work(elements: float, what: str) -> None:
    """``ValueError`` when a call would materialise more than :data:`MAX_ELEMENTS` values."""
    if not 0 <= elements <= MAX_ELEMENTS:  # also catches NaN (and an overflowed count)
        raise ValueError(
            f"{what}: this call would hold {elements:.3g} values (limit {MAX_ELEMENTS:,}); the "
            "rates are too large for this relaxation at this temperature: lower the "
            "temperature or the rates, or draw in smaller batches"
        )


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the samplers draw in: float32 for float16/bfloat16 (their uniform draws are
    coarse and biased, and λ·window overflows float16), the dtype itself otherwise."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def check_floating(name: str, value: torch.Tensor) -> None:
    """``ValueError`` unless ``value`` is a tensor of a floating dtype."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.dtype.is_floating_point:
        raise ValueError(f"{name} must have a floating dtype, got {value.dtype}")


#: Largest rate accepted: Poisson counts stay exact integers in float64 up to 2⁵³, and
#: ``torch.poisson`` returns garbage (negative counts) for rates past ~9e18.
MAX_RATE = 2.0**53
#: Its logarithm, the largest log-rate accepted (≈ 36.7).
MAX_LOG_RATE = math.log(MAX_RATE)


def _found(bad: torch.Tensor, name: str) -> bool:
    """Whether any entry of ``bad`` is set (one host sync); ``ValueError`` saying what to do
    when ``torch.func.vmap`` batches the checked tensor (it has no single value to read)."""
    try:
        return bool(bad.any())
    except RuntimeError:
        raise ValueError(
            f"{name} batched by torch.func.vmap cannot be checked (a host read); check it "
            "before vmap and pass validate_args=False inside"
        ) from None


def _plain_cpu(x: torch.Tensor) -> bool:
    """A float32/float64 CPU tensor NumPy can view (not one wrapped by a torch.func transform
    or traced)."""
    return (
        x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and type(x) is torch.Tensor
        and not torch._C._functorch.is_functorch_wrapped_tensor(x)
        and not torch.jit.is_tracing()
        and not torch.compiler.is_compiling()
    )


def check_rate(rate: torch.Tensor) -> None:
    """``ValueError`` naming the bad values unless every rate is finite, ≥ 0 and at most
    :data:`MAX_RATE` (one host sync)."""
    check_floating("rate", rate)
    if _plain_cpu(rate):  # NumPy reads the memory in place: a third of torch's fixed cost
        values = rate.detach().numpy()
        if bool(((values >= 0) & (values <= MAX_RATE)).all()):  # NaN fails both comparisons
            return
    bad = ~(torch.isfinite(rate) & (rate >= 0) & (rate <= MAX_RATE))
    if _found(bad, "rate"):
        raise ValueError(
            f"rate must be finite, >= 0 and <= 2**53; found invalid values "
            f"{rate.detach()[bad][:5].tolist()}"
        )


def check_log_rate(log_rate: torch.Tensor) -> None:
    """``ValueError`` naming the bad values unless every log-rate is a floating number, not NaN
    and at most :data:`MAX_LOG_RATE` (−inf, rate 0, is allowed; one host sync)."""
    check_floating("log_rate", log_rate)
    bad = torch.isnan(log_rate) | (log_rate > MAX_LOG_RATE)
    if _found(bad, "log_rate"):
        raise ValueError(
            "log_rate must not be NaN and at most log(2**53) ≈ 36.7; found "
            f"{log_rate.detach()[bad][:5].tolist()}"
        )


def refuse_nested_forward_mode(what: str) -> None:
    """``RuntimeError`` when called from a custom ``jvp`` rule under two forward-mode levels.

    PyTorch does not differentiate a custom ``autograd.Function``'s ``jvp`` rule at an outer
    forward-mode level (``jacfwd(jacfwd(f))``, ``jvp`` of ``jvp``): the outer tangent of the
    inner one comes back as if the rule's slope were constant, a silently wrong second
    derivative. Reverse over reverse, forward over reverse (``torch.func.hessian``) and
    reverse over forward are exact and are what this message points to.
    """
    from torch._C._functorch import get_interpreter_stack

    stack = get_interpreter_stack() or []
    if sum(str(level.key()) == "TransformType.Jvp" for level in stack) > 1:
        raise RuntimeError(
            f"{what}: forward-over-forward derivatives (jacfwd of jacfwd, jvp of jvp) are not "
            "exact through PyTorch custom functions; use torch.func.hessian (forward over "
            "reverse), jacrev(jacrev(f)) or jacrev(jacfwd(f))"
        )


def refuse_trace(what: str) -> None:
    """``ValueError`` under ``torch.jit.trace`` for a size read from the data (a trace would
    freeze it at the example's value and be silently wrong for other inputs)."""
    if torch.jit.is_tracing():
        raise ValueError(
            f"{what} depends on the values of the inputs and cannot be traced: a trace would "
            "keep the size of the example; pass a fixed size (support_size=, n_exp=, capacity=)"
        )
