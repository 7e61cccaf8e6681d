"""The scikit-learn habits every model shares: parameters, cloning, ``repr``, fitted checks.

A model keeps its hyper-parameters as attributes named like the arguments of ``__init__`` and
sets fitted attributes (ending in ``_``) in ``fit``. :class:`ModelMixin` then gives
``get_params``/``set_params`` (so ``sklearn.base.clone`` works without scikit-learn being a
dependency), an informative ``repr`` listing the parameters that differ from their defaults,
and :meth:`ModelMixin._check_fitted`.

Each model declares what its parameters may be once, in ``_parameter_constraints`` (a
:class:`Integer`, :class:`Real` or :class:`OneOf` per name, scikit-learn's habit), plus the
checks that tie several parameters together in ``_check_combination``; ``fit`` calls
:meth:`ModelMixin._validate_params` once, and ``__init__`` only stores (so ``set_params`` then
``fit`` is checked too).

Examples
--------
>>> class Toy(ModelMixin):
...     _parameter_constraints = {"alpha": Real(0.0), "beta": OneOf("x", "y")}
...     def __init__(self, alpha=1.0, beta="x"):
...         self.alpha, self.beta = alpha, beta
>>> Toy(alpha=2.0)
Toy(alpha=2.0)
>>> Toy().set_params(beta="y").get_params()
{'alpha': 1.0, 'beta': 'y'}
>>> Toy(beta="z")._validate_params()
Traceback (most recent call last):
...
ValueError: unknown beta 'z'; expected one of ('x', 'y')
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

__all__ = [
    "Integer",
    "ModelMixin",
    "OneOf",
    "Real",
    "NotFittedError",
    "TrainingDivergedError",
    "as_table",
    "check_int",
    "check_n_features",
    "check_number",
    "check_step",
    "ignored_target",
    "model_from",
]


class NotFittedError(RuntimeError, AttributeError):
    """A model was used before ``fit`` (as scikit-learn's error of the same name)."""


@dataclass(frozen=True)
class Integer:
    """An int (NumPy integers too, not bools) ≥ ``minimum``; None too when ``optional``."""

    minimum: int = 1
    optional: bool = False

    def check(self, name: str, value: object) -> None:
        if not (self.optional and value is None):
            check_int(name, value, self.minimum)


@dataclass(frozen=True)
class Real:
    """A real number in [low, high] (an open end with ``low_open``/``high_open``)."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def check(self, name: str, value: object) -> None:
        check_number(name, value, self.low, self.high, self.low_open, self.high_open)


class OneOf:
    """One of the given values."""

    def __init__(self, *choices: object) -> None:
        self.choices = choices

    def check(self, name: str, value: object) -> None:
        if value not in self.choices:
            raise ValueError(f"unknown {name} {value!r}; expected one of {self.choices}")


class ModelMixin:
    """``get_params``, ``set_params``, ``repr``, parameter validation and a fitted check, all
    from ``__init__``'s signature and the model's ``_parameter_constraints``."""

    #: What each parameter may be (its one declaration); names not listed are not checked here.
    _parameter_constraints: ClassVar[dict[str, Integer | Real | OneOf]] = {}

    #: scikit-learn estimator checks the model fails by design → why (``check_estimator``'s
    #: ``expected_failed_checks``); every other check passes (tested).
    _expected_failed_checks: ClassVar[dict[str, str]] = {}

    def _validate_params(self) -> None:
        """``ValueError`` naming the first parameter outside its constraint (called once by
        ``fit``)."""
        for name, constraint in self._parameter_constraints.items():
            constraint.check(name, getattr(self, name))
        self._check_combination()

    def _check_combination(self) -> None:
        """Checks that tie several parameters together (e.g. an estimator and its τ)."""

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

    def _counts_only(self) -> bool:
        """Whether X must hold counts ≥ 0 (scikit-learn's ``positive_only`` input tag)."""
        return True

    def __sklearn_tags__(self):  # scikit-learn ≥ 1.6: cross_val_score, GridSearchCV, pipelines
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            # transform answers in the networks' dtype, whatever the input's: none preserved
            transformer_tags=(
                TransformerTags(preserves_dtype=[]) if hasattr(self, "transform") else None
            ),
            input_tags=InputTags(positive_only=self._counts_only()),
        )

    def _check_fitted(self, attribute: str) -> None:
        if not hasattr(self, attribute):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(...) before using it"
            )


