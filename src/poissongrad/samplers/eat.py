"""Exponential Arrival Time (EAT) sampling of relaxed Poisson counts.

A Poisson(λ) count is the number of arrivals of a rate-λ Poisson process in [0, 1]. Writing the
arrival times as T_k = (E_1 + … + E_k)/λ with E_i ~ Exponential(1) makes them differentiable in λ
(∂T_k/∂λ = −T_k/λ); replacing 1[T_k < 1] by a soft indicator g_τ gives z̃ = Σ_k g_τ(T_k).

Two samplers of the same relaxation live here:

* :func:`eat_windowed` (the default): exact and memory-lean. With an indicator that is hard
  outside a window [lo, hi] (exactly for the compact indicators, to within 2e-9 for the sigmoid,
  see :data:`~poissongrad.samplers.indicators.SIGMOID_CUTOFF`), the arrivals before lo each count 1
  and
  carry no gradient, and those after hi count 0. So z̃ = N₀ + Σ_j g_τ(U_j) with
  N₀ ~ Poisson(λ·lo), M ~ Poisson(λ·(hi − lo)) and the U_j uniform on [lo, hi]: the law of the
  published construction with n_exp = ∞. Cost O(numel + Σ λ(hi − lo)); the backward keeps
  ∂z̃/∂λ and ∂²z̃/∂λ² (two tensors of numel elements), so second derivatives are exact.
* :func:`eat_reference`: the published algorithm. It materialises ``n_exp`` exponential gaps for
  every element, O(n_exp·numel) time and memory, and is kept as the baseline that benchmarks and
  tests compare against.

Examples
--------
>>> import torch
>>> from poissongrad.samplers.indicators import get_indicator
>>> rate = torch.full((4,), 5.0, requires_grad=True)
>>> z = eat_windowed(rate, 0.1, get_indicator("cubic"), generator=torch.Generator().manual_seed(0))
>>> z.shape, z.requires_grad
(torch.Size([4]), True)
"""

from __future__ import annotations

import functools
import warnings
from typing import Literal

import torch

import poissongrad.samplers.fused as fused
from poissongrad.samplers.indicators import Indicator
from poissongrad.samplers.poisson_draws import fused_usable, poisson_counts
from poissongrad.samplers.validation import check_work, refuse_nested_forward_mode, refuse_trace
from poissongrad.utils.autograd import apply

__all__ = ["eat_windowed", "eat_reference", "reference_n_exp", "window_capacity"]

#: Default bound on the probability that the reference sampler drops an arrival that matters.
REFERENCE_TAIL_MASS = 1e-6


