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

import poissongrad

try:
    from pyro.distributions.torch_distribution import TorchDistributionMixin
except ImportError as err:  # pragma: no cover - exercised only without Pyro
    raise ImportError("poissongrad.pyro needs Pyro: pip install 'poissongrad[pyro]'") from err

__all__ = ["RelaxedCOMPoisson", "RelaxedCount", "RelaxedNegativeBinomial", "RelaxedPoisson"]


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
