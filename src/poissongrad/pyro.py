"""Pyro-ready relaxed count distributions (optional: ``pip install 'poissongrad[pyro]'``).

The classes here are :class:`poissongrad.RelaxedPoisson` and
:class:`poissongrad.RelaxedNegativeBinomial` with Pyro's distribution mixin, so they work as
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

__all__ = ["RelaxedNegativeBinomial", "RelaxedPoisson"]


class RelaxedPoisson(poissongrad.RelaxedPoisson, TorchDistributionMixin):
    """:class:`poissongrad.RelaxedPoisson` as a Pyro distribution (same arguments)."""

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(RelaxedPoisson, _instance)
        return super().expand(batch_shape, _instance=new)


class RelaxedNegativeBinomial(poissongrad.RelaxedNegativeBinomial, TorchDistributionMixin):
    """:class:`poissongrad.RelaxedNegativeBinomial` as a Pyro distribution (same arguments)."""

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(RelaxedNegativeBinomial, _instance)
        return super().expand(batch_shape, _instance=new)
