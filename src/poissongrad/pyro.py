"""Pyro-ready relaxed count distributions (optional: ``pip install 'poissongrad[pyro]'``).

The classes here are :class:`poissongrad.RelaxedPoisson` and
:class:`poissongrad.RelaxedNegativeBinomial`, :class:`poissongrad.RelaxedCOMPoisson` and
:class:`poissongrad.RelaxedCount` with Pyro's distribution mixin, so they work as
sample sites in SVI (``Trace_ELBO``), inside ``pyro.plate``, with ``.to_event`` and under
``Predictive``.

Pairing prior and guide: put a relaxed distribution at the site in **both** the model and the
guide. Its ``log_prob`` is the Poisson (or NB) pmf extended to real counts through lgamma, so the
relaxed sample drawn by the guide can be scored by the model. A ``pyro.distributions.Poisson``
prior rejects such a sample (its support is the integers: Pyro's validation raises), and
straight-through guides (integer forward values) are the other way to use a Poisson prior.

Examples
--------
>>> import torch, pyro
>>> from poissongrad.pyro import RelaxedPoisson
>>> def model():
...     with pyro.plate("latents", 3):
...         return pyro.sample("z", RelaxedPoisson(rate=torch.full((3,), 2.0), temperature=0.1))
>>> model().shape
torch.Size([3])
"""

from __future__ import annotations

import math

import torch

import poissongrad
from poissongrad.control_variates import make_control
from poissongrad.estimators import Surrogate, check_estimator_use

try:
    import pyro
    from pyro import poutine
    from pyro.distributions.torch_distribution import TorchDistributionMixin
    from pyro.infer.elbo import ELBO
except ImportError as err:  # pragma: no cover - exercised only without Pyro
    raise ImportError("poissongrad.pyro needs Pyro: pip install 'poissongrad[pyro]'") from err

__all__ = [
    "CountELBO",
    "RelaxedCOMPoisson",
    "RelaxedCount",
    "RelaxedNegativeBinomial",
    "RelaxedPoisson",
]


def _pyro_class(base: type) -> type:
    """``base`` with Pyro's distribution mixin, its ``expand`` returning the Pyro class."""

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(cls, _instance)
        return base.expand(self, batch_shape, _instance=new)

    doc = f":class:`poissongrad.{base.__name__}` as a Pyro distribution (same arguments)."
    cls = type(base.__name__, (base, TorchDistributionMixin), {"expand": expand, "__doc__": doc})
    cls.__module__ = __name__
    return cls


RelaxedPoisson = _pyro_class(poissongrad.RelaxedPoisson)
RelaxedNegativeBinomial = _pyro_class(poissongrad.RelaxedNegativeBinomial)
RelaxedCOMPoisson = _pyro_class(poissongrad.RelaxedCOMPoisson)
RelaxedCount = _pyro_class(poissongrad.RelaxedCount)


