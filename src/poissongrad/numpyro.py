"""NumPyro distributions with relaxed count samples, for SVI with Poisson latents.

NumPyro's SVI refuses discrete latent sites. These distributions have a continuous support
(the relaxed counts are real and ≥ 0), a reparameterised ``sample`` (``has_rsample``) drawn by
:func:`poissongrad.jax.relaxed_poisson`, and the count law's log-pmf extended to real values
(through log Γ) as ``log_prob``, as :mod:`poissongrad.pyro` does for Pyro: use the relaxed
distribution for the prior *and* the guide of a site, so both log-probabilities are evaluated
at the same relaxed value. SVI compiles its step with ``jit``, so pass ``capacity=`` (EAT) or
``support_size=`` (GSM) there (:func:`poissongrad.jax.window_slots`,
:func:`poissongrad.jax.gsm_support_size`).

Examples
--------
>>> import jax, jax.numpy as jnp
>>> from poissongrad.numpyro import RelaxedPoisson
>>> d = RelaxedPoisson(jnp.array([1.0, 4.0]), temperature=0.2, capacity=12)
>>> z = d.sample(jax.random.key(0), (3,))
>>> z.shape, d.log_prob(z).shape, float(d.mean[1])
((3, 2), (3, 2), 4.0)
"""

from __future__ import annotations

import itertools
import math

try:
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import gammaln, xlogy
    from numpyro import handlers
    from numpyro.distributions import Distribution, constraints
    from numpyro.distributions.distribution import validation_enabled
    from numpyro.distributions.util import promote_shapes
    from numpyro.infer.elbo import ELBO
    from numpyro.infer.util import log_density
except ImportError as err:  # pragma: no cover - exercised only without numpyro
    raise ImportError(
        "poissongrad.numpyro needs JAX and NumPyro: pip install 'poissongrad[jax]'"
    ) from err

from scipy import stats

from poissongrad.estimators import check_estimator_use
from poissongrad.jax import TAIL_MASS, relaxed_poisson
from poissongrad.registry import DEFAULT_METHOD, Baseline, get_relaxation
from poissongrad.samplers.indicators import get_indicator
from poissongrad.samplers.validation import MAX_RATE

__all__ = ["CountELBO", "RelaxedNegativeBinomial", "RelaxedPoisson", "negative_binomial_slots"]


class _Relaxed(Distribution):
    """What the relaxed count distributions share: options, support, sampling."""

    support = constraints.nonnegative
    has_rsample = True
    pytree_aux_fields = ("temperature", "method", "capacity", "straight_through", "support_size")

    def _options(self, temperature, method, capacity, straight_through, support_size) -> None:
        get_relaxation(method)
        self.temperature, self.method, self.capacity = float(temperature), method, capacity
        self.straight_through, self.support_size = bool(straight_through), support_size

    def _relax(self, key, rate):
        return relaxed_poisson(
            key,
            rate,
            self.temperature,
            self.method,
            capacity=self.capacity,
            straight_through=self.straight_through,
            support_size=self.support_size,
        )

    def sample(self, key, sample_shape=()):
        return self.rsample(key, sample_shape)

    def _integrals(self) -> tuple[float, float]:
        record = get_relaxation(self.method)
        if not record.arrival_times:
            raise NotImplementedError("GSM relaxations have no closed-form moments")
        indicator = get_indicator(record.indicator)
        return indicator.integral(self.temperature), indicator.integral_sq(self.temperature)


class RelaxedPoisson(_Relaxed):
    """Relaxed Poisson(λ) counts (EAT or GSM at ``temperature``) as a NumPyro distribution.

    Parameters
    ----------
    rate : array
        λ ≥ 0, the batch shape.
    temperature : float
        τ > 0.
    method : str
        One of :data:`poissongrad.METHODS`.
    capacity, support_size : int, optional
        Static sizes (see :func:`poissongrad.jax.relaxed_poisson`); needed under ``jit``.
    straight_through : bool
        Hard counts forward, relaxed gradient backward.

    ``mean``/``variance`` are the relaxation's (λ∫g, λ∫g²; EAT only); ``log_prob`` is the
    Poisson log-pmf z log λ − λ − log Γ(z + 1) at real z.
    """

    arg_constraints = {"rate": constraints.interval(0.0, 2.0**53)}  # finite: +inf refused
    reparametrized_params = ["rate"]
    pytree_data_fields = ("rate",)

    def __init__(
        self,
        rate,
        temperature: float = 0.1,
        method: str = DEFAULT_METHOD,
        *,
        capacity: int | None = None,
        straight_through: bool = False,
        support_size: int | None = None,
        validate_args=None,
    ):
        self.rate = jnp.asarray(rate, dtype=jnp.result_type(float))
        self._options(temperature, method, capacity, straight_through, support_size)
        super().__init__(batch_shape=jnp.shape(self.rate), validate_args=validate_args)

    def rsample(self, key, sample_shape=()):
        shape = tuple(sample_shape) + self.batch_shape
        return self._relax(key, jnp.broadcast_to(self.rate, shape))

    def log_prob(self, value):
        return xlogy(value, self.rate) - self.rate - gammaln(value + 1.0)

    @property
    def mean(self):
        return self.rate * self._integrals()[0]

    @property
    def variance(self):
        return self.rate * self._integrals()[1]


