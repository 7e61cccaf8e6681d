"""Poisson counts for the samplers' hot path: the fused multi-threaded kernel on CPU.

``torch.poisson`` on CPU draws element after element on one thread (~35 ns per element at a
mean of 5). :func:`poisson_counts` uses :func:`poissongrad.samplers.fused.poisson` instead where it
can
(a plain CPU tensor outside ``torch.compile`` and ``torch.jit.trace``, numba importable): one
parallel loop, inversion below a mean of 10 and PTRS above, as many threads as torch uses,
seeded by one draw from the ``torch.Generator``. Elsewhere (GPUs, where ``torch.poisson`` is
already parallel; compiled or traced code; functorch transforms) it is ``torch.poisson``.

Examples
--------
>>> import torch
>>> mu = torch.tensor([0.0, 0.5, 3.0, 80.0])
>>> counts = poisson_counts(mu, torch.Generator().manual_seed(0))
>>> counts.shape, bool((counts >= 0).all()), float(counts[0])
(torch.Size([4]), True, 0.0)
"""

from __future__ import annotations

import torch

import poissongrad.samplers.fused as fused

__all__ = ["fused_usable", "poisson_counts"]


def fused_usable(x: torch.Tensor, wrapped_ok: bool = False) -> bool:
    """Whether the fused CPU kernels can take ``x``: numba importable, a floating CPU tensor,
    outside ``torch.compile`` and ``torch.jit.trace``, and not wrapped by a functorch transform
    (``wrapped_ok``: it will be unwrapped first, as inside an autograd Function)."""
    return (
        fused.AVAILABLE
        and not torch.compiler.is_compiling()
        and not torch.jit.is_tracing()
        and x.device.type == "cpu"
        and x.dtype.is_floating_point
        and (wrapped_ok or not torch._C._functorch.is_functorch_wrapped_tensor(x))
    )


def poisson_counts(mu: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Poisson(μ) counts shaped like ``mu`` (≥ 0, finite), in its dtype; no gradient.

    Uses the fused kernel where :func:`fused_usable` (which consumes ``generator`` differently
    from ``torch.poisson``), ``torch.poisson`` otherwise.
    """
    if mu.numel() and fused_usable(mu):
        return fused.poisson(mu, generator)
    return torch.poisson(mu, generator=generator)
