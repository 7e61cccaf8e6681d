"""Fused CPU kernels (numba): one pass per element for Poisson counts, EAT and Poisson-GSM draws.

The torch samplers issue a chain of small tensor operations per call (two Poisson draws, a
running sum over arrivals, several passes over the window arrivals); below ~10⁴ elements a
fixed cost dominates, and on CPU ``torch.poisson`` runs on one thread. Here each element is one
iteration of a parallel loop (``numba.prange``, as many threads as torch uses) that draws
everything it needs and writes its results, with no intermediate tensors:

* :func:`poisson` — Poisson(μ) counts: inversion for μ < :data:`INVERSION_MEAN`, Hörmann's
  transformed rejection with squeeze (PTRS) above;
* :func:`eat` — the windowed EAT relaxation (z̃, ∂z̃/∂λ, ∂²z̃/∂λ²): N₀ ~ Poisson(λ·lo) arrivals
  that count 1, M ~ Poisson(λ(hi − lo)) uniform window arrivals through g_τ, g'_τ, g''_τ (the
  law of :func:`poissongrad.samplers.eat.eat_windowed`, which stays the reference it is tested
  against);
* :func:`poisson_gsm` — the Gumbel-softmax relaxation of a Poisson count over {0, …, K − 1}:
  z̃ = Σ k w_k with w = softmax((k log λ − log k! + G_k)/τ), and in the same single pass (a
  running softmax) its exact derivatives ∂z̃/∂λ = Var_w(k)/(τλ) and
  ∂²z̃/∂λ² = κ₃,w(k)/(τλ)² − Var_w(k)/(τλ²) (∂ℓ_k/∂λ = k/λ), so the backward keeps two numbers
  per element instead of a K-table, and the logits are float64 at every K.

Every kernel computes in float64 whatever the input dtype (float32 inputs are widened element
by element) and returns NaN, never a count, for a NaN, infinite or negative rate.

Random numbers come from a counter-based generator (SplitMix64 of a per-call seed and the
element's index and draw number), so results do not depend on the thread count and a
``torch.Generator`` seeds them reproducibly (one 63-bit draw per call). Everything is computed
in float64 and written in the output's dtype. Kernels compile at first use (cached on disk by
numba); :data:`AVAILABLE` is False when numba cannot be imported, and callers then use the
torch samplers. Unless ``NUMBA_THREADING_LAYER`` is set, numba runs on its "workqueue" layer,
which survives ``fork()`` (a child forked after a draw can draw); launches are serialised by a
lock, so several Python threads may call these at once.

Examples
--------
>>> import torch
>>> from poissongrad.samplers.fused import AVAILABLE, poisson
>>> counts = poisson(torch.full((5,), 3.0), torch.Generator().manual_seed(0)) if AVAILABLE else None
>>> counts is None or bool((counts == counts.round()).all())
True
"""

from __future__ import annotations

import importlib.util
import math
import os
import threading
import types
import warnings

import numpy as np
import torch

from poissongrad.samplers.validation import MAX_RATE

_LAUNCH = threading.Lock()
_SETUP = threading.Lock()
numba = None  # imported by the first kernel call (_numba): ``import poissongrad`` stays light
prange = range  # numba.prange once _numba() ran (the kernels only run compiled)

__all__ = [
    "AVAILABLE",
    "INVERSION_MEAN",
    "MAX_STEPS",
    "check_steps",
    "eat",
    "indicator_code",
    "poisson",
    "poisson_gsm",
]

#: Temperatures below this give the GSM's hard count (its τ → 0 limit in float64).
TINY_TAU = 1e-200
#: Whether the fused kernels can run (numba importable; it is imported on first use).
AVAILABLE = importlib.util.find_spec("numba") is not None
#: Means below this are drawn by inversion, at or above it by PTRS.
INVERSION_MEAN = 10.0

# Indicator kinds understood by the EAT kernel.
POLYNOMIAL, COSINE, SIGMOID = 0, 1, 2


#: The kernels to compile, in definition order: (name, with a parallel twin).
_KERNELS: list[tuple[str, bool]] = []


def _jit(function):
    """Mark a kernel for :func:`_numba` to compile (the name stays the Python function until
    then)."""
    _KERNELS.append((function.__name__, False))
    return function


def _pjit(function):
    """Mark a kernel whose outer loop is a ``prange``: :func:`_numba` binds its name to
    (serial, parallel) compilations."""
    _KERNELS.append((function.__name__, True))
    return function


