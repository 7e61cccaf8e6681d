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

try:
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import gammaln, xlogy
    from numpyro.distributions import Distribution, constraints
    from numpyro.distributions.util import promote_shapes
except ImportError as err:  # pragma: no cover - exercised only without numpyro
    raise ImportError(
        "poissongrad.numpyro needs JAX and NumPyro: pip install 'poissongrad[jax]'"
    ) from err

from scipy import stats

from poissongrad.jax import TAIL_MASS, relaxed_poisson
from poissongrad.registry import DEFAULT_METHOD, get_relaxation
from poissongrad.samplers.indicators import get_indicator

__all__ = ["RelaxedNegativeBinomial", "RelaxedPoisson", "negative_binomial_slots"]


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
