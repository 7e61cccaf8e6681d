"""``RelaxedPoisson``: a ``torch.distributions.Distribution`` of relaxed, reparameterised counts."""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import Distribution, Poisson, constraints, register_kl
from torch.distributions.utils import lazy_property

from poissongrad.moments import poisson_kl, poisson_log_prob, relaxed_mean, relaxed_variance
from poissongrad.registry import REGISTRY
from poissongrad.sampling import check_options, relaxed_poisson
from poissongrad.validation import check_floating, check_method, check_temperature

__all__ = ["RelaxedPoisson"]


class _FiniteNonNegative(constraints.Constraint):
    """Finite values ≥ 0 (``constraints.nonnegative`` lets +inf through)."""

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return torch.isfinite(value) & (value >= 0)

    def __repr__(self) -> str:
        return "FiniteNonNegative()"


class _BelowInfinity(constraints.Constraint):
    """Real values < +inf (−inf allowed: a log-rate of −inf is rate 0)."""

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return ~torch.isnan(value) & (value < float("inf"))

    def __repr__(self) -> str:
        return "BelowInfinity()"


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

    Example:
        >>> import torch, poissongrad as pg
        >>> rate = torch.tensor([0.5, 3.0], requires_grad=True)
        >>> d = pg.RelaxedPoisson(rate=rate, temperature=0.1)
        >>> d.rsample((4,)).shape
        torch.Size([4, 2])
    """

    arg_constraints = {"rate": _FiniteNonNegative(), "log_rate": _BelowInfinity()}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(
        self,
        rate: torch.Tensor | float | None = None,
        temperature: float = 0.1,
        method: str = "eat_cubic",
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
        if self.straight_through and REGISTRY[self.method].family == "eat":
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


@register_kl(RelaxedPoisson, Poisson)
def _kl_relaxed_poisson(p: RelaxedPoisson, q: Poisson) -> torch.Tensor:
    return poisson_kl(p.rate, q.rate)


@register_kl(RelaxedPoisson, RelaxedPoisson)
def _kl_relaxed_relaxed(p: RelaxedPoisson, q: RelaxedPoisson) -> torch.Tensor:
    return poisson_kl(p.rate, q.rate)


@register_kl(Poisson, RelaxedPoisson)
def _kl_poisson_relaxed(p: Poisson, q: RelaxedPoisson) -> torch.Tensor:
    return poisson_kl(p.rate, q.rate)
