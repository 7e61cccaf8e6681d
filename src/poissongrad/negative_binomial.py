"""``RelaxedNegativeBinomial``: over-dispersed relaxed counts, parameterised like torch's.

NB(r, p) (``total_count`` r, ``probs`` p or ``logits`` log(p/(1 − p)), as
``torch.distributions.NegativeBinomial``) is the Gamma–Poisson mixture z ~ Poisson(λ),
λ ~ Gamma(r, rate (1 − p)/p): mean r·p/(1 − p), variance mean/(1 − p). Relaxations:

* EAT (any ``eat_*`` method): a reparameterised Gamma rate, then the windowed EAT sampler. By
  Campbell's theorem given λ and the law of total variance, E z̃ = E[λ]·∫g and
  Var z̃ = E[λ]·∫g² + Var[λ]·(∫g)², so EAT-cubic (τ ≤ 1) keeps the mean exactly and adds the
  Gamma variance to the Poisson relaxation's averaged variance.
* GSM on the NB log-pmf over a truncated support (``gsm_variant="pmf"``, default; K fixed or
  chosen from the tail mass of the largest mean), or through the mixture (``"mixture"``: Gamma
  rate, then the Poisson GSM), the paper's second variant. GSM has no closed-form moments.

Examples
--------
>>> import torch
>>> d = RelaxedNegativeBinomial(torch.tensor([2.0, 5.0]), probs=torch.tensor([0.5, 0.8]),
...                             temperature=0.2)
>>> d.mean  # exact for EAT-cubic: r·p/(1 − p)
tensor([ 2., 20.])
>>> d.rsample((3,)).shape
torch.Size([3, 2])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.distributions import Distribution, Gamma, NegativeBinomial, constraints

from poissongrad.registry import DEFAULT_METHOD, REGISTRY, get_relaxation
from poissongrad.samplers.gsm import GSM_TAIL_MASS, gumbel_softmax_counts
from poissongrad.samplers.indicators import get_indicator
from poissongrad.samplers.validation import (
    check_temperature,
    check_work,
    compute_dtype,
    is_hard,
    refuse_trace,
)
from poissongrad.sampling import check_options, relaxed_poisson

__all__ = ["RelaxedNegativeBinomial", "negative_binomial_logits"]

_VARIANTS = ("pmf", "mixture")


def negative_binomial_logits(
    total_count: torch.Tensor, logits: torch.Tensor, support_size: int
) -> torch.Tensor:
    """NB log-pmf on {0, …, K − 1} up to a constant per element, relative to its maximum.

    ℓ_k = log Γ(k + r) − log Γ(k + 1) + k·log p; subtracting the largest ℓ keeps float32
    precision for large counts. Shapes: r and logits broadcast to (*B); returns (*B, K),
    differentiable in both.
    """
    r, logit = torch.broadcast_tensors(total_count, logits)
    k = torch.arange(support_size, dtype=r.dtype, device=r.device)
    log_p = torch.nn.functional.logsigmoid(logit).unsqueeze(-1)
    # r = 0 is the point mass at 0: log Γ(k + r) − log Γ(r) → 0 at k = 0 and −∞ beyond, so
    # that law gets the logits (0, −∞, …) instead of ∞ − ∞.
    degenerate = (r == 0).unsqueeze(-1)
    safe_r = torch.where(degenerate, torch.ones_like(r.unsqueeze(-1)), r.unsqueeze(-1))
    ell = torch.lgamma(k + safe_r) - torch.lgamma(k + 1.0) + k * log_p
    ell = ell - ell.detach().amax(-1, keepdim=True)
    point_mass = torch.where(k == 0, 0.0, -torch.inf).to(ell.dtype)
    return torch.where(degenerate, point_mass, ell)


class RelaxedNegativeBinomial(Distribution):
    """A negative binomial whose ``rsample`` draws a differentiable relaxation.

    Args:
        total_count: r ≥ 0 (tensor or number), as in ``torch.distributions.NegativeBinomial``
            (r = 0 is the point mass at 0).
        probs, logits: p ∈ [0, 1) or log(p/(1 − p)); give exactly one.
        temperature: τ ≥ 0; τ = 0 makes ``rsample`` return hard counts (no gradient).
        method: one of :data:`poissongrad.METHODS` (EAT through the Gamma mixture, or GSM).
        straight_through: forward exact counts, backward the relaxed gradient.
        gsm_variant: ``"pmf"`` (GSM on the NB log-pmf) or ``"mixture"`` (Gamma, then Poisson
            GSM).
        generator: optional ``torch.Generator`` for every draw (the Gamma draw is seeded from
            it, so runs are reproducible).
        validate_args: as in ``torch.distributions``.
        **options: method options of :func:`poissongrad.relaxed_poisson` (``support_size``,
            ``tail_mass`` for GSM; ``sampler`` … for EAT).

    ``sample()`` gives exact NB counts, ``log_prob`` is the NB log-pmf (real values ≥ 0 allowed
    through lgamma), ``mean``/``variance`` are the relaxation's (closed form for EAT; exact NB
    moments for straight-through EAT, whose forward counts are exact; GSM raises
    ``NotImplementedError``). Differentiable in ``total_count`` and ``probs``/``logits``.
    """

    arg_constraints = {
        "total_count": constraints.greater_than_eq(0.0),
        "probs": constraints.half_open_interval(0.0, 1.0),
        "logits": constraints.real,
    }
    support = constraints.nonnegative

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        """False at τ = 0: ``rsample`` then gives hard counts without a gradient, so a caller
        (Pyro's ELBO, say) must not treat the draw as reparameterised."""
        return not is_hard(self.temperature)

    def __init__(
        self,
        total_count: torch.Tensor | float,
        probs: torch.Tensor | float | None = None,
        logits: torch.Tensor | float | None = None,
        temperature: float = 0.1,
        method: str = DEFAULT_METHOD,
        straight_through: bool = False,
        *,
        gsm_variant: str = "pmf",
        generator: torch.Generator | None = None,
        validate_args: bool | None = None,
        **options: Any,
    ) -> None:
        self._law = NegativeBinomial(total_count, probs, logits, validate_args=validate_args)
        self.temperature = check_temperature(temperature)
        self.method = get_relaxation(method).name
        if gsm_variant not in _VARIANTS:
            raise ValueError(f"gsm_variant must be one of {_VARIANTS}, got {gsm_variant!r}")
        self.gsm_variant = gsm_variant
        self.straight_through = bool(straight_through)
        self.options = check_options(method, dict(options))
        self.generator = generator
        super().__init__(self._law.batch_shape, validate_args=False)
        self._validate_args = self._law._validate_args

    @property
    def total_count(self) -> torch.Tensor:
        return self._law.total_count

    @property
    def probs(self) -> torch.Tensor:
        return self._law.probs

    @property
    def logits(self) -> torch.Tensor:
        return self._law.logits

    def expand(self, batch_shape: torch.Size, _instance=None) -> RelaxedNegativeBinomial:
        new = self._get_checked_instance(RelaxedNegativeBinomial, _instance)
        new._law = self._law.expand(batch_shape)
        for name in ("temperature", "method", "gsm_variant", "straight_through", "generator"):
            setattr(new, name, getattr(self, name))
        new.options = dict(self.options)
        super(RelaxedNegativeBinomial, new).__init__(new._law.batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def mixing_rate(self, shape: torch.Size | tuple[int, ...] = ()) -> torch.Tensor:
        """Reparameterised λ ~ Gamma(r, (1 − p)/p), shape (*shape, *batch_shape), seeded from
        the generator: given λ the count is Poisson(λ), so any Poisson estimator applied to λ
        (and the pathwise gradient of λ) estimates the negative binomial's gradient."""
        shape = torch.Size(shape)
        # Drawn in float32 for half-precision parameters (torch has no half Gamma sampler, and
        # its half uniforms are coarse), like every other draw here; r = 0 gives λ = 0.
        work = compute_dtype(self.total_count.dtype)
        r, logits = self.total_count.to(work), self.logits.to(work)
        degenerate = r == 0
        gamma = Gamma(
            torch.where(degenerate, torch.ones_like(r), r), torch.exp(-logits), validate_args=False
        )
        device = self.total_count.device
        if self.generator is None:
            rate = gamma.rsample(shape)
        else:
            seed = int(torch.randint(2**62, (), generator=self.generator, device=device))
            devices = [device] if device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(seed)
                rate = gamma.rsample(shape)
        return rate.masked_fill(degenerate, 0.0)

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> torch.Tensor:
        """Relaxed counts (*sample_shape, *batch_shape), differentiable in r and p."""
        shape = torch.Size(sample_shape)
        record = REGISTRY[self.method]
        if self.temperature == 0:
            return self.sample(shape)
        if record.softmax and self.gsm_variant == "pmf":
            r = self.total_count.expand(self._extended_shape(shape))
            logits = self.logits.expand(self._extended_shape(shape))
            size = self.options.get("support_size", "auto")
            if size == "auto":
                size = self._auto_support(self.options.get("tail_mass", GSM_TAIL_MASS))
            work = compute_dtype(r.dtype)
            ell = negative_binomial_logits(r.to(work), logits.to(work), size)
            return gumbel_softmax_counts(
                ell, self.temperature, hard=self.straight_through, generator=self.generator
            ).to(r.dtype)
        rate = self.mixing_rate(shape)
        return relaxed_poisson(
            rate,
            self.temperature,
            self.method,
            straight_through=self.straight_through,
            generator=self.generator,
            validate_args=False,
            **self.options,
        ).to(self.total_count.dtype)

    def _auto_support(self, tail_mass: float) -> int:
        """Smallest K with NB tail mass ≤ ``tail_mass`` for every element (one host sync)."""
        from scipy import stats  # imported on first use: a light `import poissongrad`
        refuse_trace("support_size='auto'")
        r = self.total_count.detach().double().cpu().numpy()
        p = self.probs.detach().double().cpu().numpy()
        # r = 0 is the point mass at 0 (scipy's quantile is NaN there).
        tail = stats.nbinom.ppf(1.0 - tail_mass, np.maximum(r, 1e-300), 1 - p)
        quantile = np.where(r > 0, tail, 0)
        size = float(quantile.max()) + 1 if quantile.size else 1.0
        check_work(size * max(quantile.size, 1), f"gsm: a negative-binomial support of {size:.3g}")
        return int(size)

    def sample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> torch.Tensor:
        """Exact negative-binomial counts (*sample_shape, *batch_shape); no gradient."""
        with torch.no_grad():
            rate = self.mixing_rate(torch.Size(sample_shape))
            return torch.poisson(rate, generator=self.generator).to(self.total_count.dtype)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """NB log-pmf of ``value`` (counts ≥ 0, real values through lgamma), with the batch."""
        value = torch.as_tensor(value, dtype=self.total_count.dtype, device=self.total_count.device)
        if self._validate_args:
            if not bool((torch.isfinite(value) & (value >= 0)).all()):
                raise ValueError(f"log_prob expects finite counts >= 0, got {value}")
            self._validate_sample(value)
        r, logits = self.total_count, self.logits
        degenerate = r == 0  # the point mass at 0 (log Γ(k + r) − log Γ(r) would be ∞ − ∞)
        r = torch.where(degenerate, torch.ones_like(r), r)
        log_norm = torch.lgamma(value + r) - torch.lgamma(value + 1.0) - torch.lgamma(r)
        log_p = (
            log_norm
            + r * torch.nn.functional.logsigmoid(-logits)
            + value * (torch.nn.functional.logsigmoid(logits))
        )
        point_mass = torch.where(value == 0, 0.0, -torch.inf).to(log_p.dtype)
        return torch.where(degenerate, point_mass, log_p)

    def _moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        record = REGISTRY[self.method]
        rate_mean = self._law.mean
        rate_var = rate_mean * self.probs / (1.0 - self.probs)  # Var λ = r p²/(1 − p)²
        if self.temperature == 0 or (self.straight_through and record.arrival_times):
            return rate_mean, self._law.variance
        if not record.arrival_times:
            raise NotImplementedError(
                "the Gumbel-softmax relaxation has no closed-form moments; estimate them by "
                "sampling"
            )
        indicator = get_indicator(record.indicator)
        g1, g2 = indicator.integral(self.temperature), indicator.integral_sq(self.temperature)
        return rate_mean * g1, rate_mean * g2 + rate_var * g1**2

    @property
    def mode(self) -> torch.Tensor:
        """The most probable count of the negative binomial (as torch's ``NegativeBinomial``)."""
        return self._law.mode

    @property
    def mean(self) -> torch.Tensor:
        return self._moments()[0]

    @property
    def variance(self) -> torch.Tensor:
        return self._moments()[1]

    def __repr__(self) -> str:
        return (
            f"RelaxedNegativeBinomial(batch_shape={tuple(self.batch_shape)}, temperature="
            f"{self.temperature}, method={self.method!r}, straight_through={self.straight_through})"
        )
