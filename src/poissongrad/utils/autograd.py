"""A cheaper ``torch.autograd.Function.apply`` for calls that pass every argument.

``Function.apply`` binds its arguments to ``forward``'s signature on every call (for
``setup_context``-style Functions: ~30 µs, a tenth of a 1,000-rate sampler call). When every
argument is passed positionally there are no defaults to fill in, so outside ``torch.func``
transforms :func:`apply` goes straight to autograd's C++ entry point, as ``Function.apply``
itself does after binding; under a transform or ``torch.compile`` (or if this PyTorch lacks
the entry points) it calls ``Function.apply``.

Examples
--------
>>> import torch
>>> class Double(torch.autograd.Function):
...     @staticmethod
...     def forward(x):
...         return 2 * x
...     @staticmethod
...     def setup_context(ctx, inputs, output):
...         pass
...     @staticmethod
...     def backward(ctx, grad):
...         return 2 * grad
>>> x = torch.ones(3, requires_grad=True)
>>> apply(Double, x).sum().backward()
>>> x.grad
tensor([2., 2., 2.])
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["apply"]

_TRANSFORMS_ACTIVE = getattr(torch._C, "_are_functorch_transforms_active", None)
_BASE = getattr(torch._C, "_FunctionBase", None)
try:
    from torch._functorch.utils import unwrap_dead_wrappers as _unwrap_dead
except ImportError:  # pragma: no cover - another PyTorch layout
    _unwrap_dead = None


def apply(function: type[torch.autograd.Function], *args: Any) -> Any:
    """``function.apply(*args)``; ``args`` must be all of ``forward``'s arguments, in order."""
    if (
        torch.compiler.is_compiling()
        or _TRANSFORMS_ACTIVE is None
        or _BASE is None
        or _unwrap_dead is None
        or _TRANSFORMS_ACTIVE()
    ):
        return function.apply(*args)
    return super(torch.autograd.Function, function).apply(*_unwrap_dead(args))
