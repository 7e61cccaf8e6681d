"""Relaxed Poisson counts in JAX: the same EAT and GSM relaxations as the torch samplers.

Pure functions of a PRNG key with static shapes, so that ``jit``, ``vmap``, ``grad``,
``jacfwd``, ``jacrev`` and ``hessian`` all apply::

    import jax, jax.numpy as jnp
    from poissongrad.jax import relaxed_poisson, window_slots

    rate = jnp.array([0.5, 3.0, 20.0])
    slots = window_slots(20.0, 0.1, "eat_cubic")          # static: a bound on window arrivals
    z = relaxed_poisson(jax.random.key(0), rate, 0.1, capacity=slots)
    jax.grad(lambda r: relaxed_poisson(jax.random.key(0), r, 0.1, capacity=slots).sum())(rate)

**EAT** (every indicator of :data:`poissongrad.samplers.indicators.INDICATORS`): as the windowed
torch
sampler, z̃ = N₀ + Σ_j g_τ(U_j) with N₀ ~ Poisson(λ·lo) arrivals that count 1 and
M ~ Poisson(λ(hi − lo)) arrival times U_j uniform in the soft window [lo, hi]. JAX needs static
shapes, so each element has ``capacity`` slots for its window arrivals; an element with more
arrivals than slots returns **NaN**, in its value and its derivatives (never a silent
truncation: check ``jnp.isnan``; the default capacity, :func:`window_slots`, is exceeded with
probability ≤ 10⁻⁹ per call). A NaN, infinite or negative rate, or one beyond what the integer
counts hold (2³⁰ with JAX's default 32-bit integers, 2⁵³ with ``jax_enable_x64``), gives NaN
too, never a count; with a concrete ``rate`` and no ``capacity`` such rates are refused. The
derivatives are ``jax.custom_jvp`` rules with the same exact pathwise first and second
derivatives as the torch sampler, ∂z̃/∂λ = −Σ T g'(T)/λ and ∂²z̃/∂λ² = Σ (2T g'(T) +
T² g''(T))/λ² (T = Γ/λ); third derivatives are NaN (not available, as in torch, where they
raise). ``eat_linear`` has no second derivative (its g' jumps): NaN there too.

**GSM**: z̃ = Σ_k k softmax((k log λ − log k! + G_k)/τ) over k < ``support_size`` (static),
plain JAX operations (every order of derivative).

The indicators' closed forms (window, ∫g, ∫g²) and profiles come from
:mod:`poissongrad.samplers.indicators` (the polynomial coefficients the fused torch kernel uses
too), so
the two backends share one source; the tests check their laws equal.

Needs the ``jax`` extra (``pip install 'poissongrad[jax]'``); importing without JAX raises an
``ImportError`` that says so. NumPyro distributions: :mod:`poissongrad.numpyro`.
"""

from __future__ import annotations

import math
from functools import partial

try:
    import jax
    import jax.numpy as jnp
except ImportError as err:  # pragma: no cover - exercised only without jax
    raise ImportError(
        "poissongrad.jax needs JAX: pip install 'poissongrad[jax]' (or pip install jax)"
    ) from err

from scipy import stats

from poissongrad.registry import DEFAULT_METHOD, get_relaxation
from poissongrad.samplers.indicators import get_indicator

__all__ = ["gsm_support_size", "relaxed_poisson", "window_slots"]

#: Default tail mass of :func:`window_slots`.
TAIL_MASS = 1e-9
#: Most window slots (capacity × rates) one EAT call may hold, as the torch samplers' bound.
MAX_SLOTS = 2**28


def _window(method: str, temperature: float) -> tuple[float, float]:
    lo, hi = get_indicator(get_relaxation(method).indicator).window(temperature)
    return max(lo, 0.0), hi


def window_slots(
    rate_max: float, temperature: float, method: str = DEFAULT_METHOD, tail_mass: float = TAIL_MASS
) -> int:
    """Slots per element for the window arrivals: the (1 − ``tail_mass``) quantile of
    Poisson(λ_max·(hi − lo)), so one element overflows with probability ≤ ``tail_mass``."""
    lo, hi = _window(method, temperature)
    return max(1, int(stats.poisson.ppf(1.0 - tail_mass, float(rate_max) * (hi - lo))) + 1)


def gsm_support_size(rate_max: float, tail_mass: float = 1e-6) -> int:
    """GSM support K leaving out at most ``tail_mass`` of Poisson(λ_max) (the torch rule)."""
    return int(stats.poisson.ppf(1.0 - tail_mass, float(rate_max))) + 1


