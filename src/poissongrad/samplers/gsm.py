"""Gumbel-SoftMax (GSM) relaxation of a count over a truncated support {0, …, K − 1}.

The relaxed count is z̃ = Σ_k k·w_k with w = softmax((ℓ + G)/τ), ℓ the log-pmf on the support
(up to a constant) and G_k iid Gumbel(0, 1). :func:`gumbel_softmax_counts` takes any logits, so
another count law (negative binomial, COM-Poisson) plugs in by supplying its own log-pmf; the
Poisson one is :func:`poisson_logits`. Cost and memory are O(K·numel).

Examples
--------
>>> import torch
>>> rate = torch.tensor([3.0])
>>> auto_support_size(rate)  # covers all but 1e-6 of Poisson(3)
15
>>> z = gumbel_softmax_counts(poisson_logits(rate, 15), 0.1, hard=True)
>>> bool(z == z.round())
True
"""

from __future__ import annotations

import math

import torch

import poissongrad.samplers.fused as fused
from poissongrad.samplers.eat import _WindowedEAT
from poissongrad.samplers.validation import (
    check_temperature,
    check_work,
    is_hard,
    refuse_nested_forward_mode,
    refuse_trace,
)
from poissongrad.utils.autograd import apply

__all__ = [
    "GSM_TAIL_MASS",
    "RelaxedCount",
    "auto_support_size",
    "fused_poisson_gsm",
    "gumbel_max_counts",
    "gumbel_softmax_counts",
    "pmf_moments",
    "table_log_prob",
    "poisson_logits",
]

#: Relative softmax weights below e^this are exactly 0 (float32's smallest normal is e^-87.3).
_LOWEST_EXPONENT = -87.0

#: Default tail mass left outside the support by ``support_size="auto"``.
GSM_TAIL_MASS = 1e-6


def auto_support_size(rate: torch.Tensor, tail_mass: float = GSM_TAIL_MASS) -> int:
    """Smallest K such that P(Poisson(λ_max) ≥ K) ≤ ``tail_mass`` for the largest rate.

    One host sync (the largest rate). Under ``torch.jit.trace`` the size would be frozen at its
    trace-time value and silently wrong at other rates, so tracing raises ``ValueError``: pass a
    fixed ``support_size`` there.
    """
    from scipy import stats  # imported on first use: a light `import poissongrad`
    refuse_trace("support_size='auto'")
    try:
        rate_max = float(rate.detach().max()) if rate.numel() else 0.0
    except RuntimeError:  # under vmap (a batched tensor has no single value to read)
        raise ValueError(
            "support_size='auto' reads the largest rate, which torch.func.vmap (and jacfwd, "
            "hessian) cannot; pass a fixed support_size"
        ) from None
    if not math.isfinite(rate_max):  # NaN or inf with validation off: they draw NaN
        finite = rate.detach()[torch.isfinite(rate.detach())]
        rate_max = float(finite.max()) if finite.numel() else 0.0
    size = float(stats.poisson.ppf(1.0 - tail_mass, rate_max)) + 1
    check_work(size, f"gsm: support_size='auto' at rate {rate_max:.4g}")
    return int(size)


class _FusedPoissonGSM(torch.autograd.Function):
    """rate → (GSM relaxed count, ∂z̃/∂λ, ∂²z̃/∂λ²) from
    :func:`poissongrad.samplers.fused.poisson_gsm`;
    backward, double backward, forward mode and vmap as the windowed EAT sampler's (the saved
    slope and curvature), third derivatives refused."""

    @staticmethod
    def forward(  # type: ignore[override]
        rate: torch.Tensor,
        temperature: float | torch.Tensor,
        support_size: int,
        hard: bool,
        generator: torch.Generator | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return fused.poisson_gsm(rate, temperature, support_size, hard, generator)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        _, slope, curvature = output
        ctx.mark_non_differentiable(slope, curvature)
        ctx.save_for_backward(inputs[0], slope, curvature)
        ctx.save_for_forward(inputs[0], slope, curvature)
        ctx.indicator = "gsm"

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor, *_):  # type: ignore[override]
        return _WindowedEAT.backward(ctx, grad_output)[0], None, None, None, None

    jvp = _WindowedEAT.jvp

    @staticmethod
    def vmap(info, in_dims, rate, temperature, support_size, hard, generator):  # type: ignore[override]
        moved = rate.movedim(in_dims[0], 0) if in_dims[0] is not None else rate
        out = _FusedPoissonGSM.apply(moved, temperature, support_size, hard, generator)
        dim = 0 if in_dims[0] is not None else None
        return out, (dim, dim, dim)