class _WindowedEAT(torch.autograd.Function):
    """rate → (relaxed count, ∂z̃/∂λ, ∂²z̃/∂λ²), the last two not differentiable.

    Backward multiplies by ∂z̃/∂λ, seen by autograd as a function of λ whose own derivative is
    the saved ∂²z̃/∂λ² (:class:`_PathwiseSlope`), so double backward is exact; forward mode
    multiplies the tangent by ∂z̃/∂λ; under ``vmap`` the sampler, being elementwise, runs once on
    the whole batched tensor.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        rate: torch.Tensor,
        temperature: float,
        indicator: Indicator,
        straight_through: bool,
        generator: torch.Generator | None,
        capacity: int | None,
        allow_fused: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if allow_fused and capacity is None and _fused_kernel_takes(rate, indicator):
            z, slope, curvature = fused.eat(
                rate, temperature, indicator, straight_through, generator
            )
            return z, slope, curvature if indicator.second_derivative is not None else None
        return _windowed_sample(rate, temperature, indicator, straight_through, generator, capacity)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        rate, _, indicator, *_ = inputs
        _, dz_drate, d2z_drate2 = output
        ctx.mark_non_differentiable(*(t for t in output[1:] if t is not None))
        ctx.set_materialize_grads(False)  # no zero gradients made for the two outputs above
        ctx.save_for_backward(rate, dz_drate, d2z_drate2)
        ctx.save_for_forward(rate, dz_drate, d2z_drate2)
        ctx.indicator = indicator.name

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor, *_):  # type: ignore[override]
        if grad_output is None:  # only the non-differentiable outputs were used
            return None, None, None, None, None, None, None
        rate, dz_drate, d2z_drate2 = ctx.saved_tensors
        if (
            torch.compiler.is_compiling()
            or torch.is_grad_enabled()
            or torch._C._functorch.is_functorch_wrapped_tensor(rate)
        ):
            # The slope as a function of λ (derivative: the saved curvature), so that a
            # backward with create_graph, or forward mode over this backward
            # (torch.func.hessian, jvp of grad), differentiates it exactly. A plain eager
            # backward (grad mode off) needs only its value.
            dz_drate = apply(_PathwiseSlope, rate, dz_drate, d2z_drate2, ctx.indicator)
        return grad_output * dz_drate, None, None, None, None, None, None

    @staticmethod
    def jvp(ctx, rate_tangent: torch.Tensor, *_):  # type: ignore[override]
        refuse_nested_forward_mode("eat_windowed")
        rate, dz_drate, d2z_drate2 = ctx.saved_tensors
        # Differentiable in λ like the backward's slope, so reverse over forward is exact
        # (forward over forward is refused above: PyTorch drops that derivative).
        dz_drate = _PathwiseSlope.apply(rate, dz_drate, d2z_drate2, ctx.indicator)
        return rate_tangent * dz_drate, None, None

    @staticmethod
    def vmap(  # type: ignore[override]
        info, in_dims, rate, temperature, indicator, straight_through, generator, capacity, fuse
    ):
        out = _WindowedEAT.apply(
            rate.movedim(in_dims[0], 0) if in_dims[0] is not None else rate,
            temperature,
            indicator,
            straight_through,
            generator,
            capacity,
            fuse,
        )
        dim = 0 if in_dims[0] is not None else None
        return out, (dim, dim, dim if out[2] is not None else None)


class _CompiledWindowedEAT(torch.autograd.Function):
    """:class:`_WindowedEAT` for ``torch.compile``: the same forward and backward, without the
    jvp and vmap rules that Dynamo cannot trace (forward mode is unavailable inside a compiled
    region)."""

    forward = _WindowedEAT.forward
    setup_context = _WindowedEAT.setup_context
    backward = _WindowedEAT.backward


class _PathwiseSlope(torch.autograd.Function):
    """∂z̃/∂λ as a function of λ: its derivative is the saved ∂²z̃/∂λ² (in reverse and forward
    mode), which is itself constant in λ up to :class:`_Curvature`, which refuses a third
    derivative rather than return a wrong one."""

    generate_vmap_rule = True

    @staticmethod
    def forward(  # type: ignore[override]
        rate: torch.Tensor, slope: torch.Tensor, curvature: torch.Tensor | None, indicator: str
    ) -> torch.Tensor:
        return slope.clone()

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        rate, _, curvature, indicator = inputs
        ctx.save_for_backward(rate, curvature)
        ctx.save_for_forward(rate, curvature)
        ctx.indicator = indicator

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        rate, curvature = ctx.saved_tensors
        return grad_output * _curvature(rate, curvature, ctx.indicator), None, None, None

    @staticmethod
    def jvp(ctx, rate_tangent: torch.Tensor, *_):  # type: ignore[override]
        refuse_nested_forward_mode("eat_windowed")
        rate, curvature = ctx.saved_tensors
        return rate_tangent * _curvature(rate, curvature, ctx.indicator)


def _curvature(rate: torch.Tensor, curvature: torch.Tensor | None, indicator: str) -> torch.Tensor:
    if curvature is None:
        raise RuntimeError(
            f"eat_{indicator}: second derivatives need an indicator with a continuous "
            "derivative (its g' jumps at the window edges); use eat_cubic, eat_quintic, "
            "eat_cosine or eat_sigmoid"
        )
    return _Curvature.apply(rate, curvature)


class _Curvature(torch.autograd.Function):
    """∂²z̃/∂λ² as a function of λ whose derivative (a third derivative of z̃) is not kept: asking
    for it raises instead of returning zero."""

    generate_vmap_rule = True

    @staticmethod
    def forward(rate: torch.Tensor, curvature: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return curvature.clone()

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        pass

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        raise RuntimeError(_NO_THIRD)

    @staticmethod
    def jvp(ctx, *_):  # type: ignore[override]
        raise RuntimeError(_NO_THIRD)


_NO_THIRD = (
    "the windowed EAT and fused samplers keep exact first and second derivatives in the rate; "
    "third and higher derivatives are not available (GSM has them with sampler='softmax')"
)


def _fused_kernel_takes(rate: torch.Tensor, indicator: Indicator) -> bool:
    return fused_usable(rate) and fused.indicator_code(indicator) is not None


def _windowed_sample(
    rate: torch.Tensor,
    temperature: float,
    indicator: Indicator,
    straight_through: bool,
    generator: torch.Generator | None,
    capacity: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(z̃, ∂z̃/∂λ, ∂²z̃/∂λ² or None), each shaped like ``rate``.

    ``temperature`` is a float, or a tensor shaped like ``rate`` (a window per element: then an
    index over the arrivals maps each to its element's window). With ``capacity``, arrivals go
    into that many slots (static shapes, no host sync), each slot mapped to its element by a
    search in the running count of arrivals.
    """
    flat = rate.detach().reshape(-1)
    per_element = isinstance(temperature, torch.Tensor)
    if per_element:
        temperature = temperature.reshape(-1)
        lo, hi = indicator.window(temperature)
        lo = lo.clamp_min(0.0)
        hard = poisson_counts(flat * lo, generator)
    else:
        lo, hi = indicator.window(temperature)
        lo = max(lo, 0.0)
        hard = poisson_counts(flat * lo, generator) if lo > 0 else torch.zeros_like(flat)
    in_window = poisson_counts(flat * (hi - lo), generator)
    # Arrivals are laid out element after element, so per-element sums are differences of a
    # running sum at the segment ends: no index tensor over arrivals is needed. The running
    # count is summed in float64 (exact to 2⁵³) and checked before it becomes an int64.
    ends = in_window.to(torch.float64).cumsum(0)
    if capacity is None:
        refuse_trace("eat_windowed: the number of arrivals in the window (pass capacity=)")
        # The one host sync of the sampler: the number of arrivals in the window is
        # data-dependent.
        total = float(ends[-1]) if ends.numel() else 0.0
        # Each window arrival holds its time, g, t·g' and t²·g'' (and a running sum).
        check_work(4 * total, f"eat_windowed: {total:.3g} arrivals in the soft window")
        total = int(total)
        ends = ends.to(torch.int64)
        sums = functools.partial(_segment_sums, ends=ends)
    else:
        total = capacity
        ends = ends.clamp_max(2.0**62).to(torch.int64)  # an overflow still trips the assert
        owner, used = _slots(ends, capacity)
        sums = functools.partial(_slot_sums, owner=owner, used=used, size=flat.numel())
    times = torch.empty(total, dtype=flat.dtype, device=flat.device)
    if per_element:
        if capacity is None:
            owner = torch.repeat_interleave(
                torch.arange(flat.numel(), device=flat.device), in_window.to(torch.int64)
            )
        times.uniform_(0.0, 1.0, generator=generator)
        times = times.mul_((hi - lo)[owner]).add_(lo[owner])
        temperature = temperature[owner]
    else:
        times.uniform_(lo, hi, generator=generator)
    smooth = indicator.second_derivative is not None
    soft, slope, curvature_terms = indicator.window_terms(times, temperature, second=smooth)
    if straight_through:
        soft = (times < 1.0).to(flat.dtype)
    z = hard.add_(sums(soft))
    # With T = E/λ (∂T/∂λ = −T/λ): ∂z̃/∂λ = −Σ_j T_j g'(T_j)/λ and
    # ∂²z̃/∂λ² = Σ_j (2 T_j g'(T_j) + T_j² g''(T_j))/λ² (no arrival can belong to a zero rate).
    safe = flat.clamp_min(torch.finfo(flat.dtype).tiny)
    curvature = None
    if curvature_terms is not None:
        curvature_sums = sums(curvature_terms.add_(slope, alpha=2.0))
        curvature = curvature_sums.div_(safe).div_(safe).reshape(rate.shape)
    dz_drate = sums(slope).div_(safe).neg_().reshape(rate.shape)
    return z.reshape(rate.shape), dz_drate, curvature