def _parts(name: str, t, tau: float):
    """(g, g', g'') of an indicator at times t inside its window, from its shared profile."""
    indicator = get_indicator(name)
    kind, coefficients = indicator.fused
    if kind == "sigmoid":
        s = jax.nn.sigmoid((1.0 - t) / tau)
        slope = s * (1.0 - s)
        return s, -slope / tau, slope * (1.0 - 2.0 * s) / tau**2
    u = (1.0 + tau - t) / (2.0 * tau)
    if kind == "cosine":
        h = 0.5 * (1.0 - jnp.cos(math.pi * u))
        dh = 0.5 * math.pi * jnp.sin(math.pi * u)
        d2h = 0.5 * math.pi**2 * jnp.cos(math.pi * u)
    else:
        c = list(coefficients)
        h = jnp.polyval(jnp.asarray(c[::-1]), u)
        dc = [k * a for k, a in enumerate(c)][1:]
        d2c = [k * a for k, a in enumerate(dc)][1:] or [0.0]
        dh = jnp.polyval(jnp.asarray(dc[::-1]), u)
        d2h = jnp.polyval(jnp.asarray(d2c[::-1]), u)
    return h, -dh / (2.0 * tau), d2h / (4.0 * tau**2)


@jax.custom_jvp
def _third(rate, curvature):
    return curvature


@_third.defjvp
def _third_jvp(primals, tangents):
    rate, curvature = primals
    return _third(rate, curvature), jnp.full_like(curvature, jnp.nan) * tangents[0]  # n/a


@jax.custom_jvp
def _second(rate, slope, curvature):
    return slope


@_second.defjvp
def _second_jvp(primals, tangents):
    rate, slope, curvature = primals
    return _second(rate, slope, curvature), _third(rate, curvature) * tangents[0]


@jax.custom_jvp
def _first(rate, value, slope, curvature):
    return value


@_first.defjvp
def _first_jvp(primals, tangents):
    # The primal output is the function itself (not ``value``), so that differentiating this
    # rule (a derivative of a derivative) sees its own rule again.
    rate, value, slope, curvature = primals
    return _first(rate, value, slope, curvature), _second(rate, slope, curvature) * tangents[0]


@partial(jax.jit, static_argnames=("method", "temperature", "capacity", "straight_through"))
def _eat(key, rate, temperature, method, capacity, straight_through):
    name = get_relaxation(method).indicator
    lo, hi = _window(method, temperature)
    fixed = jax.lax.stop_gradient(rate)
    k_before, k_window, k_times = jax.random.split(key, 3)
    before = jax.random.poisson(k_before, fixed * lo).astype(rate.dtype) if lo > 0 else 0.0
    arrivals = jax.random.poisson(k_window, fixed * (hi - lo))
    u = jax.random.uniform(k_times, (*rate.shape, capacity), dtype=rate.dtype)
    t = lo + (hi - lo) * u
    used = jnp.arange(capacity) < arrivals[..., None]
    g, dg, d2g = _parts(name, t, temperature)
    counted = (t < 1.0).astype(rate.dtype) if straight_through else g
    value = before + jnp.where(used, counted, 0.0).sum(-1)
    s1 = jnp.where(used, t * dg, 0.0).sum(-1)
    s2 = jnp.where(used, t * t * d2g, 0.0).sum(-1)
    safe = jnp.maximum(fixed, jnp.finfo(rate.dtype).tiny)
    slope = -s1 / safe
    curvature = (2.0 * s1 + s2) / safe**2
    if get_indicator(name).second_derivative is None:
        curvature = jnp.full_like(curvature, jnp.nan)
    # Overflow (more arrivals than slots), a rate that is NaN, infinite, negative or beyond
    # what the integer counts hold: NaN in the value and in every derivative, never a
    # truncated count or a finite, too small gradient.
    bad = (arrivals > capacity) | ~_drawable(rate)
    value, slope, curvature = (jnp.where(bad, jnp.nan, x) for x in (value, slope, curvature))
    return _first(rate, value, slope, curvature)


def _count_limit() -> float:
    """The largest rate whose Poisson counts the integer dtype of ``jax.random.poisson`` holds
    far from overflow: 2³⁰ with 32-bit integers (JAX's default), 2⁵³ with ``jax_enable_x64``."""
    return 2.0**53 if jax.config.jax_enable_x64 else 2.0**30


def _drawable(rate):
    """Rates a draw can use: finite, ≥ 0 and within :func:`_count_limit`."""
    return jnp.isfinite(rate) & (rate >= 0) & (rate <= _count_limit())


@partial(jax.jit, static_argnames=("temperature", "size", "straight_through"))
def _gsm(key, rate, temperature, size, straight_through):
    k = jnp.arange(size, dtype=rate.dtype)
    logits = k * jnp.log(jnp.maximum(rate, jnp.finfo(rate.dtype).tiny))[..., None]
    logits = logits - jax.scipy.special.gammaln(k + 1.0)
    noise = jax.random.gumbel(key, logits.shape, dtype=rate.dtype)
    weights = jax.nn.softmax((logits + noise) / temperature, axis=-1)
    soft = weights @ k
    if straight_through:
        hard = jnp.argmax(logits + noise, axis=-1).astype(rate.dtype)
        soft = soft + jax.lax.stop_gradient(hard - soft)
    return jnp.where(_drawable(rate), soft, jnp.nan)  # a NaN, infinite or negative rate: NaN