class RelaxedNegativeBinomial(_Relaxed):
    """Relaxed negative-binomial counts through the Gamma–Poisson mixture (EAT or GSM).

    z ~ Poisson(λ), λ ~ Gamma(r, scale p/(1 − p)) reparameterised (JAX's implicit Gamma
    gradients), then the Poisson relaxation of ``method`` (EAT; GSM relaxes the Poisson given
    λ too). torch's conventions: ``total_count`` r > 0 and ``probs`` p (or ``logits``), mean
    r p/(1 − p). ``log_prob``: the NB log-pmf at real z. ``mean``/``variance`` (EAT):
    E[λ]∫g and E[λ]∫g² + Var[λ](∫g)².
    """

    arg_constraints = {"total_count": constraints.positive, "probs": constraints.unit_interval}
    reparametrized_params = ["total_count", "probs"]
    pytree_data_fields = ("total_count", "probs")

    def __init__(
        self,
        total_count,
        probs=None,
        logits=None,
        temperature: float = 0.1,
        method: str = DEFAULT_METHOD,
        *,
        capacity: int | None = None,
        straight_through: bool = False,
        support_size: int | None = None,
        validate_args=None,
    ):
        if (probs is None) == (logits is None):
            raise ValueError("give exactly one of probs and logits")
        probs = jax.nn.sigmoid(jnp.asarray(logits)) if probs is None else jnp.asarray(probs)
        self.total_count, self.probs = promote_shapes(
            jnp.asarray(total_count, dtype=jnp.result_type(float)), probs
        )
        self._options(temperature, method, capacity, straight_through, support_size)
        batch = jax.lax.broadcast_shapes(jnp.shape(self.total_count), jnp.shape(self.probs))
        super().__init__(batch_shape=batch, validate_args=validate_args)

    def mixing_rate(self, key, sample_shape=()):
        """Reparameterised λ ~ Gamma(r, scale p/(1 − p)), shape sample_shape + batch_shape."""
        shape = tuple(sample_shape) + self.batch_shape
        gamma = jax.random.gamma(key, jnp.broadcast_to(self.total_count, shape))
        return gamma * self.probs / (1.0 - self.probs)

    def rsample(self, key, sample_shape=()):
        k_rate, k_count = jax.random.split(key)
        return self._relax(k_count, self.mixing_rate(k_rate, sample_shape))

    def log_prob(self, value):
        r, p = self.total_count, self.probs
        return (
            gammaln(value + r)
            - gammaln(r)
            - gammaln(value + 1.0)
            + r * jnp.log1p(-p)
            + xlogy(value, p)
        )

    @property
    def mean(self):
        return self.total_count * self.probs / (1.0 - self.probs) * self._integrals()[0]

    @property
    def variance(self):
        g1, g2 = self._integrals()
        odds = self.probs / (1.0 - self.probs)
        return self.total_count * odds * g2 + self.total_count * odds**2 * g1**2


def negative_binomial_slots(
    total_count: float,
    probs: float,
    temperature: float,
    method: str = DEFAULT_METHOD,
    tail_mass: float = TAIL_MASS,
) -> int:
    """Window slots for :class:`RelaxedNegativeBinomial`: given λ ~ Gamma, the window arrivals
    are negative binomial (r, odds·w) with w the window's width; its (1 − ``tail_mass``)
    quantile at the largest r and p."""
    lo, hi = get_indicator(get_relaxation(method).indicator).window(temperature)
    width = hi - max(lo, 0.0)
    odds = float(probs) / (1.0 - float(probs)) * width
    quantile = stats.nbinom.ppf(1.0 - tail_mass, float(total_count), 1.0 / (1.0 + odds))
    return max(1, int(quantile) + 1)