def model_from(model: type[ModelMixin], config: Any, **fixed: Any) -> ModelMixin:
    """An unfitted ``model`` whose parameters are the fields of ``config`` (a dataclass) that
    it takes, by name, plus ``fixed`` (which win); parameters named nowhere keep the model's
    defaults. An experiment's config so carries the model's settings under the model's own
    names, and the model alone says what they may be (its ``fit`` checks them).

    Examples
    --------
    >>> @dataclasses.dataclass
    ... class Config:
    ...     alpha: float = 3.0
    ...     dataset: str = "digits"  # not a parameter of the model: not passed
    >>> class Toy(ModelMixin):
    ...     def __init__(self, alpha=1.0, beta="x"):
    ...         self.alpha, self.beta = alpha, beta
    >>> model_from(Toy, Config(), beta="y")
    Toy(alpha=3.0, beta='y')
    """
    names = set(model._param_names())
    taken = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name in names}
    return model(**{**taken, **fixed})


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays and tensors: compare by identity only
        return a is b


class TrainingDivergedError(RuntimeError):
    """A fit whose loss or gradient became NaN or infinite."""


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an int (NumPy integers too, not bools); ``ValueError`` below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_number(
    name: str,
    value: object,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float in [low, high] (an open end with ``low_open``/``high_open``);
    ``ValueError`` for another type, NaN or a value outside."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    number = float(value) if ok else math.nan
    above = number > low if low_open else number >= low
    below = number < high if high_open else number <= high
    if not (ok and above and below):
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name} must be a number in {left}{low}, {high}{right}, got {value!r}")
    return number


def as_table(
    X: object,
    name: str = "X",
    dtype: torch.dtype = torch.float32,
    counts: bool = False,
    sequences: bool = False,
) -> torch.Tensor:
    """Data (a NumPy array, DataFrame, tensor or nested list) as a finite ``dtype`` tensor of
    shape (samples, features), or (sequences, T, V) too with ``sequences``.

    Checked by scikit-learn's ``check_array`` (so its messages, which its estimator checks
    expect: sparse, complex, NaN or infinite input, no sample or no feature, a 1-D array); an
    object array of numbers is converted. With ``counts``: ``ValueError`` for negative values
    and a ``UserWarning`` for values that are not whole numbers (the Poisson likelihood extends
    to them through lgamma, as scikit-learn's ``PoissonRegressor`` allows; rates or
    normalised data passed as counts are the likely cause).
    """
    # imported here: scikit-learn's import takes ~1 s, which `import poissongrad` never pays
    from sklearn.utils.validation import check_array

    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    array = check_array(
        X, dtype=np.float64, ensure_2d=False, allow_nd=sequences, input_name=name
    )
    if array.ndim not in ((2, 3) if sequences else (2,)):
        expected = "(T, V) or (sequences, T, V)" if sequences else "(samples, features)"
        raise ValueError(
            f"{name} must be {expected}, got shape {array.shape}. Reshape your data: "
            "reshape(-1, 1) for a single feature, reshape(1, -1) for a single sample"
        )
    if counts:
        if (array < 0).any():
            raise ValueError(f"Negative values in data passed to {name}: counts are >= 0")
        if (array != np.round(array)).any():
            warnings.warn(
                f"{name} holds values that are not whole numbers: fitted as counts through "
                "the lgamma extension of the Poisson likelihood (were rates or normalised "
                "data passed?)",
                UserWarning,
                stacklevel=3,
            )
    return torch.from_numpy(np.array(array, dtype=np.float64)).to(dtype)


def check_n_features(model: ModelMixin, n_features: int, what: str = "features") -> None:
    """``ValueError`` in scikit-learn's words when data has another number of features
    (``what`` they are: neurons, inputs) than the fitted ``model`` (its ``n_features_in_``)."""
    expected = model.n_features_in_
    if n_features != expected:
        raise ValueError(
            f"X has {n_features} features, but {type(model).__name__} is expecting {expected} "
            f"features as input ({what})"
        )


def ignored_target(y: object, model: str, hint: str) -> None:
    """Accept and ignore ``y`` in an unsupervised ``fit`` where it is None or a 1-D array of
    labels (a scikit-learn pipeline passes its target to every step); ``ValueError`` for any
    other ``y``, which is most likely data passed positionally (``hint`` says where it goes)."""
    if y is not None and np.asarray(y).ndim != 1:
        raise ValueError(f"y is not used by {model}.fit (1-D labels are ignored); {hint}")


def check_step(loss: float, grad_norm: torch.Tensor | float, epoch: int, hint: str) -> None:
    """:class:`TrainingDivergedError` when a training step's loss or gradient norm is not
    finite, before the optimiser applies it (the parameters stay those of the last good step).
    """
    norm = float(grad_norm)
    if not (math.isfinite(loss) and math.isfinite(norm)):
        raise TrainingDivergedError(
            f"training diverged in epoch {epoch} (loss {loss}, gradient norm {norm}); {hint}"
        )
