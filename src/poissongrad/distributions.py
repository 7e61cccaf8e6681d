"""``RelaxedPoisson``: a ``torch.distributions.Distribution`` of relaxed, reparameterised counts."""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import Distribution, biject_to, constraints, transform_to, transforms
from torch.distributions.utils import lazy_property

from poissongrad.registry import DEFAULT_METHOD, REGISTRY
from poissongrad.samplers.moments import poisson_log_prob, relaxed_mean, relaxed_variance
from poissongrad.samplers.validation import (
    MAX_LOG_RATE,
    MAX_RATE,
    check_floating,
    check_method,
    check_temperature,
    is_hard,
)
from poissongrad.sampling import check_options, relaxed_poisson

__all__ = ["RelaxedPoisson"]


class _DrawableRate(constraints.Constraint):
    """Rates 0 ≤ λ ≤ 2⁵³ (``constraints.nonnegative`` lets +inf through, and Poisson counts are
    not drawable past 2⁵³). ``biject_to``/``transform_to`` map it from the reals by exp."""

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return torch.isfinite(value) & (value >= 0) & (value <= MAX_RATE)

    def __repr__(self) -> str:
        return "DrawableRate()"


class _DrawableLogRate(constraints.Constraint):
    """Log-rates log λ ≤ log 2⁵³ (−inf allowed: rate 0). ``biject_to`` maps it from the reals
    by −softplus shifted to that bound."""

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return ~torch.isnan(value) & (value <= MAX_LOG_RATE)

    def __repr__(self) -> str:
        return "DrawableLogRate()"


rate_constraint = _DrawableRate()
log_rate_constraint = _DrawableLogRate()


@biject_to.register(_DrawableRate)
@transform_to.register(_DrawableRate)
def _to_rate(constraint: _DrawableRate) -> transforms.Transform:
    return transforms.ExpTransform()


@biject_to.register(_DrawableLogRate)
@transform_to.register(_DrawableLogRate)
def _to_log_rate(constraint: _DrawableLogRate) -> transforms.Transform:
    return _UpperBoundTransform(MAX_LOG_RATE)


class _UpperBoundTransform(transforms.Transform):
    """x ↦ bound − softplus(bound − x): a bijection from the reals onto (−∞, bound)."""

    domain = constraints.real
    codomain = log_rate_constraint
    bijective = True
    sign = +1

    def __init__(self, bound: float, cache_size: int = 0) -> None:
        super().__init__(cache_size=cache_size)
        self.bound = bound

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _UpperBoundTransform) and other.bound == self.bound

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return self.bound - torch.nn.functional.softplus(self.bound - x)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        gap = self.bound - y  # softplus⁻¹(g) = g + log(−expm1(−g))
        return self.bound - (gap + torch.log(-torch.expm1(-gap)))

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.logsigmoid(self.bound - x)


