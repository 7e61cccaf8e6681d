"""The scikit-learn habits every model shares: parameters, cloning, ``repr``, fitted checks.

A model keeps its hyper-parameters as attributes named like the arguments of ``__init__`` and
sets fitted attributes (ending in ``_``) in ``fit``. :class:`ModelMixin` then gives
``get_params``/``set_params`` (so ``sklearn.base.clone`` works without scikit-learn being a
dependency), an informative ``repr`` listing the parameters that differ from their defaults,
and :meth:`ModelMixin._check_fitted`.

Examples
--------
>>> class Toy(ModelMixin):
...     def __init__(self, alpha=1.0, beta="x"):
...         self.alpha, self.beta = alpha, beta
>>> Toy(alpha=2.0)
Toy(alpha=2.0)
>>> Toy().set_params(beta="y").get_params()
{'alpha': 1.0, 'beta': 'y'}
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["ModelMixin", "NotFittedError"]


class NotFittedError(RuntimeError, AttributeError):
    """A model was used before ``fit`` (as scikit-learn's error of the same name)."""


class ModelMixin:
    """``get_params``, ``set_params``, ``repr`` and a fitted check from ``__init__``'s signature."""

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            p.name
            for p in signature.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Hyper-parameters by name (``deep`` is accepted for scikit-learn; nothing is nested)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> ModelMixin:
        """Set hyper-parameters by name; ``ValueError`` for a name ``__init__`` does not take."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"{type(self).__name__} has no parameter {name!r}; expected one of {valid}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
        }
        changed = [
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if not _same(value, defaults.get(name, inspect.Parameter.empty))
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    def _check_fitted(self, attribute: str) -> None:
        if not hasattr(self, attribute):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(...) before using it"
            )


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays and tensors: compare by identity only
        return a is b