def _numba():
    """numba, imported once, with every kernel of this module bound to its compiled
    dispatcher (kernels call each other through these module names, which numba resolves when
    it compiles). The parallel twin of a kernel compiles a copy under another name: numba's
    disk cache keys a function by its name and signature, not by ``parallel``, so one name
    would load the serial code for both."""
    global numba
    if numba is not None:
        return numba
    with _SETUP:
        if numba is not None:
            return numba
        import numba as loaded

        if "NUMBA_THREADING_LAYER" not in os.environ:
            # numba's "workqueue" threads survive fork() (GNU OpenMP's do not: a forked child
            # that draws would be terminated); it is not re-entrant, so launches hold _LAUNCH.
            loaded.config.THREADING_LAYER = "workqueue"
        names = globals()
        names["prange"] = loaded.prange
        for name, parallel in _KERNELS:
            function = names[name]
            serial = loaded.njit(cache=True, nogil=True, fastmath=False)(function)
            if parallel:
                twin = types.FunctionType(function.__code__, names, name + "_parallel")
                twin.__qualname__ = function.__qualname__ + "_parallel"
                names[name] = (serial, loaded.njit(cache=True, nogil=True, parallel=True)(twin))
            else:
                names[name] = serial
        numba = loaded
    return numba


#: Below this many elements a kernel runs on the calling thread (a thread-pool launch costs
#: more than it saves).
PARALLEL_MIN = 16_384


#: 1/k for the inversion walk (a multiplication instead of a division per step).
_RECIPROCALS = 1.0 / np.maximum(np.arange(64, dtype=np.float64), 1.0)


