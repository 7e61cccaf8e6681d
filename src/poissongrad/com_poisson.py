"""``RelaxedCOMPoisson``: under- and over-dispersed relaxed counts by Gumbel-softmax.

The Conway–Maxwell–Poisson law p(k) ∝ λ^k / (k!)^ν (ν > 1: under-dispersed, ν < 1:
over-dispersed, ν = 1: Poisson) has no arrival-process construction, so only GSM relaxes it: the
log-pmf k·log λ − ν·log k! on a truncated support {0, …, K − 1}, normalised (float32 keeps its
precision at large rates). K is fixed or chosen so that the mass left out is below ``tail_mass``
(checked against the normaliser summed far into the tail, :func:`com_poisson_log_pmf`).
Asking for an EAT method is an error that says why.

Examples
--------
>>> import torch
>>> d = RelaxedCOMPoisson(torch.tensor([4.0]), nu=torch.tensor([2.0]), temperature=0.1)
>>> round(float(d.mean_exact[0]), 3), round(float(d.variance_exact[0]), 3)  # under-dispersed
(1.727, 1.017)
>>> d.rsample((5,)).shape
torch.Size([5, 1])
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import Distribution, constraints

from poissongrad.registry import get_relaxation
from poissongrad.samplers.gsm import (
    GSM_TAIL_MASS,
    gumbel_max_counts,
    gumbel_softmax_counts,
    pmf_moments,
    table_log_prob,
)
from poissongrad.samplers.validation import check_temperature, is_hard, refuse_trace
from poissongrad.sampling import check_options

__all__ = ["RelaxedCOMPoisson", "com_poisson_log_pmf", "com_poisson_support_size"]

_SERIES_LIMIT = 100_000


def _series_length(rate: torch.Tensor, nu: torch.Tensor) -> int:
    """Terms needed for the normaliser: far beyond the mode λ^{1/ν} (one host sync)."""
    refuse_trace("the COM-Poisson normaliser's length")
    mode = float((rate.detach().clamp_min(0) ** (1.0 / nu.detach())).max()) if rate.numel() else 0.0
    spread = (mode + 1.0) ** 0.5 / float(nu.detach().min()) ** 0.5
    length = mode + 40.0 * spread + 50.0
    if not length <= _SERIES_LIMIT:  # never a silent truncation of the law
        raise ValueError(
            f"COM-Poisson with mode λ^(1/ν) up to {mode:.4g} needs {length:.3g} terms for its "
            f"normaliser, more than the {_SERIES_LIMIT:,} this class sums; its counts cannot "
            "be tabulated (use a smaller rate or a larger ν)"
        )
    return int(length)


def com_poisson_log_pmf(
    rate: torch.Tensor, nu: torch.Tensor, support_size: int | None = None
) -> torch.Tensor:
    """Normalised log p(k), k = 0 … K − 1, of COM-Poisson(λ, ν), shape (*B, K).

    The normaliser is summed over a support far into the tail (terms below e^-700 of the
    largest), so it is exact to float precision; ``support_size`` K (default: that long support)
    only cuts the returned table. Differentiable in ``rate`` and ``nu``.
    """
    rate, nu = torch.broadcast_tensors(rate, nu)
    length = max(_series_length(rate, nu), support_size or 0)
    k = torch.arange(length, dtype=rate.dtype, device=rate.device)
    log_rate = rate.clamp_min(torch.finfo(rate.dtype).tiny).log().unsqueeze(-1)
    ell = k * log_rate - nu.unsqueeze(-1) * torch.lgamma(k + 1.0)
    log_pmf = ell - torch.logsumexp(ell, -1, keepdim=True)
    return log_pmf if support_size is None else log_pmf[..., :support_size]


def com_poisson_support_size(
    rate: torch.Tensor, nu: torch.Tensor, tail_mass: float = GSM_TAIL_MASS
) -> int:
    """Smallest K with P(k ≥ K) ≤ ``tail_mass`` for every element (one host sync)."""
    with torch.no_grad():
        cdf = com_poisson_log_pmf(rate.double(), nu.double()).exp().cumsum(-1)
        enough = (cdf >= 1.0 - tail_mass).all(dim=tuple(range(cdf.dim() - 1)))
    return int(enough.nonzero()[0]) + 1 if bool(enough.any()) else cdf.shape[-1]


class RelaxedCOMPoisson(Distribution):
    """COM-Poisson(λ, ν) counts with a Gumbel-softmax ``rsample``.

    Args:
        rate: λ > 0; nu: ν > 0 (tensors or numbers that broadcast).
        temperature: τ ≥ 0; τ = 0 makes ``rsample`` return hard counts.
        method: ``"gsm"`` (the only relaxation of this law).
        straight_through: forward the Gumbel-max count (an exact draw of the truncated law).
        support_size: int K or ``"auto"`` (mass outside ≤ ``tail_mass``).
        generator, validate_args: as in :class:`poissongrad.RelaxedPoisson`.

    ``mean_exact``/``variance_exact`` are the law's moments (from the long series); the
    relaxation itself has no closed-form moments.
    """

    arg_constraints = {"rate": constraints.positive, "nu": constraints.positive}
    support = constraints.nonnegative

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        """False at τ = 0: ``rsample`` then gives hard counts without a gradient, so a caller
        (Pyro's ELBO, say) must not treat the draw as reparameterised."""
        return not is_hard(self.temperature)

    def __init__(
        self,
        rate: torch.Tensor | float,
        nu: torch.Tensor | float,
        temperature: float = 0.1,
        method: str = "gsm",
        straight_through: bool = False,
        *,
        support_size: int | str = "auto",
        tail_mass: float = GSM_TAIL_MASS,
        generator: torch.Generator | None = None,
        validate_args: bool | None = None,
        **options: Any,
    ) -> None:
        record = get_relaxation(method)
        if not record.softmax:
            raise ValueError(
                f"{method!r} cannot relax a COM-Poisson law: EAT simulates the arrivals of a "
                "Poisson process (or of a Gamma mixture of one), and COM-Poisson counts are "
                "neither; use method='gsm'"
            )
        if options:
            raise ValueError(f"unknown options {sorted(options)} for RelaxedCOMPoisson")
        check_options("gsm", {"support_size": support_size, "tail_mass": tail_mass})
        self.rate, self.nu = torch.broadcast_tensors(torch.as_tensor(rate), torch.as_tensor(nu))
        if not self.rate.dtype.is_floating_point:
            self.rate, self.nu = self.rate.float(), self.nu.float()
        self.temperature = check_temperature(temperature)
        self.method = record.name
        self.straight_through = bool(straight_through)
        self.support_size, self.tail_mass = support_size, tail_mass
        self.generator = generator
        super().__init__(self.rate.shape, validate_args=validate_args)

    def _size(self) -> int:
        if self.support_size == "auto":
            return com_poisson_support_size(self.rate, self.nu, self.tail_mass)
        return self.support_size

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> torch.Tensor:
        """Relaxed counts (*sample_shape, *batch_shape), differentiable in λ and ν."""
        shape = self._extended_shape(torch.Size(sample_shape))
        ell = com_poisson_log_pmf(self.rate, self.nu, self._size()).expand(*shape, -1)
        if self.temperature == 0:
            return self.sample(sample_shape)
        return gumbel_softmax_counts(
            ell, self.temperature, hard=self.straight_through, generator=self.generator
        )

    def sample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> torch.Tensor:
        """Exact counts of the law truncated at K (Gumbel-max); no gradient."""
        shape = self._extended_shape(torch.Size(sample_shape))
        ell = com_poisson_log_pmf(self.rate, self.nu, self._size())
        return gumbel_max_counts(ell.expand(*shape, -1), self.generator)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """log p(value) of the law for counts ≥ 0, interpolated between neighbouring counts for
        a relaxed value (:func:`~poissongrad.samplers.gsm.table_log_prob`), with the batch."""
        value = torch.as_tensor(value, dtype=self.rate.dtype, device=self.rate.device)
        if self._validate_args:
            if not bool((torch.isfinite(value) & (value >= 0)).all()):
                raise ValueError(f"log_prob expects finite values >= 0, got {value}")
            self._validate_sample(value)
        return table_log_prob(com_poisson_log_pmf(self.rate, self.nu), value, self.batch_shape)

    def expand(self, batch_shape: torch.Size, _instance=None) -> RelaxedCOMPoisson:
        new = self._get_checked_instance(RelaxedCOMPoisson, _instance)
        batch_shape = torch.Size(batch_shape)
        new.rate, new.nu = self.rate.expand(batch_shape), self.nu.expand(batch_shape)
        for name in ("temperature", "method", "straight_through", "support_size", "tail_mass"):
            setattr(new, name, getattr(self, name))
        new.generator = self.generator
        super(RelaxedCOMPoisson, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mode(self) -> torch.Tensor:
        """The most probable count of the law."""
        return com_poisson_log_pmf(self.rate, self.nu).argmax(-1).to(self.rate.dtype)

    @property
    def mean_exact(self) -> torch.Tensor:
        """E k of the COM-Poisson law."""
        return pmf_moments(com_poisson_log_pmf(self.rate, self.nu))[0]

    @property
    def variance_exact(self) -> torch.Tensor:
        """Var k of the COM-Poisson law."""
        return pmf_moments(com_poisson_log_pmf(self.rate, self.nu))[1]

    @property
    def mean(self) -> torch.Tensor:
        if self.temperature == 0:
            return self.mean_exact
        raise NotImplementedError("the Gumbel-softmax relaxation has no closed-form moments")

    @property
    def variance(self) -> torch.Tensor:
        if self.temperature == 0:
            return self.variance_exact
        raise NotImplementedError("the Gumbel-softmax relaxation has no closed-form moments")
