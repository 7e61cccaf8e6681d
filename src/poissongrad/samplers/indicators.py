"""Soft indicators g_τ(t) ≈ 1[t < 1] used by the Exponential Arrival Time (EAT) relaxations.

A relaxed Poisson count is z̃ = Σ_k g_τ(T_k) over the arrival times T_k of a rate-λ Poisson
process on [0, ∞). Every indicator here is a function of x = (1 − t)/τ:

* ``sigmoid``: g = σ(x) (infinite support; the P-VAE relaxation);
* ``linear``, ``cubic``, ``quintic``, ``cosine``: g = h(u) with u = clip((x + 1)/2, 0, 1) and a
  profile h rising from h(0) = 0 to h(1) = 1. Then g = 1 for t ≤ 1 − τ and g = 0 for t ≥ 1 + τ,
  so only arrivals inside the window [1 − τ, 1 + τ] are soft. ``cubic`` is the paper's cubic
  Hermite smoothstep 3u² − 2u³.

Every profile is point-symmetric (h(u) + h(1 − u) = 1), hence ∫₀^∞ g dt = 1 exactly for τ ≤ 1 and
the relaxed mean equals λ. Times t are in units of the counting window (the window is [0, 1]).

Examples
--------
>>> import torch
>>> cubic = get_indicator("cubic")
>>> cubic.value(torch.tensor([0.5, 1.0, 1.5]), 0.2)
tensor([1.0000, 0.5000, 0.0000])
>>> cubic.integral(0.2), round(cubic.integral_sq(0.35), 4)  # ∫g = 1, ∫g² = 1 − 9τ/35
(1.0, 0.91)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from numpy.polynomial import polynomial as npoly

__all__ = ["Indicator", "INDICATORS", "SIGMOID_CUTOFF", "get_indicator"]

#: For the sigmoid, arrivals with |1 − t| > SIGMOID_CUTOFF·τ are treated as hard (g = 1 or 0).
#: The error per arrival is at most σ(−20) ≈ 2.1e-9 in value and 2.1e-9/τ in derivative, below
#: float32 resolution.
SIGMOID_CUTOFF = 20.0


@dataclass(frozen=True)
class Indicator:
    """A soft indicator g_τ(t), its derivative in t, the window where it is soft, and moments.

    ``value``/``derivative`` take a tensor of times t (any shape, float) and τ > 0 and return a
    tensor of the same shape. ``window(τ)`` gives (lo, hi): g = 1 (to within the stated tolerance)
    for t ≤ lo and g = 0 for t ≥ hi. ``integral(τ)`` and ``integral_sq(τ)`` are ∫₀^∞ g dt and
    ∫₀^∞ g² dt (closed form), which give the relaxed mean λ∫g and variance λ∫g² (Campbell).
    """

    name: str
    value: Callable[[torch.Tensor, float], torch.Tensor]
    derivative: Callable[[torch.Tensor, float], torch.Tensor]
    window: Callable[[float], tuple[float, float]]
    integral: Callable[[float], float]
    integral_sq: Callable[[float], float]
    #: g''_τ(t), or None where g' jumps (then pathwise second derivatives miss delta terms).
    second_derivative: Callable[[torch.Tensor, float], torch.Tensor] | None = None
    #: How the fused CPU kernel (:mod:`poissongrad.samplers.fused`) evaluates it: ("polynomial",
    #: profile coefficients lowest degree first), ("cosine", ()) or ("sigmoid", ()); None
    #: keeps its draws on the torch path.
    fused: tuple[str, tuple[float, ...]] | None = None

    def window_terms(
        self, t: torch.Tensor, tau: float, second: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """g_τ(t), t·g'_τ(t) and (with ``second``) t²·g''_τ(t) for times t inside the window
        (the EAT sampler's hot path); ``ValueError`` for ``second`` without a second
        derivative."""
        curvature = None
        if second:
            if self.second_derivative is None:
                raise ValueError(f"the {self.name} indicator has no second derivative")
            curvature = self.second_derivative(t, tau).mul_(t).mul_(t)
        return self.value(t, tau), self.derivative(t, tau).mul_(t), curvature


# ---------------------------------------------------------------------------------------------
# sigmoid


def _sigmoid_value(t: torch.Tensor, tau: float) -> torch.Tensor:
    return torch.sigmoid((1.0 - t) / tau)


def _sigmoid_derivative(t: torch.Tensor, tau: float) -> torch.Tensor:
    s = torch.sigmoid((1.0 - t) / tau)
    return -s * (1.0 - s) / tau


def _softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _sigmoid_second_derivative(t: torch.Tensor, tau: float) -> torch.Tensor:
    s = torch.sigmoid((1.0 - t) / tau)
    return s * (1.0 - s) * (1.0 - 2.0 * s) / tau**2


def _sigmoid_integral(tau: float) -> float:
    return tau * _softplus(1.0 / tau)


def _sigmoid_integral_sq(tau: float) -> float:
    # σ² = σ − σ', so ∫_{−∞}^{1/τ} σ(x)² dx = softplus(1/τ) − σ(1/τ).
    return tau * (_softplus(1.0 / tau) - 1.0 / (1.0 + math.exp(-1.0 / tau)))


def _sigmoid_window(tau: float) -> tuple[float, float]:
    return 1.0 - SIGMOID_CUTOFF * tau, 1.0 + SIGMOID_CUTOFF * tau


SIGMOID = Indicator(
    "sigmoid",
    value=_sigmoid_value,
    derivative=_sigmoid_derivative,
    window=_sigmoid_window,
    integral=_sigmoid_integral,
    integral_sq=_sigmoid_integral_sq,
    second_derivative=_sigmoid_second_derivative,
    fused=("sigmoid", ()),
)


# ---------------------------------------------------------------------------------------------
# compact indicators g = h(u), u = clip((1 + τ − t) / (2τ), 0, 1)


@dataclass(frozen=True)
class CompactIndicator(Indicator):
    """A compact indicator g = h(u), u = (1 + τ − t)/(2τ), with its profile h and h'."""

    profile: Callable[[torch.Tensor], torch.Tensor] = lambda u: u
    profile_grad: Callable[[torch.Tensor], torch.Tensor] = torch.ones_like

    profile_hess: Callable[[torch.Tensor], torch.Tensor] | None = None

    def window_terms(
        self, t: torch.Tensor, tau: float, second: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        # Inside the window 0 ≤ u ≤ 1, so no clamping: u is computed once for every term.
        u = (1.0 + tau - t) / (2.0 * tau)
        curvature = None
        if second:
            if self.profile_hess is None:
                raise ValueError(f"the {self.name} indicator has no second derivative")
            curvature = self.profile_hess(u).mul_(t).mul_(t).mul_(0.25 / tau**2)
        return self.profile(u), self.profile_grad(u).mul_(t).mul_(-0.5 / tau), curvature


def _compact(
    name: str,
    profile: Callable[[torch.Tensor], torch.Tensor],
    profile_grad: Callable[[torch.Tensor], torch.Tensor],
    antiderivative: Callable[[float], float],
    antiderivative_sq: Callable[[float], float],
    profile_hess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    fused: tuple[str, tuple[float, ...]] | None = None,
) -> Indicator:
    def u_of(t: torch.Tensor, tau: float) -> torch.Tensor:
        return ((1.0 + tau - t) / (2.0 * tau)).clamp(0.0, 1.0)

    def value(t: torch.Tensor, tau: float) -> torch.Tensor:
        return profile(u_of(t, tau))

    def derivative(t: torch.Tensor, tau: float) -> torch.Tensor:
        raw = (1.0 + tau - t) / (2.0 * tau)
        inside = (raw > 0.0) & (raw < 1.0)
        return torch.where(inside, -profile_grad(raw.clamp(0.0, 1.0)) / (2.0 * tau), 0.0)

    def window(tau: float) -> tuple[float, float]:
        return 1.0 - tau, 1.0 + tau

    def u_at_zero(tau: float) -> float:
        return min(1.0, (1.0 + tau) / (2.0 * tau))

    # ∫₀^∞ g dt = (1 − τ)₊ + 2τ·H(u(0)); for τ ≤ 1 this is 1 − τ + 2τ·H(1) = 1.
    def integral(tau: float) -> float:
        return max(0.0, 1.0 - tau) + 2.0 * tau * antiderivative(u_at_zero(tau))

    def integral_sq(tau: float) -> float:
        return max(0.0, 1.0 - tau) + 2.0 * tau * antiderivative_sq(u_at_zero(tau))

    second = None
    if profile_hess is not None:

        def second(t: torch.Tensor, tau: float) -> torch.Tensor:
            raw = (1.0 + tau - t) / (2.0 * tau)
            inside = (raw > 0.0) & (raw < 1.0)
            return torch.where(inside, profile_hess(raw.clamp(0.0, 1.0)) / (4.0 * tau**2), 0.0)

    return CompactIndicator(
        name,
        value,
        derivative,
        window,
        integral,
        integral_sq,
        second,
        fused,
        profile=profile,
        profile_grad=profile_grad,
        profile_hess=profile_hess,
    )


def _polynomial(name: str, coefficients: list[float]) -> Indicator:
    """A compact indicator whose profile is a polynomial (coefficients lowest degree first)."""
    c = np.asarray(coefficients, dtype=np.float64)
    dc = npoly.polyder(c)
    big_h = npoly.polyint(c)
    big_h2 = npoly.polyint(npoly.polymul(c, c))

    def horner(coef: np.ndarray) -> Callable[[torch.Tensor], torch.Tensor]:
        # Python floats, fixed here: traced code (torch.compile) then sees constants.
        highest, *rest = (float(a) for a in coef[::-1])

        def f(u: torch.Tensor) -> torch.Tensor:
            out = torch.full_like(u, highest)
            for a in rest:
                out = out * u + a
            return out

        return f

    # g is C¹ (so pathwise second derivatives exist) when h' vanishes at both window edges.
    smooth = abs(npoly.polyval(0.0, dc)) < 1e-12 and abs(npoly.polyval(1.0, dc)) < 1e-12
    return _compact(
        name,
        horner(c),
        horner(dc),
        lambda u: float(npoly.polyval(u, big_h)),
        lambda u: float(npoly.polyval(u, big_h2)),
        horner(npoly.polyder(dc)) if smooth else None,
        ("polynomial", tuple(float(a) for a in c)),
    )


def _cosine_h(u: float) -> float:
    return 0.5 * (u - math.sin(math.pi * u) / math.pi)


def _cosine_h2(u: float) -> float:
    # ∫ ¼(1 − cos πu)² du = ¼(3u/2 − 2 sin(πu)/π + sin(2πu)/(4π)).
    s1 = math.sin(math.pi * u) / math.pi
    s2 = math.sin(2.0 * math.pi * u) / (4.0 * math.pi)
    return 0.25 * (1.5 * u - 2.0 * s1 + s2)


INDICATORS: dict[str, Indicator] = {
    "sigmoid": SIGMOID,
    "linear": _polynomial("linear", [0.0, 1.0]),
    "cubic": _polynomial("cubic", [0.0, 0.0, 3.0, -2.0]),
    "quintic": _polynomial("quintic", [0.0, 0.0, 0.0, 10.0, -15.0, 6.0]),
    "cosine": _compact(
        "cosine",
        lambda u: 0.5 * (1.0 - torch.cos(math.pi * u)),
        lambda u: 0.5 * math.pi * torch.sin(math.pi * u),
        _cosine_h,
        _cosine_h2,
        lambda u: 0.5 * math.pi**2 * torch.cos(math.pi * u),
        ("cosine", ()),
    ),
}


def get_indicator(name: str) -> Indicator:
    """Return the indicator called ``name`` (one of ``INDICATORS``); ``ValueError`` otherwise."""
    try:
        return INDICATORS[name]
    except KeyError:
        raise ValueError(
            f"unknown indicator {name!r}; expected one of {sorted(INDICATORS)}"
        ) from None