class RelaxedPoisson(Distribution):
    r"""A Poisson(λ) distribution whose ``rsample`` draws a differentiable relaxation.

    Args:
        rate: λ ≥ 0, finite, shape = ``batch_shape``, floating dtype. Give this or ``log_rate``.
        log_rate: log λ (−inf allowed), instead of ``rate``.
        temperature: τ ≥ 0 (float), or a tensor of τ > 0 that broadcasts with the rates (a
            temperature per latent; the batch shape is the broadcast one). τ = 0 makes
            ``rsample`` return hard counts (no gradient).
        method: one of :data:`poissongrad.METHODS` (default ``"eat_cubic"``: unbiased mean).
        straight_through: ``rsample`` forwards hard integer counts, backwards the relaxed gradient.
        generator: optional ``torch.Generator`` used by ``rsample`` and ``sample``.
        validate_args: as in ``torch.distributions``.
        **options: method options, see :func:`poissongrad.relaxed_poisson`.

    Unlike ``torch.distributions.RelaxedBernoulli`` / ``RelaxedOneHotCategorical``, whose
    ``sample`` is relaxed and whose ``log_prob`` is the relaxed density, here:

    * ``sample()`` returns **exact hard Poisson counts** (no gradient);
    * ``log_prob(k)`` is the **Poisson log-pmf** (extended to real k ≥ 0 through lgamma, so
      relaxed counts may be scored too); the relaxation has no tractable density;
    * ``mean`` and ``variance`` are the moments **of the relaxation** at this temperature
      (closed form for EAT; GSM has none and raises ``NotImplementedError``). With
      ``straight_through`` an EAT forward value is an exact Poisson count, so both equal λ.

    The pathwise derivative is a derivative **in law**: ``rsample`` draws z̃ and, through its
    backward, E[∂z̃/∂λ | z̃] for the arrivals it drew (−T g'(T)/λ for an EAT arrival at T), which
    averages to dE[z̃]/dλ. At a fixed seed the draw itself does not move smoothly with λ (a
    finite difference of two draws at λ and λ + h is 0 almost everywhere, or jumps), so
    ``torch.autograd.gradcheck`` and fixed-seed finite differences do not apply: check
    gradients against the mean of many draws (``relaxed_mean``) or an exact oracle
    (:mod:`poissongrad.exact`). With τ = 0, ``has_rsample`` is False (hard counts, no gradient).

    Porting from the published classes (``EATPoisson``, ``GumbelSoftmaxPoisson``):
    ``indicator_approx`` → ``method`` (``"eat_sigmoid"``, ``"eat_cubic"``, …),
    ``temp`` → ``temperature``, ``n_exp`` → ``sampler="reference", n_exp=…`` (the default
    windowed sampler needs none and drops no arrival); the default indicator here is the cubic
    one (the paper's recommendation), not the sigmoid; and ``mean``/``variance`` here are the
    relaxation's moments, where the published Poisson-VAE code reads λ.

    No KL divergence is registered with ``torch.distributions.kl_divergence``: the relaxation
    has no density, and the KL of the two Poisson laws
    (:func:`poissongrad.samplers.moments.poisson_kl`)
    is not what a Monte-Carlo ELBO over relaxed samples estimates, so Pyro's
    ``TraceMeanField_ELBO`` falls back to the same Monte-Carlo term as ``Trace_ELBO``.
    ``arg_constraints`` are registered with ``biject_to``/``transform_to`` (``pyro.param`` with
    ``constraint=`` works): rates 0 ≤ λ ≤ 2⁵³, log-rates ≤ log 2⁵³.

    Example:
        >>> import torch, poissongrad as pg
        >>> rate = torch.tensor([0.5, 3.0], requires_grad=True)
        >>> d = pg.RelaxedPoisson(rate=rate, temperature=0.1)
        >>> d.rsample((4,)).shape
        torch.Size([4, 2])
    """

    arg_constraints = {"rate": rate_constraint, "log_rate": log_rate_constraint}
    support = constraints.nonnegative

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        """False at τ = 0: ``rsample`` then gives hard counts without a gradient, so a caller
        (Pyro's ELBO, say) must not treat the draw as reparameterised."""
        return not is_hard(self.temperature)

    def __init__(
        self,
        rate: torch.Tensor | float | None = None,
        temperature: float = 0.1,
        method: str = DEFAULT_METHOD,
        straight_through: bool = False,
        *,
        log_rate: torch.Tensor | float | None = None,
        generator: torch.Generator | None = None,
        validate_args: bool | None = None,
        **options: Any,
    ) -> None:
        if (rate is None) == (log_rate is None):
            raise ValueError("give exactly one of rate= or log_rate=")
        if rate is not None:
            self.rate = _as_tensor(rate)
            check_floating("rate", self.rate)
            batch_shape = self.rate.shape
        else:
            self.log_rate = _as_tensor(log_rate)
            check_floating("log_rate", self.log_rate)
            batch_shape = self.log_rate.shape
        self.temperature = check_temperature(temperature)
        if isinstance(self.temperature, torch.Tensor):  # a temperature per latent
            try:
                batch_shape = torch.broadcast_shapes(batch_shape, self.temperature.shape)
            except RuntimeError:
                raise ValueError(
                    f"temperature of shape {tuple(self.temperature.shape)} does not broadcast "
                    f"with the rates' shape {tuple(batch_shape)}"
                ) from None
            self.temperature = self.temperature.expand(batch_shape)
            if "rate" in self.__dict__:
                self.rate = self.rate.expand(batch_shape)
            else:
                self.log_rate = self.log_rate.expand(batch_shape)
        self.method = check_method(method)
        self.straight_through = bool(straight_through)
        self.options = check_options(method, dict(options))
        self.generator = generator
        super().__init__(batch_shape, validate_args=validate_args)

    @lazy_property
    def rate(self) -> torch.Tensor:
        return self.log_rate.exp()

    @lazy_property
    def log_rate(self) -> torch.Tensor:
        return self.rate.log()

    def expand(self, batch_shape: torch.Size, _instance: RelaxedPoisson | None = None):
        new = self._get_checked_instance(RelaxedPoisson, _instance)
        batch_shape = torch.Size(batch_shape)
        if "rate" in self.__dict__:
            new.rate = self.rate.expand(batch_shape)
        if "log_rate" in self.__dict__:
            new.log_rate = self.log_rate.expand(batch_shape)
        tau = self.temperature
        new.temperature = tau.expand(batch_shape) if isinstance(tau, torch.Tensor) else tau
        new.method = self.method
        new.straight_through = self.straight_through
        new.options = dict(self.options)
        new.generator = self.generator
        super(RelaxedPoisson, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> torch.Tensor:
        """Relaxed counts of shape (*sample_shape, *batch_shape), differentiable in the rate."""
        return relaxed_poisson(
            self.rate,
            self.temperature,
            self.method,
            sample_shape=sample_shape,
            straight_through=self.straight_through,
            generator=self.generator,
            validate_args=False,
            **self.options,
        )

    def sample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> torch.Tensor:
        """Exact hard Poisson counts of shape (*sample_shape, *batch_shape); no gradient."""
        shape = self._extended_shape(sample_shape)
        with torch.no_grad():
            return torch.poisson(self.rate.expand(shape), generator=self.generator)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Poisson log-pmf of ``value`` (hard or relaxed counts ≥ 0), broadcast with the batch.

        ``value`` has shape (*sample_shape, *batch_shape) or one that broadcasts to it in the
        trailing dimensions; with ``validate_args``, another shape or a negative/non-finite
        value raises ``ValueError`` (as torch's distributions do).
        """
        value = torch.as_tensor(value, dtype=self.rate.dtype, device=self.rate.device)
        if self._validate_args:
            if not bool((torch.isfinite(value) & (value >= 0)).all()):
                raise ValueError(f"log_prob expects finite counts >= 0, got {value}")
            self._validate_sample(value)  # shape: ValueError unless it broadcasts with the batch
        return poisson_log_prob(value, self.rate)

    @property
    def mode(self) -> torch.Tensor:
        """The most probable count of Poisson(λ), ⌊λ⌋ (as ``torch.distributions.Poisson``)."""
        return self.rate.floor()

    @property
    def mean(self) -> torch.Tensor:
        return self._moment(relaxed_mean)

    @property
    def variance(self) -> torch.Tensor:
        return self._moment(relaxed_variance)

    def _moment(self, moment) -> torch.Tensor:
        if self.straight_through and REGISTRY[self.method].arrival_times:
            return self.rate
        return moment(self.method, self.rate, self.temperature)

    def __repr__(self) -> str:
        return (
            f"RelaxedPoisson(batch_shape={tuple(self.batch_shape)}, temperature="
            f"{self.temperature}, method={self.method!r}, straight_through={self.straight_through})"
        )


def _as_tensor(x: torch.Tensor | float) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (int, float)):
        return torch.tensor(float(x))
    raise ValueError(f"expected a tensor or a number, got {type(x).__name__}")


