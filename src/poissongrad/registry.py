"""The estimator registry: one typed record per gradient estimator, asked instead of parsing names.

Every estimator the library knows is one :class:`Estimator` in :data:`REGISTRY`. Samplers,
estimators, models, experiments and the report look a name up here (``REGISTRY[name].family``,
``.uses_temperature``, ``.straight_through`` …); nothing else interprets the spelling of a name.

Families:

* ``"eat"``: Exponential Arrival Time relaxations, one per soft indicator of
  :data:`poissongrad.indicators.INDICATORS` (``eat_<indicator>``);
* ``"gsm"``: Gumbel-softmax over a truncated count support;
* ``"score"``: score function (REINFORCE) with a baseline (``none``, ``mean`` or ``loo``);
* ``"difference"``: the unbiased Poisson difference identity;
* ``"exact"``: the closed-form objective of a linear decoder (models only).

Each relaxation also has a straight-through variant ``<name>_st`` (hard counts forward, the
relaxed gradient backward).

Adding an estimator: one :class:`Estimator` entry below plus the function that computes it (a
new relaxation: its sampler in :func:`poissongrad.sampling.relaxed_poisson`; a new non-pathwise
estimator: its surrogate in :mod:`poissongrad.estimators`).

Examples
--------
>>> from poissongrad.registry import REGISTRY, METHODS
>>> REGISTRY["eat_cubic_st"].relaxation, REGISTRY["eat_cubic_st"].straight_through
('eat_cubic', True)
>>> REGISTRY["score_loo"].uses_temperature, REGISTRY["score_loo"].min_samples
(False, 2)
>>> METHODS[:2]
('eat_cubic', 'eat_sigmoid')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from poissongrad.indicators import INDICATORS

__all__ = [
    "COUNT_LAWS",
    "ESTIMATORS",
    "Estimator",
    "Family",
    "METHODS",
    "REGISTRY",
    "get_estimator",
    "get_relaxation",
]

Family = Literal["eat", "gsm", "score", "difference", "exact"]

#: Count laws an estimator may express (issue-level scope: Poisson today; the others are the
#: laws that a relaxation family can express in principle, used by the generalisability axis).
COUNT_LAWS: tuple[str, ...] = ("poisson", "negative_binomial", "com_poisson")


@dataclass(frozen=True)
class Estimator:
    """What an estimator is, so that no code parses its name.

    Attributes
    ----------
    name : str
        The registry key, e.g. ``"eat_cubic_st"``.
    family : {"eat", "gsm", "score", "difference", "exact"}
        How the gradient is computed.
    relaxation : str or None
        The relaxed sampler behind a pathwise estimator (``"eat_cubic"`` for ``"eat_cubic_st"``),
        None for the others.
    straight_through : bool
        Hard counts forward, relaxed gradient backward.
    uses_temperature : bool
        Whether τ changes the estimator (relaxations only).
    min_samples : int
        Fewest Monte-Carlo samples per item it needs (the leave-one-out baseline needs 2).
    count_laws : tuple of str
        Count laws it can express: EAT simulates a Poisson process (and Gamma mixtures of one),
        GSM, score and difference need only a log-pmf.
    indicator : str or None
        The soft indicator of an EAT relaxation (``"cubic"``), None otherwise.
    baseline : str or None
        The score function's baseline: ``"none"``, ``"mean"`` or ``"loo"``.
    generic : bool
        Works for any loss ``f`` through :func:`poissongrad.estimators.surrogate_loss`
        (``"exact"`` needs the model's closed form, so it is not).
    """

    name: str
    family: Family
    relaxation: str | None = None
    straight_through: bool = False
    uses_temperature: bool = False
    min_samples: int = 1
    count_laws: tuple[str, ...] = ("poisson",)
    indicator: str | None = None
    baseline: str | None = None
    generic: bool = True

    @property
    def pathwise(self) -> bool:
        """Gradient through (relaxed) samples: the EAT and GSM families."""
        return self.family in ("eat", "gsm")

    @property
    def hard_forward(self) -> bool:
        """Its forward value is an exact Poisson count (straight-through and non-pathwise)."""
        return self.straight_through or not self.pathwise


_ORDER = ("cubic", "sigmoid", "linear", "quintic", "cosine")  # the paper's two first
_EAT_LAWS = ("poisson", "negative_binomial")  # a Poisson process, or a Gamma mixture of one
_ANY_LAW = COUNT_LAWS


def _relaxations() -> list[Estimator]:
    names = list(_ORDER) + [n for n in INDICATORS if n not in _ORDER]
    out = [
        Estimator(f"eat_{n}", "eat", f"eat_{n}", False, True, 1, _EAT_LAWS, indicator=n)
        for n in names
        if n in INDICATORS
    ]
    out.append(Estimator("gsm", "gsm", "gsm", False, True, 1, _ANY_LAW))
    return out


def _build() -> dict[str, Estimator]:
    relaxed = _relaxations()
    entries = relaxed + [
        Estimator(
            f"{e.name}_st", e.family, e.name, True, True, 1, e.count_laws, indicator=e.indicator
        )
        for e in relaxed
    ]
    entries += [
        Estimator("score", "score", count_laws=_ANY_LAW, baseline="none"),
        Estimator("score_mean", "score", count_laws=_ANY_LAW, baseline="mean"),
        Estimator("score_loo", "score", min_samples=2, count_laws=_ANY_LAW, baseline="loo"),
        Estimator("difference", "difference", count_laws=("poisson",)),
        Estimator("exact", "exact", generic=False),
    ]
    return {e.name: e for e in entries}


#: Every estimator, by name.
REGISTRY: dict[str, Estimator] = _build()

#: The relaxations :func:`poissongrad.relaxed_poisson` samples (derived from the indicators).
METHODS: tuple[str, ...] = tuple(
    e.name for e in REGISTRY.values() if e.pathwise and not e.straight_through
)

#: Estimators that work for any loss through :func:`poissongrad.estimators.surrogate_loss`.
ESTIMATORS: tuple[str, ...] = tuple(e.name for e in REGISTRY.values() if e.generic)


def get_estimator(name: str, allowed: tuple[str, ...] | None = None) -> Estimator:
    """The record of ``name``; ``ValueError`` naming the choices if unknown or not ``allowed``.

    Parameters
    ----------
    name : str
        An estimator name.
    allowed : tuple of str, optional
        Restrict to these names (default: every registered estimator).

    Examples
    --------
    >>> get_estimator("gsm_st").family
    'gsm'
    """
    choices = tuple(REGISTRY) if allowed is None else allowed
    if name not in REGISTRY or name not in choices:
        raise ValueError(f"unknown estimator {name!r}; expected one of {choices}")
    return REGISTRY[name]


def get_relaxation(method: str) -> Estimator:
    """The record of a relaxation in :data:`METHODS`; ``ValueError`` for any other name.

    Examples
    --------
    >>> get_relaxation("eat_sigmoid").indicator
    'sigmoid'
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    return REGISTRY[method]