def fused_poisson_gsm(
    rate: torch.Tensor,
    temperature: float | torch.Tensor,
    support_size: int,
    hard: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The Poisson Gumbel-softmax over K = ``support_size`` counts in one fused CPU pass.

    The same law as :func:`gumbel_softmax_counts` of :func:`poisson_logits` (float64 logits
    at every K), differentiable in ``rate`` to second order through the saved ∂z̃/∂λ =
    Var_w(k)/(τλ) and ∂²z̃/∂λ² (:func:`poissongrad.samplers.fused.poisson_gsm`): memory two numbers
    per
    element instead of K. ``hard`` forwards the argmax count. ``temperature``: a float or a
    tensor shaped like ``rate``.
    """
    return apply(_FusedPoissonGSM, rate, temperature, support_size, hard, generator)[0]


def poisson_logits(rate: torch.Tensor, support_size: int) -> torch.Tensor:
    """Poisson log-pmf up to a constant: ℓ_k = k·log λ − log k! for k = 0 … K − 1.

    Args:
        rate: λ ≥ 0, shape (*B).
        support_size: K ≥ 1.

    Returns:
        Tensor of shape (*B, K), differentiable in ``rate`` (zero gradient at λ = 0 exactly,
        where the counts k ≥ 1 get logits ≤ −10⁴: weight 0 in the Gumbel-softmax).
    """
    # Up to K = 256 in the rate's dtype (|ℓ| ≲ 1.2e3: float32 keeps ~1e-4 of it, the arithmetic
    # of torch.distributions.Poisson.log_prob); beyond, in float64 relative to the mode, since
    # k log λ − log k! reaches ~1e5 at λ = 1e4, where float32 would keep only ~0.01.
    wide = support_size > 256
    dtype = torch.float64 if wide else rate.dtype
    r = rate.to(dtype)
    k = torch.arange(support_size, dtype=dtype, device=rate.device)
    log_rate = torch.where(r > 0, r.clamp_min(torch.finfo(dtype).tiny).log(), -1e4)
    logits = k * log_rate.unsqueeze(-1) - torch.lgamma(k + 1.0)
    if not wide:
        return logits
    return (logits - logits.detach().amax(-1, keepdim=True)).to(rate.dtype)


def _gumbel(logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Gumbel(0, 1) noise shaped like ``logits``: G = −log(−log U), U ~ Uniform[0, 1).

    Uniforms rather than ``exponential_`` (3–5× slower on CPU); U = 0 gives G = −∞, a count
    that never wins the argmax and gets softmax weight 0. Under ``vmap`` (``jacfwd``,
    ``hessian``) the noise is drawn once for the whole batched tensor, as the EAT sampler's
    arrivals are: the same noise for every tangent of an unbatched input.
    """
    if torch.compiler.is_compiling():  # Dynamo traces the plain draw, not a vmap rule
        return _GumbelNoise.forward(logits.detach(), generator)
    return _GumbelNoise.apply(logits.detach(), generator)


class _GumbelNoise(torch.autograd.Function):
    """Gumbel noise shaped like its input (a constant: no gradient), with a ``vmap`` rule."""

    @staticmethod
    def forward(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:  # type: ignore[override]
        return torch.empty_like(like).uniform_(generator=generator).log_().neg_().log_().neg_()

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        ctx.mark_non_differentiable(output)

    @staticmethod
    def vmap(info, in_dims, like, generator):  # type: ignore[override]
        dim = in_dims[0]
        like = like.movedim(dim, 0) if dim is not None else like
        return _GumbelNoise.apply(like, generator), (0 if dim is not None else None)


@torch.no_grad()
def gumbel_max_counts(
    logits: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Exact draws argmax_k(ℓ_k + G_k) of the law with logits ``ℓ`` (*B, K): counts (*B)."""
    return (logits + _gumbel(logits, generator)).argmax(-1).to(logits.dtype)


def pmf_moments(log_pmf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, variance) of the normalised log-pmf table (*B, K) over the counts 0 … K − 1."""
    p = log_pmf.exp()
    k = torch.arange(p.shape[-1], dtype=p.dtype, device=p.device)
    mean = p @ k
    return mean, p @ k.pow(2) - mean.pow(2)


def table_log_prob(
    log_pmf: torch.Tensor, value: torch.Tensor, batch_shape: torch.Size
) -> torch.Tensor:
    """log p(value) looked up in a table (*B, K) of integer counts, broadcast with the batch
    (counts past the table take its last entry).

    A relaxed (non-integer) value gets the log-pmf interpolated linearly between its two
    neighbouring counts: a continuous extension that is exact at every integer and tells 1.4
    from 1.6 (the relaxation itself has no closed-form density), differentiable in the table
    and in ``value``.
    """
    shape = torch.broadcast_shapes(value.shape, batch_shape)
    value = value.expand(shape).to(log_pmf.dtype)
    last = log_pmf.shape[-1] - 1
    below = value.floor().clamp(0, last)
    table = log_pmf.expand(*shape, -1)
    low = table.gather(-1, below.long().unsqueeze(-1)).squeeze(-1)
    high = table.gather(-1, (below + 1).clamp(max=last).long().unsqueeze(-1)).squeeze(-1)
    frac = (value - below).clamp(0, 1)
    return torch.where(frac == 0, low, low + frac * (high - low))


def gumbel_softmax_counts(
    logits: torch.Tensor,
    temperature: float | torch.Tensor,
    hard: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Relaxed count Σ_k k·softmax((ℓ + G)/τ)_k over the last axis of ``logits``.

    Args:
        logits: unnormalised log-probabilities of the counts 0 … K − 1, shape (*B, K).
        temperature: τ > 0, a float or a tensor of shape (*B) (one τ per count).
        hard: straight-through; forward the Gumbel-max count argmax_k(ℓ_k + G_k) (an exact
            sample of the truncated law), backward through the soft weights.
        generator: optional ``torch.Generator``.

    Returns:
        Tensor of shape (*B), differentiable in ``logits``.
    """
    perturbed = _gumbel(logits, generator).add_(logits)
    tau = temperature.unsqueeze(-1) if isinstance(temperature, torch.Tensor) else temperature
    function = _CompiledSoftCount if torch.compiler.is_compiling() else _SoftCount
    soft = function.apply(perturbed / tau)
    if not hard:
        return soft
    count = perturbed.detach().argmax(dim=-1).to(logits.dtype)
    return soft + (count - soft).detach()


def _soft_weights(scaled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(softmax weights over the last axis, Σ_k k·weights): the softmax written out, since
    ``torch.softmax`` over a short last axis is ~10× slower on CPU than these passes. Relative
    weights below e^−87 are exactly 0 (exp is ~10× slower in its underflow range, and a count
    the law cannot take, logit −∞, keeps weight 0)."""
    shifted = scaled - scaled.detach().amax(-1, keepdim=True)
    weights = shifted.clamp_min(_LOWEST_EXPONENT).exp().masked_fill(shifted < _LOWEST_EXPONENT, 0)
    weights = weights / weights.sum(-1, keepdim=True)
    k = torch.arange(scaled.shape[-1], dtype=scaled.dtype, device=scaled.device)
    return weights, weights @ k


class _SoftCount(torch.autograd.Function):
    """Σ_k k·softmax(y)_k over the last axis of y (*B, K), saving only y for backward.

    Backward and forward mode recompute the weights w from y (one pass) and use
    ∂z/∂y_k = w_k (k − z); with ``create_graph`` the recomputation is itself differentiable, so
    higher derivatives stay exact. Memory held: y, as much as a softmax keeps.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(scaled: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return _soft_weights(scaled)[1]

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (scaled,) = ctx.saved_tensors
        return grad_output.unsqueeze(-1) * _soft_count_slope(scaled)

    @staticmethod
    def jvp(ctx, tangent: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        refuse_nested_forward_mode("gumbel_softmax_counts")
        (scaled,) = ctx.saved_tensors
        return (_soft_count_slope(scaled) * tangent).sum(-1)


class _CompiledSoftCount(torch.autograd.Function):
    """:class:`_SoftCount` for ``torch.compile``: without the jvp rule that Dynamo cannot trace
    (forward mode is unavailable inside a compiled region)."""

    forward = _SoftCount.forward
    backward = _SoftCount.backward

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        ctx.save_for_backward(inputs[0])


def _soft_count_slope(scaled: torch.Tensor) -> torch.Tensor:
    """∂z/∂y_k = w_k (k − z) for z = Σ_k k·softmax(y)_k, shape of y (differentiable in y)."""
    weights, soft = _soft_weights(scaled)
    k = torch.arange(scaled.shape[-1], dtype=scaled.dtype, device=scaled.device)
    return weights * (k - soft.unsqueeze(-1))


def _count_support(
    total_count: int | torch.Tensor, like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(n (*B, 1), the counts k = 0 … max n (K,), n − k clamped at 0 (*B, K)) in ``like``'s
    dtype, n broadcast with ``like``; ``ValueError`` for an n that is not a whole number ≥ 0.
    (The clamp keeps the terms of the counts above n, masked out afterwards, finite.)"""
    n = torch.as_tensor(total_count, dtype=like.dtype, device=like.device).detach()
    if not bool((torch.isfinite(n) & (n >= 0) & (n == n.round())).all()):
        raise ValueError("total_count must hold whole numbers >= 0")
    top = int(n.max()) if n.numel() else 0
    n = n.expand(torch.broadcast_shapes(n.shape, like.shape))
    check_work(float(top + 1) * max(n.numel(), 1), f"a support of {top + 1} counts")
    n = n.unsqueeze(-1)
    k = torch.arange(top + 1, dtype=like.dtype, device=like.device)
    return n, k, (n - k).clamp_min(0)


def _log_choose(n: torch.Tensor, k: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
    """log C(n, k) with ``rest`` = n − k (clamped at 0 where k > n)."""
    return torch.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(rest + 1)


class RelaxedCount(torch.distributions.Distribution):
    """Any count law on {0, …, K − 1}, given by its logits (a log-pmf up to a constant), with a
    Gumbel-softmax ``rsample``: the relaxation for laws without an arrival-process construction.

    Args:
        logits: shape (*B, K); differentiable parameters of the law.
        temperature: τ > 0 (float or a tensor of shape (*B)); τ = 0 makes ``rsample`` hard.
        straight_through: forward the Gumbel-max count (an exact draw of the law).
        generator: optional ``torch.Generator``.

    ``sample()`` draws exact counts (Gumbel-max), ``log_prob`` is the normalised log-pmf of
    integer counts, interpolated linearly between neighbouring counts for a relaxed value in
    [0, K − 1] (the support is continuous, so Pyro can score a relaxed guide's sample),
    ``mean``/``variance`` are the law's (not the relaxation's, which has no
    closed form).

    Example:
        >>> import torch
        >>> logits = torch.log(torch.tensor([0.2, 0.5, 0.3]))
        >>> d = RelaxedCount(logits, temperature=0.1)
        >>> round(float(d.mean), 2), d.rsample((4,)).shape
        (1.1, torch.Size([4]))
    """

    arg_constraints = {"logits": torch.distributions.constraints.real_vector}
    support = torch.distributions.constraints.nonnegative

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        """False at τ = 0: ``rsample`` then gives hard counts without a gradient, so a caller
        (Pyro's ELBO, say) must not treat the draw as reparameterised."""
        return not is_hard(self.temperature)

    def __init__(
        self,
        logits: torch.Tensor,
        temperature: float | torch.Tensor = 0.1,
        straight_through: bool = False,
        generator: torch.Generator | None = None,
        validate_args: bool | None = None,
    ) -> None:
        if not isinstance(logits, torch.Tensor) or logits.dim() < 1 or logits.shape[-1] < 1:
            raise ValueError("logits must be a tensor (*B, K), K ≥ 1, over the counts 0 … K − 1")
        if not logits.dtype.is_floating_point:
            raise ValueError(f"logits must have a floating dtype, got {logits.dtype}")
        self.logits = logits - logits.logsumexp(-1, keepdim=True)
        self.temperature = check_temperature(temperature)
        self.straight_through = bool(straight_through)
        self.generator = generator
        super().__init__(logits.shape[:-1], validate_args=validate_args)

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> torch.Tensor:
        """Relaxed counts (*sample_shape, *B), differentiable in the logits."""
        if not isinstance(self.temperature, torch.Tensor) and self.temperature == 0:
            return self.sample(sample_shape)
        shape = self._extended_shape(torch.Size(sample_shape))
        logits = self.logits.expand(*shape, -1)
        tau = self.temperature
        if isinstance(tau, torch.Tensor):
            tau = tau.to(logits.dtype).expand(shape)
        return gumbel_softmax_counts(logits, tau, self.straight_through, self.generator)

    @classmethod
    def binomial(
        cls,
        total_count: int | torch.Tensor,
        probs: torch.Tensor,
        temperature: float | torch.Tensor = 0.1,
        straight_through: bool = False,
        generator: torch.Generator | None = None,
    ) -> RelaxedCount:
        """Binomial(n, p) over the counts {0, …, max n} (e.g. the transitions of a chain-binomial
        compartment model).

        Args:
            total_count: n, whole numbers ≥ 0 (an int or a tensor broadcasting with ``probs``;
                not differentiable: counts above n get probability 0).
            probs: p in [0, 1], differentiable.
            temperature, straight_through, generator: as for the class.

        Example:
            >>> d = RelaxedCount.binomial(10, torch.tensor(0.3))
            >>> round(float(d.mean), 4), round(float(d.variance), 4)  # n·p, n·p·(1 − p)
            (3.0, 2.1)
        """
        p = torch.as_tensor(probs)
        if not p.dtype.is_floating_point:
            raise ValueError(f"probs must have a floating dtype, got {p.dtype}")
        if not bool(((p >= 0) & (p <= 1)).all()):
            raise ValueError("probs must be in [0, 1]")
        n, k, rest = _count_support(total_count, p)
        # p and 1 − p clamped to the smallest normal number: finite logs, so that the counts
        # masked out (k > n) and a p of 0 or 1 give zero gradients rather than 0·∞ = NaN
        tiny = torch.finfo(p.dtype).tiny
        p = p.unsqueeze(-1)
        logits = (
            _log_choose(n, k, rest)
            + k * p.clamp_min(tiny).log()
            + rest * (1 - p).clamp_min(tiny).log()
        )
        return cls(logits.where(k <= n, -math.inf), temperature, straight_through, generator)

    @classmethod
    def beta_binomial(
        cls,
        total_count: int | torch.Tensor,
        concentration1: torch.Tensor,
        concentration0: torch.Tensor,
        temperature: float | torch.Tensor = 0.1,
        straight_through: bool = False,
        generator: torch.Generator | None = None,
    ) -> RelaxedCount:
        """BetaBinomial(n, α, β) (a Binomial whose p is Beta(α, β): overdispersed) over
        {0, …, max n}; α = ``concentration1`` > 0 and β = ``concentration0`` > 0 are
        differentiable, n as in :meth:`binomial`.

        Example:
            >>> d = RelaxedCount.beta_binomial(10, torch.tensor(2.0), torch.tensor(3.0))
            >>> round(float(d.mean), 4), round(float(d.variance), 4)  # nα/(α+β), …
            (4.0, 6.0)
        """
        a, b = torch.as_tensor(concentration1), torch.as_tensor(concentration0)
        if not (a.dtype.is_floating_point and b.dtype.is_floating_point):
            raise ValueError("concentration1 and concentration0 must have a floating dtype")
        if not bool((a > 0).all() and (b > 0).all() and a.isfinite().all() and b.isfinite().all()):
            raise ValueError("concentration1 and concentration0 must be finite and > 0")
        a, b = torch.broadcast_tensors(a, b)
        n, k, rest = _count_support(total_count, a)
        a, b = a.unsqueeze(-1), b.unsqueeze(-1)
        log_beta = torch.lgamma(k + a) + torch.lgamma(rest + b) - torch.lgamma(k + rest + a + b)
        prior = torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)
        logits = _log_choose(n, k, rest) + log_beta - prior
        return cls(logits.where(k <= n, -math.inf), temperature, straight_through, generator)

    def sample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> torch.Tensor:
        """Exact counts by Gumbel-max; no gradient."""
        shape = self._extended_shape(torch.Size(sample_shape))
        return gumbel_max_counts(self.logits.expand(*shape, -1), self.generator)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Normalised log-pmf of counts in {0, …, K − 1}, interpolated between neighbouring
        counts for relaxed values in [0, K − 1] (:func:`table_log_prob`), with the batch."""
        value = torch.as_tensor(value, device=self.logits.device)
        k = self.logits.shape[-1]
        if self._validate_args:
            ok = torch.isfinite(value) & (value >= 0) & (value <= k - 1)
            if not bool(ok.all()):
                raise ValueError(f"log_prob expects values in [0, {k - 1}], got {value}")
        try:
            torch.broadcast_shapes(value.shape, self.batch_shape)
        except RuntimeError:
            raise ValueError(
                f"log_prob: a value of shape {tuple(value.shape)} does not broadcast with the "
                f"batch shape {tuple(self.batch_shape)}"
            ) from None
        return table_log_prob(self.logits, value, self.batch_shape)

    def expand(self, batch_shape: torch.Size, _instance=None) -> RelaxedCount:
        new = self._get_checked_instance(RelaxedCount, _instance)
        batch_shape = torch.Size(batch_shape)
        new.logits = self.logits.expand(*batch_shape, self.logits.shape[-1])
        tau = self.temperature
        new.temperature = tau.expand(batch_shape) if isinstance(tau, torch.Tensor) else tau
        new.straight_through, new.generator = self.straight_through, self.generator
        super(RelaxedCount, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mode(self) -> torch.Tensor:
        """The most probable count."""
        return self.logits.argmax(-1).to(self.logits.dtype)

    @property
    def mean(self) -> torch.Tensor:
        return pmf_moments(self.logits)[0]

    @property
    def variance(self) -> torch.Tensor:
        return pmf_moments(self.logits)[1]