@_jit
def _bits(seed, element, draw):
    """64 random bits: SplitMix64 of (seed, element · 2³², draw)."""
    x = seed + (np.uint64(element) * np.uint64(4294967296) + np.uint64(draw)) * np.uint64(
        0x9E3779B97F4A7C15
    )
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@_jit
def _uniform(seed, element, draw):
    """A uniform in (0, 1) with 53 random bits."""
    return (float(_bits(seed, element, draw) >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)


def _exponential_ziggurat(layers: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Layer edges x_0 > x_1 > … > x_layers = 0 and f(x_i) = e^(−x_i) of the ziggurat of
    Exp(1) (Marsaglia and Tsang, 2000): equal-area layers, the base layer holding the tail."""
    r = 7.69711747013104972  # the edge of the base layer for 256 layers
    area = r * math.exp(-r) + math.exp(-r)  # each layer's area (rectangle + tail for the base)
    x = np.empty(layers + 1)
    x[0], x[1] = area / math.exp(-r), r
    for i in range(2, layers):
        x[i] = -math.log(area / x[i - 1] + math.exp(-x[i - 1]))
    x[layers] = 0.0
    return x, np.exp(-x)


_ZIGGURAT_X, _ZIGGURAT_F = _exponential_ziggurat()
#: Draw numbers of the ziggurat's rare extra uniforms start here (the first ones are the
#: categories' own).
_EXTRA = 1 << 31


@_jit
def _exponential(seed, element, draw, extra):
    """(Exp(1) variate, next extra draw number) by the ziggurat: one 64-bit draw ~99% of the
    time (8 bits pick the layer, 53 the position), extra draws for the edges and the tail."""
    bits = _bits(seed, element, draw)
    while True:
        layer = int(bits & np.uint64(255))
        u = (float(bits >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)
        x = u * _ZIGGURAT_X[layer]
        if x < _ZIGGURAT_X[layer + 1]:
            return x, extra
        if layer == 0:  # the tail beyond r, memoryless: r + Exp(1)
            v = _uniform(seed, element, extra)
            return _ZIGGURAT_X[1] - math.log(v), extra + 1
        v = _uniform(seed, element, extra)
        extra += 1
        f_lo, f_hi = _ZIGGURAT_F[layer], _ZIGGURAT_F[layer + 1]
        if f_hi + v * (f_lo - f_hi) < math.exp(-x):
            return x, extra
        bits = _bits(seed, element, extra)
        extra += 1


@_jit
def _poisson_one(mu, seed, element, draw):
    """(Poisson(mu) count, the next unused draw number); NaN for a NaN, infinite or negative
    mu (never a count, never a hang)."""
    if mu == 0.0:
        return 0.0, draw
    if not (mu > 0.0 and mu < math.inf):
        return math.nan, draw
    if mu < INVERSION_MEAN:
        u = _uniform(seed, element, draw)
        draw += 1
        p = math.exp(-mu)
        cdf = p
        k = 0
        while u > cdf:
            k += 1
            p *= mu * (_RECIPROCALS[k] if k < _RECIPROCALS.shape[0] else 1.0 / k)
            if p < 1e-18 * cdf:  # u beyond the float64 cdf (probability ~1e-16): stop here
                break
            cdf += p
        return float(k), draw
    # PTRS (Hörmann 1993): transformed rejection with squeeze.
    smu = math.sqrt(mu)
    b = 0.931 + 2.53 * smu
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    log_mu = math.log(mu)
    while True:
        u = _uniform(seed, element, draw) - 0.5
        v = _uniform(seed, element, draw + 1)
        draw += 2
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + mu + 0.43)
        if us >= 0.07 and v <= vr:
            return k, draw
        if k < 0.0 or (us < 0.013 and v > us):
            continue
        lhs = math.log(v) + math.log(inv_alpha) - math.log(a / (us * us) + b)
        if lhs <= _log_pmf_unnormalised(k, mu, log_mu):
            return k, draw


#: Above this mean, PTRS's acceptance test uses Stirling's series (see below).
STIRLING_MEAN = 1e9


@_jit
def _log_pmf_unnormalised(k, mu, log_mu):
    """−μ + k log μ − log k!, accurate at any μ: as written it subtracts numbers of size
    μ log μ (an absolute error of ~μ log μ · 2⁻⁵³, 7 at μ = 10¹⁵, enough to bias the draws),
    so above :data:`STIRLING_MEAN` it is (k − μ) − k log1p((k − μ)/μ) − ½ log(2πk) − 1/(12k)
    + 1/(360k³) (Stirling's series, error < 10⁻²⁰ there)."""
    if mu < STIRLING_MEAN or k < 10.0:
        return -mu + k * log_mu - math.lgamma(k + 1.0)
    d = k - mu
    return (
        d - k * math.log1p(d / mu) - 0.5 * math.log(2.0 * math.pi * k)
        - 1.0 / (12.0 * k) + 1.0 / (360.0 * k * k * k)
    )


@_pjit
def _poisson_kernel(mu, out, seed):
    for i in prange(mu.shape[0]):
        out[i] = _poisson_one(np.float64(mu[i]), seed, i, 0)[0]


@_jit
def _profile(w, kind, coefficients):
    """(h, h', h'') of an indicator's profile at w inside its window: the indicator is
    g_τ(t) = h((c − t)·k), with c = 1, k = 1/τ for the sigmoid and c = 1 + τ, k = 1/(2τ) for the
    compact ones (w then runs over [0, 1])."""
    if kind == SIGMOID:
        h = 1.0 / (1.0 + math.exp(-w))
        h1 = h * (1.0 - h)
        return h, h1, h1 * (1.0 - 2.0 * h)
    if kind == COSINE:
        return (
            0.5 * (1.0 - math.cos(math.pi * w)),
            0.5 * math.pi * math.sin(math.pi * w),
            0.5 * math.pi * math.pi * math.cos(math.pi * w),
        )
    n = coefficients.shape[0]
    h = coefficients[n - 1]
    h1 = 0.0
    h2 = 0.0
    for j in range(n - 2, -1, -1):  # Horner for h, h' and h'' together
        h2 = h2 * w + 2.0 * h1
        h1 = h1 * w + h
        h = h * w + coefficients[j]
    return h, h1, h2


@_jit
def _write(i, value, z, slope, curvature):
    """Element i of the three outputs set to ``value`` (NaN for a bad rate, 0 at λ = 0)."""
    z[i] = value
    slope[i] = value
    curvature[i] = value


@_pjit
def _eat_kernel(rate, tau, kind, coefficients, reach, straight, seed, z, slope, curvature):
    n = rate.shape[0]
    per_element = tau.shape[0] > 1
    for i in prange(n):
        lam = np.float64(rate[i])  # float() would keep a float32 input in float32
        t_i = np.float64(tau[i] if per_element else tau[0])
        if not (lam >= 0.0 and lam < math.inf):
            _write(i, math.nan, z, slope, curvature)
            continue
        lo = max(1.0 - reach * t_i, 0.0)
        hi = 1.0 + reach * t_i
        width = hi - lo
        count, draw = _poisson_one(lam * lo, seed, i, 0)
        m, draw = _poisson_one(lam * width, seed, i, draw)
        # g_τ(t) = h((c − t)·k): for t = lo + width·v, the profile's argument is a − b·v;
        # g' = −k·h' and g'' = k²·h'', so the scale k leaves the loop (no division per arrival).
        if kind == SIGMOID:
            k = 1.0 / t_i
            a = (1.0 - lo) * k
        else:
            k = 0.5 / t_i
            a = (1.0 + t_i - lo) * k
        b = width * k
        total = count
        s1 = 0.0  # Σ t·h'
        s2 = 0.0  # Σ t²·h''
        for j in range(int(m)):
            v = _uniform(seed, i, draw + j)
            t = lo + width * v
            h, h1, h2 = _profile(a - b * v, kind, coefficients)
            total += (1.0 if t < 1.0 else 0.0) if straight else h
            s1 += t * h1
            s2 += t * t * h2
        z[i] = total
        if m > 0.0:
            # ∂z̃/∂λ = −Σ t·g'/λ = k·s1/λ; ∂²z̃/∂λ² = (2Σ t·g' + Σ t²·g'')/λ²
            slope[i] = k * s1 / lam
            top = k * (k * s2 - 2.0 * s1)
            square = lam * lam
            if square > 0.0:
                curvature[i] = top / square
            else:  # λ² underflows below λ ≈ 1e-154: divide twice
                curvature[i] = top / lam / lam
        else:  # no window arrival: z̃ does not move with λ
            slope[i] = 0.0
            curvature[i] = 0.0


@_pjit
def _gsm_kernel(rate, tau, log_factorial, hard, seed, z, slope, curvature):
    n = rate.shape[0]
    size = log_factorial.shape[0]
    per_element = tau.shape[0] > 1
    for i in prange(n):
        lam = np.float64(rate[i])  # float() would keep a float32 input in float32
        t_i = np.float64(tau[i] if per_element else tau[0])
        if not (lam >= 0.0 and lam < math.inf):
            _write(i, math.nan, z, slope, curvature)
            continue
        if lam == 0.0:
            _write(i, 0.0, z, slope, curvature)
            continue
        # Below TINY_TAU the softmax is the argmax to float64 precision (and x/τ could
        # overflow): the weights are computed unscaled and the result is the hard count.
        divisor = t_i if t_i >= TINY_TAU else 1.0
        log_lam = math.log(lam)
        # One pass, O(1) memory: a running softmax (moments rescaled when the top logit grows).
        top = -math.inf
        best = 0
        m0 = 0.0
        m1 = 0.0
        m2 = 0.0
        m3 = 0.0
        extra = _EXTRA
        for k in range(size):
            exponential, extra = _exponential(seed, i, k, extra)
            y = (k * log_lam - log_factorial[k] - math.log(exponential)) / divisor  # G = −log E
            if y > top:
                scale = math.exp(top - y)
                m0 *= scale
                m1 *= scale
                m2 *= scale
                m3 *= scale
                top = y
                best = k
            if y - top < -60.0:  # weight below e^-60 of the largest: no effect in float64
                continue
            w = math.exp(y - top)
            m0 += w
            m1 += w * k
            m2 += w * k * k
            m3 += w * k * k * k
        mean = m1 / m0
        var = max(m2 / m0 - mean * mean, 0.0)
        third = m3 / m0 - 3.0 * mean * m2 / m0 + 2.0 * mean * mean * mean
        if t_i < TINY_TAU:
            z[i] = float(best)
            slope[i] = 0.0
            curvature[i] = 0.0
            continue
        z[i] = float(best) if hard else mean
        d = t_i * lam
        if d > 1e-100:
            slope[i] = var / d
            curvature[i] = third / d**2 - var / (t_i * lam * lam)
        else:  # (τλ)² would underflow to 0: divide factor by factor
            slope[i] = var / t_i / lam
            curvature[i] = third / t_i / lam / t_i / lam - var / t_i / lam / lam


def _launch(name: str, n: int, *args) -> None:
    """Run the kernel ``name`` over ``n`` elements: serially below :data:`PARALLEL_MIN`
    elements or on one thread, else in parallel on as many threads as torch uses, one launch
    at a time.

    A kernel's first call loads numba's disk cache; if that fails (a truncated or foreign cache
    file), the cache is dropped with one warning and the kernels compile in memory."""
    threads = max(1, min(torch.get_num_threads(), _numba().config.NUMBA_NUM_THREADS))
    serial, parallel = globals()[name]
    kernel = serial if n < PARALLEL_MIN or threads == 1 else parallel
    if kernel in _CALLED:  # (reading kernel.signatures costs ~12 µs a call)
        _run(kernel, kernel is parallel, threads, args)
        return
    try:
        _run(kernel, kernel is parallel, threads, args)
    except Exception as err:
        if not _drop_disk_cache(err):
            raise
        _run(kernel, kernel is parallel, threads, args)
    _CALLED.add(kernel)


#: Kernels that ran once in this process (their disk cache, if any, was read).
_CALLED: set = set()


def _run(kernel, parallel: bool, threads: int, args: tuple) -> None:
    if not parallel:
        kernel(*args)
        return
    with _LAUNCH:
        numba.set_num_threads(threads)
        kernel(*args)


def _drop_disk_cache(err: Exception) -> bool:
    """After a failed first call: stop every kernel of this module from reading numba's disk
    cache (one warning); False if that was done already (the error is then not the cache's)."""
    from numba.core.caching import NullCache

    dispatchers = [
        d
        for value in list(globals().values())
        for d in (value if isinstance(value, tuple) else (value,))
        if isinstance(d, numba.core.dispatcher.Dispatcher)
    ]
    if all(isinstance(d._cache, NullCache) for d in dispatchers):
        return False
    for d in dispatchers:
        d._cache = NullCache()
    warnings.warn(
        f"numba's disk cache of the fused kernels could not be read ({type(err).__name__}: "
        f"{err}); compiling them in memory for this process. Delete the folder "
        f"{os.path.dirname(__file__)}/__pycache__ to rebuild the cache.",
        RuntimeWarning,
        stacklevel=3,
    )
    return True


def _seed(generator: torch.Generator | None) -> np.uint64:
    return np.uint64(int(torch.randint(2**63 - 1, (), generator=generator)))


def _flat(x: torch.Tensor) -> np.ndarray:
    """A 1-D NumPy view (or copy) of ``x`` in float32 or float64 (the kernels' input dtypes;
    they compute in float64 and write in the input's dtype)."""
    x = x.detach().reshape(-1)
    if x.dtype not in (torch.float32, torch.float64):
        x = x.to(torch.float32)
    return x.contiguous().numpy()


def _as_like(like: torch.Tensor, *arrays: np.ndarray) -> tuple[torch.Tensor, ...]:
    out = tuple(torch.from_numpy(a).view(like.shape) for a in arrays)
    return out if out[0].dtype == like.dtype else tuple(t.to(like.dtype) for t in out)


def _taus(temperature: float | torch.Tensor, rate: torch.Tensor) -> np.ndarray:
    """One temperature, or one per rate (a tensor broadcast to ``rate``'s shape: a kernel
    reads one τ per element, never past the end); ``ValueError`` if it does not broadcast."""
    if isinstance(temperature, torch.Tensor) and temperature.numel() != 1:
        try:
            temperature = torch.broadcast_to(temperature.detach(), rate.shape)
        except RuntimeError:
            raise ValueError(
                f"temperature of shape {tuple(temperature.shape)} does not broadcast to the "
                f"rates' shape {tuple(rate.shape)}"
            ) from None
        return temperature.reshape(-1).to(torch.float64).contiguous().numpy()
    return np.array([float(temperature)])


#: Most elementary steps (window arrivals, GSM categories) one call may take: a bound on
#: time, not memory (the kernels hold O(1) per element): 10–90 ns a step, up to ~1.5 min.
MAX_STEPS = 2**30


def check_steps(steps: float, what: str) -> None:
    """``ValueError`` when a kernel call would take more than :data:`MAX_STEPS` steps."""
    if not 0 <= steps <= MAX_STEPS:  # also NaN
        raise ValueError(
            f"{what}: this call would take {steps:.3g} steps (limit {MAX_STEPS:,}, up to a "
            "minute); it holds O(1) values per rate, so the bound is on time: lower the "
            "rates, the temperature or the support size, or draw in smaller batches"
        )


def poisson(mu: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Poisson(μ) counts shaped like ``mu`` (CPU), in its dtype; no gradient.

    ``ValueError`` unless every μ is finite, ≥ 0 and ≤
    :data:`~poissongrad.samplers.validation.MAX_RATE`
    (the kernel itself returns NaN for such a μ, never a count).
    """
    flat = _flat(mu)
    bad = ~(np.isfinite(flat) & (flat >= 0) & (flat <= MAX_RATE))
    if bad.any():
        raise ValueError(
            f"mu must be finite, >= 0 and <= 2**53; found {flat[bad][:5].tolist()}"
        )
    out = np.empty_like(flat)
    _launch("_poisson_kernel", flat.size, flat, out, _seed(generator))
    return _as_like(mu, out)[0]


def indicator_code(indicator) -> tuple[int, np.ndarray, float] | None:
    """(kind, profile coefficients, window reach) of an indicator the EAT kernel evaluates, or
    None for one it does not know (its draws then stay on the torch path); remembered per
    indicator object."""
    known = _CODES.get(id(indicator))
    if known is not None and known[0] is indicator:
        return known[1]
    code = _indicator_code(indicator)
    _CODES[id(indicator)] = (indicator, code)
    return code


#: id(indicator) → (indicator, its code): the object is kept, so its id is never reused.
_CODES: dict[int, tuple] = {}


def _indicator_code(indicator) -> tuple[int, np.ndarray, float] | None:
    spec = getattr(indicator, "fused", None)
    if spec is None:
        return None
    kind, coefficients = spec
    code = {"polynomial": POLYNOMIAL, "cosine": COSINE, "sigmoid": SIGMOID}[kind]
    lo, _ = indicator.window(1.0)
    return code, np.asarray(coefficients, dtype=np.float64), 1.0 - lo


def eat(
    rate: torch.Tensor,
    temperature: float | torch.Tensor,
    indicator,
    straight_through: bool,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(z̃, ∂z̃/∂λ, ∂²z̃/∂λ²) of the windowed EAT relaxation, each shaped like ``rate`` (CPU).

    ``temperature``: a float or a tensor of ``rate``'s shape. ``indicator`` must have a
    :func:`indicator_code`. Straight-through forwards the hard count of the same arrivals.
    """
    kind, coefficients, reach = indicator_code(indicator)
    taus = _taus(temperature, rate)
    rates = _flat(rate)
    # A bound on time (the kernel holds O(1) per rate): the expected window arrivals.
    # Only finite rates ≥ 0 draw (the kernel returns NaN for the others): a negative rate
    # must not cancel a huge one in the sum (validation off), or the call would hang.
    widths = np.minimum(2.0 * reach * taus, 1.0 + reach * taus)
    drawn = rates.sum(dtype=np.float64, where=rates > 0) if widths.size == 1 else math.nan
    expected = float(drawn * widths[0]) if widths.size == 1 else math.nan
    if not math.isfinite(expected):  # a τ per rate, or infinite rates (they draw nothing)
        finite = np.where(np.isfinite(rates) & (rates > 0), rates, 0.0)
        expected = float(np.sum(finite * widths))
    check_steps(expected, f"fused eat: {expected:.3g} expected arrivals in the soft window")
    n = rates.size
    z, slope, curvature = np.empty_like(rates), np.empty_like(rates), np.empty_like(rates)
    _launch(
        "_eat_kernel", n, rates, taus, kind, coefficients, reach,
        bool(straight_through), _seed(generator), z, slope, curvature,
    )
    return _as_like(rate, z, slope, curvature)


def poisson_gsm(
    rate: torch.Tensor,
    temperature: float | torch.Tensor,
    support_size: int,
    hard: bool,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(z̃, ∂z̃/∂λ, ∂²z̃/∂λ²) of the Poisson Gumbel-softmax over K = ``support_size`` counts,
    each shaped like ``rate`` (CPU); ``hard`` forwards the argmax count (straight-through)."""
    rates = _flat(rate)
    n = rates.size
    check_steps(float(n) * support_size, f"fused gsm: {n} rates × {support_size} categories")
    z, slope, curvature = np.empty_like(rates), np.empty_like(rates), np.empty_like(rates)
    log_factorial = np.array([math.lgamma(k + 1.0) for k in range(int(support_size))])
    _launch(
        "_gsm_kernel", n, rates, _taus(temperature, rate), log_factorial, bool(hard),
        _seed(generator), z, slope, curvature,
    )
    return _as_like(rate, z, slope, curvature)