class CountELBO(ELBO):
    """An ELBO for NumPyro's SVI whose gradient in the rates of the guide's Poisson sites is the
    Stein control-variate estimator (unbiased, a first-order Taylor control variate with a
    leave-one-out baseline) or a score function (``score``, ``score_mean``, ``score_loo``), with
    hard counts at the Poisson sites: no relaxation of the model, no enumeration.

    The counterpart of :class:`poissongrad.pyro.CountELBO` where the JAX backend allows:
    REBAR and RELAX need the EAT relaxation conditioned on the drawn count, which exists only
    for torch, and are refused here. Every sample site of the guide must be a
    ``numpyro.distributions.Poisson`` (``.to_event`` and ``.expand`` allowed). The
    ``num_particles`` draws are evaluated under ``vmap``; the whole loss is ``jit``-able.
    Stein evaluates the model and guide once more at the rates themselves (real-valued counts
    in the Poisson log-pmfs, through log Γ) and differentiates there.

    Args:
        estimator: ``"stein"``, ``"score_loo"``, ``"score_mean"`` or ``"score"``.
        num_particles: S, draws per step (≥ 2 for Stein and the leave-one-out baseline).

    Example:
        >>> import jax, jax.numpy as jnp, numpyro
        >>> import numpyro.distributions as dist
        >>> def model():
        ...     numpyro.sample("z", dist.Poisson(3.0))
        >>> def guide():
        ...     rate = numpyro.param("rate", 1.0, constraint=dist.constraints.positive)
        ...     numpyro.sample("z", dist.Poisson(rate))
        >>> svi = numpyro.infer.SVI(model, guide, numpyro.optim.Adam(0.05), CountELBO("stein", 4))
        >>> result = svi.run(jax.random.key(0), 300, progress_bar=False)
        >>> round(float(result.params["rate"]), 0)
        3.0
    """

    ESTIMATORS = ("stein", "score_loo", "score_mean", "score")
    can_infer_discrete = True  # SVI's flag: discrete (Poisson) guide sites are what it is for

    def __init__(self, estimator: str = "stein", num_particles: int = 8) -> None:
        if estimator not in self.ESTIMATORS:
            raise ValueError(
                f"CountELBO for NumPyro takes one of {self.ESTIMATORS}, got {estimator!r} "
                "(REBAR and RELAX: poissongrad.pyro.CountELBO, with torch)"
            )
        self.record = check_estimator_use(estimator, 0.0, num_particles)
        super().__init__(num_particles=num_particles)

    def loss_with_mutable_state(self, rng_key, param_map, model, guide, *args, **kwargs):
        guide_key, draw_key = jax.random.split(rng_key)
        seeded = handlers.seed(handlers.substitute(guide, data=param_map), guide_key)
        trace = handlers.trace(seeded).get_trace(*args, **kwargs)
        sites = [
            (name, site)
            for name, site in trace.items()
            if site["type"] == "sample" and not site["is_observed"]
        ]
        if not sites:
            raise ValueError("the guide has no sample site: nothing for CountELBO to estimate")
        rates = [_poisson_rate(name, site) for name, site in sites]
        log_rate = jnp.concatenate(
            [jnp.log(jnp.maximum(r, jnp.finfo(r.dtype).tiny)).reshape(-1) for r in rates]
        )
        splits = list(itertools.accumulate(math.prod(r.shape) for r in rates))[:-1]

        def loss_of(z):  # counts (K,) → log q(z) − log p(x, z) at the current parameters
            values = {
                name: piece.reshape(r.shape)
                for (name, _), piece, r in zip(sites, jnp.split(z, splits), rates, strict=True)
            }
            data = {**param_map, **values}
            with validation_enabled(False):  # Stein's anchor: real counts, log-pmfs through log Γ
                log_q, _ = log_density(guide, args, kwargs, data)
                log_p, _ = log_density(model, args, kwargs, data)
            return log_q - log_p

        rate = jax.lax.stop_gradient(jnp.exp(log_rate))
        shape = (self.num_particles, rate.size)
        z = jax.random.poisson(draw_key, rate, shape).astype(rate.dtype)
        values = jax.vmap(loss_of)(z)  # (S,): differentiable in the parameters f uses
        n = self.num_particles
        if self.record.family == "stein":
            anchor, slope = jax.value_and_grad(loss_of)(rate)
            residual = values - anchor - (z - rate) @ slope
            residual = jax.lax.stop_gradient(residual - (residual.sum() - residual) / (n - 1))
            score = (z - rate) @ log_rate
            pathwise = (rate * jax.lax.stop_gradient(slope)) @ log_rate
            surrogate = (
                values
                + residual * (score - jax.lax.stop_gradient(score))
                + pathwise
                - jax.lax.stop_gradient(pathwise)
            )
        else:
            baseline = {
                Baseline.NONE: jnp.zeros_like(values),
                Baseline.MEAN: jnp.broadcast_to(values.mean(), values.shape),
                Baseline.LOO: (values.sum() - values) / max(n - 1, 1),
            }[self.record.baseline]
            advantage = jax.lax.stop_gradient(values - baseline)
            score = z @ log_rate - jnp.exp(log_rate).sum()
            surrogate = values + advantage * (score - jax.lax.stop_gradient(score))
        # Rates beyond exact draws (the torch samplers' MAX_RATE) or not finite: NaN, not a
        # number computed from clipped draws (a jit-compiled loss cannot raise on a value).
        drawable = jnp.all(jnp.isfinite(rate) & (rate <= MAX_RATE))
        return {"loss": jnp.where(drawable, surrogate.mean(), jnp.nan), "mutable_state": None}


def _poisson_rate(name: str, site: dict):
    """The rate of a Poisson guide site, broadcast to its value's shape; ``ValueError`` for a
    site of another law."""
    fn = site["fn"]
    while type(fn).__name__ != "Poisson" and hasattr(fn, "base_dist"):  # to_event, expand
        fn = fn.base_dist
    if type(fn).__name__ != "Poisson":
        raise ValueError(
            f"guide site {name!r} is a {type(site['fn']).__name__}: CountELBO estimates "
            "numpyro.distributions.Poisson sites only"
        )
    return jnp.broadcast_to(fn.rate, jnp.shape(site["value"]))