def relaxed_poisson(
    key,
    rate,
    temperature: float,
    method: str = DEFAULT_METHOD,
    *,
    capacity: int | None = None,
    straight_through: bool = False,
    support_size: int | None = None,
):
    """Relaxed Poisson counts z̃ ≈ Poisson(λ), differentiable in λ (JAX).

    Parameters
    ----------
    key : jax.random key
        PRNG key (``jax.random.key`` or ``PRNGKey``).
    rate : array
        λ ≥ 0 (counts per window), any shape, floating dtype.
    temperature : float
        τ > 0 (a Python float: it fixes the window, a static shape).
    method : str
        One of :data:`poissongrad.METHODS` (``"eat_cubic"``, …, ``"gsm"``).
    capacity : int, optional
        EAT: window slots per element (static). None: :func:`window_slots` of the largest
        rate, which needs a concrete ``rate`` (outside ``jit``/``grad``); pass it under
        transforms. An element with more window arrivals than slots gives NaN under
        ``jit``/``grad`` (value and gradient) and a ``ValueError`` naming the capacity that
        suffices outside them.
    straight_through : bool
        Forward hard counts, backward the relaxed gradient.
    support_size : int, optional
        GSM: K (static). None: :func:`gsm_support_size` of the largest (concrete) rate.

    Returns
    -------
    array
        Shaped like ``rate``. EAT: first and second derivatives in ``rate`` exact (custom JVP
        rules), third NaN; GSM: plain autodiff.
    """
    record = get_relaxation(method)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise ValueError(f"temperature must be a Python float > 0, got {temperature!r}")
    if not temperature > 0 or not math.isfinite(temperature):
        raise ValueError(f"temperature must be finite and > 0, got {temperature!r}")
    rate = jnp.asarray(rate)
    if not jnp.issubdtype(rate.dtype, jnp.floating):
        raise ValueError(f"rate must have a floating dtype, got {rate.dtype}")
    if record.softmax:
        size = support_size
        if size is None:
            size = _from_concrete(rate, "support_size", gsm_support_size)
        return _gsm(key, rate, float(temperature), int(size), bool(straight_through))
    slots = capacity
    if slots is None:
        slots = _from_concrete(rate, "capacity", lambda top: window_slots(top, temperature, method))
    if isinstance(slots, bool) or int(slots) < 1:
        raise ValueError(f"capacity must be a positive int, got {capacity!r}")
    if int(slots) * max(rate.size, 1) > MAX_SLOTS:
        raise ValueError(
            f"capacity {int(slots)} × {rate.size} rates would hold {int(slots) * rate.size:.3g} "
            f"window slots (limit {MAX_SLOTS:,}): lower the rates or the temperature, or draw "
            "in smaller batches"
        )
    value = _eat(key, rate, float(temperature), method, int(slots), bool(straight_through))
    if capacity is not None and not isinstance(value, jax.core.Tracer):
        _check_capacity(value, rate, int(slots), float(temperature), method)
    return value


def _check_capacity(value, rate, slots: int, temperature: float, method: str) -> None:
    """Outside jit/grad, a drawable rate whose window arrivals overflowed the ``slots`` is a
    ``ValueError`` naming the capacity that suffices (under a transform it stays NaN)."""
    overflow = jnp.isnan(value) & _drawable(rate)
    if bool(overflow.any()):
        top = float(jnp.max(jnp.where(_drawable(rate), rate, 0.0)))
        raise ValueError(
            f"capacity={slots} window slots were too few for {int(overflow.sum())} of "
            f"{rate.size} rates (largest drawable rate {top:.4g}, temperature {temperature}): "
            f"pass capacity >= window_slots({top:.4g}, {temperature}, {method!r}) = "
            f"{window_slots(top, temperature, method)}"
        )


def _from_concrete(rate, name: str, rule):
    """``rule(largest rate)`` where ``rate`` is concrete; ``ValueError`` under a transform."""
    try:
        top = float(jnp.max(rate)) if rate.size else 0.0
    except jax.errors.ConcretizationTypeError:
        raise ValueError(
            f"{name}=None reads the largest rate, which jit/grad/vmap cannot: pass {name}= "
            "(see poissongrad.jax.window_slots and gsm_support_size)"
        ) from None
    if not math.isfinite(top) or top < 0 or top > _count_limit():
        raise ValueError(
            f"rate must be finite, >= 0 and <= {_count_limit():.4g} (the integer counts' range; "
            f"2**53 with jax_enable_x64), got a largest value {top}"
        )
    return rule(top)
