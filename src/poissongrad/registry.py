"""The estimator registry: one typed record per gradient estimator, asked instead of parsing names.

Every estimator the library knows is one :class:`Estimator` in :data:`REGISTRY`. Samplers,
estimators, models, experiments and the report look a name up here and ask the record what
they need (``.uses_temperature``, ``.straight_through``, ``.arrival_times``, ``.softmax``,
``.score_function`` …); nothing else interprets the spelling of a name or compares a family.

Families:

* ``"eat"``: Exponential Arrival Time relaxations, one per soft indicator of
  :data:`poissongrad.samplers.indicators.INDICATORS` (``eat_<indicator>``);
* ``"gsm"``: Gumbel-softmax over a truncated count support;
* ``"score"``: score function (REINFORCE) with a baseline (``none``, ``mean`` or ``loo``);
* ``"difference"``: the unbiased Poisson difference identity;
* ``"rebar"``, ``"relax"``: unbiased score function with an EAT relaxation coupled to the hard
  count as control variate (``rebar_<indicator>``; RELAX adds a learned network), see
  :mod:`poissongrad.control_variates`;
* ``"stein"``: unbiased score function with a first-order Taylor control variate (the Poisson
  Stein identity) and a leave-one-out baseline;
* ``"exact"``: the closed-form objective of a linear decoder (models only).

Every record says whether the estimator is ``unbiased`` and what it costs in evaluations
of f (:class:`Cost`).

Each relaxation also has a straight-through variant ``<name>_st`` (hard counts forward, the
relaxed gradient backward).

Selections: every list of estimators an experiment runs, the ratings rate or the claims read
is a **tag** (:data:`TAGS`) carried by the records, and :func:`tagged` lists the records that
carry it, in registry order. No experiment spells out a tuple of names.

Adding an estimator: one :class:`Estimator` record (with the tags of the selections it joins),
given to :func:`register` or added below, plus the function that computes it (a new
relaxation: its sampler in :func:`poissongrad.sampling.relaxed_poisson`; a new score-function
baseline: a value of :class:`Baseline` and its line in
:meth:`poissongrad.families.ScoreFunction.baseline`; a new family: a class in
:mod:`poissongrad.families` and its entry in :data:`poissongrad.families.FAMILIES`).

Examples
--------
>>> from poissongrad.registry import REGISTRY, METHODS
>>> REGISTRY["eat_cubic_st"].relaxation, REGISTRY["eat_cubic_st"].straight_through
('eat_cubic', True)
>>> REGISTRY["score_loo"].uses_temperature, REGISTRY["score_loo"].min_samples
(False, 2)
>>> METHODS[:2]
('eat_cubic', 'eat_sigmoid')
>>> tagged("paper")
('eat_cubic', 'eat_sigmoid', 'gsm')
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from poissongrad.samplers.indicators import INDICATORS

__all__ = [
    "COUNT_LAWS",
    "DEFAULT_METHOD",
    "ESTIMATORS",
    "Baseline",
    "Cost",
    "CountLaw",
    "Estimator",
    "Family",
    "METHODS",
    "REGISTRY",
    "TAGS",
    "generic_estimators",
    "get_estimator",
    "get_relaxation",
    "register",
    "tagged",
]

Family = Literal["eat", "gsm", "score", "difference", "rebar", "relax", "stein", "exact"]


@dataclass(frozen=True)
class Cost:
    """Forward evaluations of the loss f that an estimator spends: ``per_sample`` for each
    Monte-Carlo sample, plus ``per_latent`` for each latent of each sample (the difference
    identity shifts one latent at a time), plus ``per_item`` once per item whatever the number
    of samples (the Stein control variate's anchor). Pathwise estimators also run one backward
    pass of f, like REBAR (which runs a double backward while it learns); backward passes are
    not counted.

    Examples
    --------
    >>> Cost(per_sample=1, per_latent=1).evaluations(n_samples=4, n_latents=8)
    36
    """

    per_sample: int = 1
    per_latent: int = 0
    per_item: int = 0

    def evaluations(self, n_samples: int, n_latents: int) -> int:
        """Evaluations of f for one item: S samples of K latents."""
        return n_samples * (self.per_sample + self.per_latent * n_latents) + self.per_item


class CountLaw(StrEnum):
    """Count laws an estimator may express (the generalisability axis)."""

    POISSON = "poisson"
    NEGATIVE_BINOMIAL = "negative_binomial"
    COM_POISSON = "com_poisson"


class Baseline(StrEnum):
    """Baselines of the score-function estimator."""

    NONE = "none"
    MEAN = "mean"
    LOO = "loo"


COUNT_LAWS: tuple[str, ...] = tuple(CountLaw)

#: The named selections of estimators, and what reads each one.
TAGS: dict[str, str] = {
    "paper": "the paper's three methods (its Table 1; the ratings' first table, the claims)",
    "rated": "what the rating tables rate",
    "task": "what the task experiments train with at paper scale (Poisson VAE, POGLM)",
    "vae": "the Poisson-VAE experiment's grid (the task estimators and the exact loss)",
    "poglm_quick": "the POGLM experiment's quick grid",
    "quick": "the quick grids of the real-data and count-VAE experiments",
    "count_vae": "the count-VAE (generalisability) experiment's paper grid",
    "real_data": "the retina experiment: the paper's methods and the score function (LOO)",
    "unbiased_cv": "the unbiased control-variate estimators the task experiments train with",
}


@dataclass(frozen=True)
class Estimator:
    """What an estimator is, so that no code parses its name.

    Attributes
    ----------
    name : str
        The registry key, e.g. ``"eat_cubic_st"``.
    family : {"eat", "gsm", "score", "difference", "rebar", "relax", "stein", "exact"}
        How the gradient is computed.
    relaxation : str or None
        The relaxed sampler behind a pathwise estimator (``"eat_cubic"`` for ``"eat_cubic_st"``)
        or a REBAR/RELAX control variate (``"eat_cubic"`` for ``"rebar_cubic"``), None for the
        others.
    straight_through : bool
        Hard counts forward, relaxed gradient backward.
    uses_temperature : bool
        Whether τ is a setting of the estimator (relaxations; for REBAR/RELAX the control
        variate's initial τ, which changes the variance but not the expectation).
    min_samples : int
        Fewest Monte-Carlo samples per item it needs (the leave-one-out baseline needs 2).
    count_laws : tuple of str
        Count laws it can express: EAT simulates a Poisson process (and Gamma mixtures of one),
        GSM, score and difference need only a log-pmf.
    indicator : str or None
        The soft indicator of an EAT relaxation (``"cubic"``), None otherwise.
    baseline : Baseline or None
        The score function's baseline (:class:`Baseline`).
    generic : bool
        Works for any loss ``f`` through :func:`poissongrad.estimators.surrogate_loss`
        (``"exact"`` needs the model's closed form, so it is not).
    tags : frozenset of str
        The selections of :data:`TAGS` it belongs to.
    unbiased : bool
        Its expectation is the exact gradient (for every temperature and number of samples it
        accepts).
    cost : Cost
        Evaluations of f it spends (:class:`Cost`).
    """

    name: str
    family: Family
    relaxation: str | None = None
    straight_through: bool = False
    uses_temperature: bool = False
    min_samples: int = 1
    count_laws: tuple[str, ...] = ("poisson",)
    indicator: str | None = None
    baseline: Baseline | None = None
    generic: bool = True
    tags: frozenset[str] = frozenset()
    unbiased: bool = False
    cost: Cost = Cost()

    def __post_init__(self) -> None:
        unknown = set(self.tags) - set(TAGS)
        if unknown:
            raise ValueError(f"estimator {self.name!r}: unknown tags {sorted(unknown)}")
        if self.family == "score" and self.baseline not in tuple(Baseline):
            raise ValueError(
                f"score estimator {self.name!r} needs a baseline in {[b.value for b in Baseline]}"
            )

    # What each family does, asked by name here and nowhere else.

    @property
    def pathwise(self) -> bool:
        """Gradient through (relaxed) samples: the EAT and GSM families."""
        return self.family in ("eat", "gsm")

    @property
    def arrival_times(self) -> bool:
        """An EAT relaxation: soft-counted arrival times of a Poisson process, with
        closed-form moments and gradient expectation (straight-through variants included)."""
        return self.family == "eat"

    @property
    def softmax(self) -> bool:
        """A Gumbel-softmax relaxation over a truncated count support (takes ``support_size``;
        any log-pmf)."""
        return self.family == "gsm"

    @property
    def score_function(self) -> bool:
        """A plain score-function (REINFORCE) estimator, with its :class:`Baseline`."""
        return self.family == "score"

    @property
    def difference_identity(self) -> bool:
        """The Poisson difference identity: f at each latent's count shifted by one."""
        return self.family == "difference"

    @property
    def taylor_control(self) -> bool:
        """The score function with the Stein (first-order Taylor) control variate."""
        return self.family == "stein"

    @property
    def learns_network(self) -> bool:
        """RELAX: a learned network beside the relaxation in the control variate."""
        return self.family == "relax"

    @property
    def closed_form(self) -> bool:
        """No estimator: the model's closed-form objective (``"exact"``)."""
        return self.family == "exact"

    @property
    def learns_control(self) -> bool:
        """Carries learned control-variate parameters (REBAR, RELAX: a
        :class:`poissongrad.control_variates.ControlVariate`)."""
        return self.family in ("rebar", "relax")

    @property
    def hard_forward(self) -> bool:
        """Its forward value is an exact Poisson count (straight-through and non-pathwise)."""
        return self.straight_through or not self.pathwise


_ORDER = ("cubic", "sigmoid", "linear", "quintic", "cosine")  # the paper's two first
_EAT_LAWS = (CountLaw.POISSON, CountLaw.NEGATIVE_BINOMIAL)  # a Poisson process or a Gamma mix
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


#: Selections beyond the default ones (every relaxation is "rated"), by estimator.
_SELECTED = {
    "eat_cubic": ("paper", "task", "vae", "poglm_quick", "quick", "count_vae", "real_data"),
    "eat_sigmoid": ("paper", "task", "vae", "poglm_quick", "count_vae", "real_data"),
    "gsm": ("paper", "task", "vae", "poglm_quick", "quick", "count_vae", "real_data"),
    "eat_cubic_st": ("rated", "task", "vae", "poglm_quick", "count_vae"),
    "eat_sigmoid_st": ("rated", "task", "vae"),
    "gsm_st": ("rated", "task", "vae", "count_vae"),
    "score_loo": ("rated", "task", "vae", "poglm_quick", "quick", "count_vae", "real_data"),
    "rebar_cubic": ("rated", "task", "vae", "poglm_quick", "count_vae", "unbiased_cv"),
    "relax_cubic": ("rated", "task", "vae", "unbiased_cv"),
    "stein": ("rated", "task", "vae", "poglm_quick", "unbiased_cv"),
    "exact": ("vae",),
}


def _build() -> dict[str, Estimator]:
    relaxed = _relaxations()
    entries = relaxed + [
        Estimator(
            f"{e.name}_st", e.family, e.name, True, True, 1, e.count_laws, indicator=e.indicator
        )
        for e in relaxed
    ]
    two = Cost(per_sample=2)
    entries += [
        Estimator("score", "score", count_laws=_ANY_LAW, baseline=Baseline.NONE, unbiased=True),
        Estimator("score_mean", "score", count_laws=_ANY_LAW, baseline=Baseline.MEAN),
        Estimator(
            "score_loo",
            "score",
            min_samples=2,
            count_laws=_ANY_LAW,
            baseline=Baseline.LOO,
            unbiased=True,
        ),
        Estimator(
            "difference",
            "difference",
            count_laws=(CountLaw.POISSON,),
            unbiased=True,
            cost=Cost(per_latent=1),
        ),
    ]
    entries += [
        Estimator(
            f"rebar_{e.indicator}",
            "rebar",
            e.name,
            uses_temperature=True,
            count_laws=_EAT_LAWS,
            indicator=e.indicator,
            unbiased=True,
            cost=two,
        )
        for e in relaxed
        if e.arrival_times
    ]
    entries += [
        Estimator(
            "relax_cubic",
            "relax",
            "eat_cubic",
            uses_temperature=True,
            count_laws=_EAT_LAWS,
            indicator="cubic",
            unbiased=True,
            cost=two,
        ),
        Estimator(
            "stein",
            "stein",
            min_samples=2,
            unbiased=True,
            cost=Cost(per_item=1),
        ),
        Estimator(
            "exact", "exact", generic=False, unbiased=True, cost=Cost(per_sample=0, per_item=1)
        ),
    ]
    tagged_entries = []
    for e in entries:
        tags = set(_SELECTED.get(e.name, ()))
        if e.pathwise and not e.straight_through:
            tags.add("rated")
        tagged_entries.append(dataclasses.replace(e, tags=frozenset(tags)))
    return {e.name: e for e in tagged_entries}


#: Every estimator, by name.
REGISTRY: dict[str, Estimator] = _build()

#: The relaxation every sampler, distribution and model uses unless told otherwise: EAT with the
#: compact cubic indicator (the paper's default choice; its mean is exactly λ).
DEFAULT_METHOD = "eat_cubic"

#: The relaxations :func:`poissongrad.relaxed_poisson` samples (derived from the indicators).
METHODS: tuple[str, ...] = tuple(
    e.name for e in REGISTRY.values() if e.pathwise and not e.straight_through
)

#: Estimators that work for any loss through :func:`poissongrad.estimators.surrogate_loss`.
ESTIMATORS: tuple[str, ...] = tuple(e.name for e in REGISTRY.values() if e.generic)


def generic_estimators() -> tuple[str, ...]:
    """:data:`ESTIMATORS` and every generic estimator added since by :func:`register`."""
    return tuple(e.name for e in REGISTRY.values() if e.generic)


def tagged(tag: str) -> tuple[str, ...]:
    """Names of the estimators carrying ``tag``, in registry order; ``ValueError`` for a tag
    not in :data:`TAGS`."""
    if tag not in TAGS:
        raise ValueError(f"unknown tag {tag!r}; expected one of {list(TAGS)}")
    return tuple(name for name, e in REGISTRY.items() if tag in e.tags)


def register(estimator: Estimator) -> Estimator:
    """Add ``estimator`` to :data:`REGISTRY`; ``ValueError`` for a name already taken. Its tags
    put it into every selection that reads them (:func:`tagged`), and a generic one joins
    :func:`generic_estimators` (what the gradient experiment and ``surrogate_loss`` accept)."""
    if estimator.name in REGISTRY:
        raise ValueError(f"an estimator named {estimator.name!r} is already registered")
    if estimator.pathwise:
        raise ValueError(
            "a new relaxation is an indicator (poissongrad.samplers.indicators), not a record"
        )
    REGISTRY[estimator.name] = estimator
    return estimator


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