class CountELBO(ELBO):
    """An ELBO for SVI whose gradient in the rates of the guide's Poisson sites is one of this
    library's estimators: REBAR, RELAX or Stein (unbiased, with a relaxation's low variance),
    or any other of :data:`poissongrad.estimators.ESTIMATORS`, in place of Pyro's score
    function, and without enumerating the counts.

    Every sample site of the guide must be a Poisson count: a ``pyro.distributions.Poisson``
    or a :class:`RelaxedPoisson` (``.to_event`` allowed); its rate, broadcast to the site's
    shape, is what the estimator differentiates. For each of the ``num_particles`` draws of
    the counts (hard, or relaxed where the estimator relaxes them) the guide and the model are
    replayed at those counts and scored with Pyro's validation off, so relaxed counts enter the
    Poisson log-pmfs through lgamma; the loss of a draw is log q(z) − log p(x, z). The draws are
    evaluated one after the other (a loop over particles, not elements). REBAR and RELAX learn
    their control variate (η, τ, RELAX's network) as SVI goes, one variance step per SVI step
    (:attr:`control`).

    Args:
        estimator: a name of :data:`poissongrad.estimators.ESTIMATORS`.
        num_particles: S, draws per step (at least the estimator's minimum).
        temperature: τ of a relaxation, or the initial τ of a REBAR/RELAX control variate.
        seed: seeds the estimator's draws (a generator of its own) and RELAX's network.

    Example:
        >>> import pyro, torch
        >>> def model():
        ...     pyro.sample("z", pyro.distributions.Poisson(torch.tensor(3.0)))
        >>> def guide():
        ...     rate = pyro.param("rate", torch.tensor(1.0), constraint=positive)
        ...     pyro.sample("z", pyro.distributions.Poisson(rate))
        >>> from pyro.distributions.constraints import positive
        >>> elbo = CountELBO("stein", num_particles=4)
        >>> svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), elbo)
        >>> math.isfinite(svi.step())
        True
    """

    def __init__(
        self,
        estimator: str = "rebar_cubic",
        num_particles: int = 8,
        temperature: float = 0.5,
        seed: int = 0,
    ) -> None:
        super().__init__(num_particles=num_particles)
        check_estimator_use(estimator, temperature, num_particles)
        self.estimator, self.temperature, self.seed = estimator, temperature, seed
        self.generator = torch.Generator().manual_seed(seed)
        #: The learned control variate of REBAR/RELAX (None before the first step, or for
        #: another estimator); its size is the number of counts, known at the first step.
        self.control = None
        self._surrogate = None

    def _losses(self, model, guide, args, kwargs) -> torch.Tensor:
        """Per-draw surrogate losses (S,): value log q − log p, gradient the estimator's."""
        template = poutine.trace(guide).get_trace(*args, **kwargs)
        sites = [
            (name, site)
            for name, site in template.nodes.items()
            if site["type"] == "sample" and not site["is_observed"]
        ]
        if not sites:
            raise ValueError("the guide has no sample site: nothing for CountELBO to estimate")
        rates = [_poisson_rate(name, site) for name, site in sites]
        tiny = torch.finfo(rates[0].dtype).tiny
        log_rate = torch.cat([r.clamp_min(tiny).log().reshape(-1) for r in rates])
        sizes = [r.numel() for r in rates]
        if self._surrogate is None:
            self.control = make_control(self.estimator, self.temperature, len(log_rate), self.seed)
            self._surrogate = Surrogate(
                self.estimator, self.num_particles, self.temperature, self.control
            )

        def loss_of(z: torch.Tensor) -> torch.Tensor:  # counts (S, K) → losses (S,)
            losses = []
            for draw in z:
                for (name, _), piece, rate in zip(sites, draw.split(sizes), rates, strict=True):
                    template.nodes[name]["value"] = piece.reshape(rate.shape).to(rate.dtype)
                with pyro.validation_enabled(False):
                    guide_trace = poutine.trace(poutine.replay(guide, trace=template)).get_trace(
                        *args, **kwargs
                    )
                    model_trace = poutine.trace(
                        poutine.replay(model, trace=guide_trace)
                    ).get_trace(*args, **kwargs)
                    losses.append(guide_trace.log_prob_sum() - model_trace.log_prob_sum())
            return torch.stack(losses)

        return self._surrogate(loss_of, log_rate, self.generator)

    def _get_trace(self, model, guide, args, kwargs):  # Pyro's abstract hook: traces are built
        raise NotImplementedError("CountELBO replays the guide per draw; it has no single trace")

    def differentiable_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        """The mean surrogate over the draws: its value estimates −ELBO (nats), its gradient
        is the estimator's."""
        return self._losses(model, guide, args, kwargs).mean()

    def loss(self, model, guide, *args, **kwargs) -> float:
        """An estimate of −ELBO (nats) from ``num_particles`` draws."""
        with torch.no_grad():
            return float(self.differentiable_loss(model, guide, *args, **kwargs))

    def loss_and_grads(self, model, guide, *args, **kwargs) -> float:
        """−ELBO estimate; backpropagates the estimator's gradient into the parameters."""
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        loss.backward()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise ValueError(
                f"CountELBO: the loss is {value} (a count outside the model's support?)"
            )
        return value


def _poisson_rate(name: str, site: dict) -> torch.Tensor:
    """The rate of a Poisson guide site, broadcast to its value's shape; ``ValueError`` for a
    site of another law."""
    fn = site["fn"]
    while not hasattr(fn, "rate") and hasattr(fn, "base_dist"):  # .to_event, .expand
        fn = fn.base_dist
    law = type(fn).__name__
    if law not in ("Poisson", "RelaxedPoisson") or not hasattr(fn, "rate"):
        raise ValueError(
            f"guide site {name!r} is a {type(site['fn']).__name__}: CountELBO estimates Poisson "
            "sites only (pyro.distributions.Poisson or poissongrad.pyro.RelaxedPoisson)"
        )
    return fn.rate.expand(site["value"].shape)