def _segment_sums(values: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """Sums of consecutive segments of ``values`` ending (exclusive) at ``ends`` (int64, sorted).

    Differences of a float64 running sum, so rounding stays at 1e-16 of the running total (and
    on CPU a float64 cumsum is faster than a float32 one).
    """
    if values.numel() == 0:
        return values.new_zeros(ends.shape)
    running = torch.cumsum(values, dim=0, dtype=torch.float64)
    at_ends = running.index_select(0, (ends - 1).clamp_min_(0)).masked_fill_(ends == 0, 0.0)
    return torch.diff(at_ends, prepend=at_ends.new_zeros(1)).to(values.dtype)


def _slots(ends: torch.Tensor, capacity: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(element of each slot, whether the slot holds an arrival) for a fixed number of arrival
    slots; fails (an async device assert, no host sync) when arrivals overflow."""
    slots = torch.arange(capacity, device=ends.device)
    owner = torch.searchsorted(ends, slots, right=True)
    overflow = ends[-1] > capacity if ends.numel() else torch.zeros((), dtype=torch.bool)
    torch._assert_async(
        ~overflow,
        "eat_windowed: more arrivals in the window than capacity; raise capacity= "
        "(see poissongrad.samplers.eat.window_capacity)",
    )
    used = owner < ends.numel()
    return owner.clamp_max_(max(ends.numel() - 1, 0)), used


def _slot_sums(
    values: torch.Tensor, owner: torch.Tensor, used: torch.Tensor, size: int
) -> torch.Tensor:
    """Per-element sums of slot values (unused slots count 0), static shapes."""
    kept = torch.where(used, values, torch.zeros_like(values))
    return values.new_zeros(size).index_add_(0, owner, kept)


def window_capacity(
    rate: torch.Tensor | float,
    temperature: float,
    indicator: Indicator,
    numel: int | None = None,
    tail_mass: float = 1e-9,
) -> int:
    """Slots for the static path: a bound on the arrivals in the window of one call that is
    exceeded with probability ≤ ``tail_mass``, for ``numel`` elements of rate ≤ max(``rate``).

    The total is Poisson(Σ λ·(hi − lo)) ≤ Poisson(numel·λ_max·(hi − lo)) in law, so its
    (1 − tail_mass) quantile bounds it.
    """
    from scipy import stats  # imported on first use: a light `import poissongrad`
    lo, hi = indicator.window(temperature)
    lo = max(lo, 0.0)
    r = torch.as_tensor(rate, dtype=torch.float64)
    count = r.numel() if numel is None else numel
    mean = count * float(r.max()) * (hi - lo)
    return int(stats.poisson.ppf(1.0 - tail_mass, mean)) + 1


def eat_windowed(
    rate: torch.Tensor,
    temperature: float | torch.Tensor,
    indicator: Indicator,
    straight_through: bool = False,
    generator: torch.Generator | None = None,
    capacity: int | None = None,
    allow_fused: bool = True,
) -> torch.Tensor:
    """Sample relaxed counts z̃ = Σ_k g_τ(T_k) exactly, simulating only arrivals in g's window.

    Args:
        rate: Poisson rates λ ≥ 0 (counts per unit window), any shape, floating dtype.
        temperature: τ > 0, the width of the soft indicator in units of the counting window: a
            float, or a tensor that broadcasts to ``rate`` (one τ per element; this keeps an
            index of the arrivals' elements, O(arrivals) extra memory during the call).
        indicator: the soft indicator g_τ.
        straight_through: forward the hard count (the same arrivals counted with 1[t < 1]),
            backward the relaxed gradient.
        generator: optional ``torch.Generator`` for reproducibility.
        capacity: None (default: exactly as many arrival slots as arrivals, one host sync), or
            a fixed number of slots for the whole call (static shapes and no host sync, for
            ``torch.compile(fullgraph=True)`` and CUDA graphs; memory O(capacity)). More
            arrivals than slots fail with a device-side assert, never a silent truncation;
            :func:`window_capacity` gives a bound exceeded with probability ≤ 10⁻⁹.
        allow_fused: on a plain CPU tensor (without ``capacity``), draw with the fused kernel
            (:func:`poissongrad.samplers.fused.eat`: one parallel pass per element, no host sync);
            False keeps the tensor-operation sampler, the reference the fused one is tested
            against.

    Returns:
        Tensor shaped like ``rate``: relaxed counts, differentiable in ``rate``: backward,
        double backward (for indicators with a continuous derivative; the linear one raises),
        forward mode and ``torch.func`` transforms (``grad``, ``jacrev``, ``jacfwd``, ``vmap``).
        The first and second derivatives are computed in the forward pass and saved (two
        tensors of numel elements).

    The tensor-operation sampler makes one host sync per call (the total number of arrivals in
    the window), none with ``capacity``; the fused CPU kernel reads one seed from ``generator``.
    """
    if isinstance(temperature, torch.Tensor):
        temperature = temperature.detach().to(rate.device, rate.dtype).expand(rate.shape)
    else:
        temperature = float(temperature)
    if capacity is not None and (isinstance(capacity, bool) or int(capacity) < 1):
        raise ValueError(f"capacity must be a positive int or None, got {capacity!r}")
    if torch.compiler.is_compiling():
        return _CompiledWindowedEAT.apply(
            rate, temperature, indicator, straight_through, generator, capacity, False
        )[0]
    return apply(
        _WindowedEAT, rate, temperature, indicator, straight_through, generator, capacity,
        allow_fused,
    )[0]


def reference_n_exp(
    rate_max: float,
    temperature: float,
    indicator: Indicator,
    rule: Literal["auto", "paper"] = "auto",
    tail_mass: float = REFERENCE_TAIL_MASS,
) -> int:
    """Number of arrivals to materialise for the reference sampler.

    ``"paper"``: the published rule, the (1 − 10⁻³) quantile of Poisson(λ_max). It may drop
    arrivals that the indicator still counts (times up to ``hi`` of the window), a downward bias.
    ``"auto"``: enough arrivals that P(an arrival before ``hi`` is dropped) ≤ ``tail_mass`` for
    the largest rate.
    """
    from scipy import stats  # imported on first use: a light `import poissongrad`
    if rule == "paper":
        return max(1, int(stats.poisson.ppf(1.0 - 1e-3, rate_max)))
    if rule == "auto":
        hi = indicator.window(temperature)[1]
        return max(1, int(stats.poisson.ppf(1.0 - tail_mass, rate_max * hi)) + 1)
    raise ValueError(f"unknown n_exp rule {rule!r}; expected 'auto', 'paper' or an int")


def eat_reference(
    rate: torch.Tensor,
    temperature: float | torch.Tensor,
    indicator: Indicator,
    straight_through: bool = False,
    generator: torch.Generator | None = None,
    n_exp: int | Literal["auto", "paper"] = "auto",
    tail_mass: float = REFERENCE_TAIL_MASS,
) -> torch.Tensor:
    """The published EAT algorithm: materialise ``n_exp`` arrival times for every element.

    Args:
        rate: Poisson rates λ ≥ 0, any shape, floating dtype.
        temperature: τ > 0, a float or a tensor that broadcasts to ``rate``.
        indicator: the soft indicator g_τ.
        straight_through: forward the hard count Σ 1[T_k < 1], backward the relaxed gradient.
        generator: optional ``torch.Generator``.
        n_exp: arrivals per element, or a rule (see :func:`reference_n_exp`). When arrivals that
            the indicator counts may be dropped with probability above ``tail_mass``, a
            ``UserWarning`` says so (never a silent truncation).
        tail_mass: tolerated probability of dropping a counted arrival.

    Returns:
        Tensor shaped like ``rate``, differentiable by plain autograd; memory O(n_exp·numel).
        One host sync (the largest rate) per call.
    """
    from scipy import stats  # imported on first use: a light `import poissongrad`
    rate_max = float(rate.detach().max()) if rate.numel() else 0.0
    widest = float(temperature.max()) if isinstance(temperature, torch.Tensor) else temperature
    if isinstance(n_exp, str):
        refuse_trace(f"eat_reference: n_exp={n_exp!r}")
        n_exp = reference_n_exp(rate_max, widest, indicator, n_exp, tail_mass)
    elif n_exp < 1:
        raise ValueError(f"n_exp must be a positive int, got {n_exp}")
    check_work(float(n_exp) * rate.numel(), f"eat_reference: n_exp={n_exp} arrivals per element")
    hi = indicator.window(widest)[1]
    dropped = float(stats.poisson.sf(n_exp - 1, rate_max * hi))
    if dropped > tail_mass:
        warnings.warn(
            f"eat_reference: with n_exp={n_exp} and max rate {rate_max:.4g}, counted arrivals "
            f"are dropped with probability {dropped:.3g} (> {tail_mass:g}); samples are biased "
            "downwards",
            stacklevel=2,
        )
    gaps = torch.empty((n_exp, *rate.shape), dtype=rate.dtype, device=rate.device)
    gaps.exponential_(generator=generator)
    times = gaps.cumsum(0) / rate.clamp_min(torch.finfo(rate.dtype).tiny)
    soft = indicator.value(times, temperature).sum(0)
    if not straight_through:
        return soft
    hard = (times.detach() < 1.0).sum(0).to(rate.dtype)
    return soft + (hard - soft).detach()
