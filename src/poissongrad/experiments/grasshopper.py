"""Real-data experiment: do hidden neurons help a stimulus-driven GLM of a grasshopper receptor?

One job fits a :class:`~poissongrad.models.poglm.POGLM` with 0, 1 or 2 hidden neurons, the
stimulus as input (filters over 20 ms) and 20 ms of spike history, to the training sequences of
:func:`~poissongrad.data.grasshopper.load_grasshopper` (2 ms bins), with early stopping on a
held-out ELBO. It scores the held-out sequences with the particle filter (log p(visible), nats
per sequence, independent of q) and, paired sequence by sequence, against the fit without hidden
neurons of the same seed (``gain`` > 0: the hidden neurons help). With hidden neurons it also
runs the identifiability check at the fitted parameters (share of information kept per block).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from functools import lru_cache

import torch

from poissongrad.data.grasshopper import GrasshopperData, load_grasshopper
from poissongrad.experiments.grids import Grid
from poissongrad.hashing import seed_for
from poissongrad.models.poglm import POGLM
from poissongrad.registry import REGISTRY

__all__ = ["GrasshopperConfig", "grid_configs", "run"]


@dataclass(frozen=True)
class GrasshopperConfig:
    """One fit: hidden neurons, estimator and seed (history and stimulus filters: 10 bins)."""

    n_hidden: int = 1
    estimator: str = "eat_cubic"
    temperature: float = 0.5
    seed: int = 0
    epochs: int = 400
    lr: float = 0.05
    batch_size: int = 8


@lru_cache(maxsize=1)
def _data() -> GrasshopperData:
    return load_grasshopper()


def _fit(config: GrasshopperConfig) -> POGLM:
    data = _data()
    model = POGLM(
        n_hidden=config.n_hidden,
        history=10,
        input_history=10,
        estimator=config.estimator,
        temperature=config.temperature,
        epochs=config.epochs,
        lr=config.lr,
        batch_size=config.batch_size,
        validation_fraction=0.2,
        patience=20,
        random_state=seed_for(config.seed, "grasshopper"),
    )
    return model.fit(data.train_counts, inputs=data.train_stimulus)


def _test_log_likelihoods(model: POGLM, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per held-out sequence: particle-filter log p(visible) and its Monte-Carlo error."""
    data = _data()
    return model.score_samples(
        data.test_counts, seed=seed_for(seed, "score"), inputs=data.test_stimulus
    )


@lru_cache(maxsize=4)
def _without_hidden(seed: int, epochs: int, lr: float, batch_size: int):
    """Held-out log-likelihoods of the 0-hidden fit with the same seed and training settings."""
    model = _fit(GrasshopperConfig(0, "eat_cubic", 0.5, seed, epochs, lr, batch_size))
    return _test_log_likelihoods(model, seed)


def run(config: GrasshopperConfig) -> list[dict]:
    """Fit one configuration; one row of held-out scores, the gain over no hidden neuron and
    (with hidden neurons) the identifiability shares at the fitted parameters."""
    start = time.perf_counter()
    model = _fit(config)
    seconds = time.perf_counter() - start
    ll, ll_se = _test_log_likelihoods(model, config.seed)
    training = (config.seed, config.epochs, config.lr, config.batch_size)
    base, base_se = _without_hidden(*training) if config.n_hidden else (ll, torch.zeros_like(ll))
    gain = ll - base
    shares = {f"share_{b}": math.nan for b in ("vh", "hv", "hh")}
    if config.n_hidden:
        data = _data()
        check = model.identifiability(
            data.train_counts,
            n_samples=40,
            burn_in=20,
            seed=config.seed,
            inputs=data.train_stimulus,
        )
        shares = {f"share_{b}": check[b].share for b in ("vh", "hv", "hh")}
    n = len(gain)
    return [
        {
            **asdict(config),
            "uses_temperature": REGISTRY[config.estimator].uses_temperature,
            "fit_seconds": seconds,
            "best_epoch": model.best_epoch_,
            "marginal_ll": float(ll.mean()),
            "marginal_ll_se": float(ll_se.pow(2).sum().sqrt() / n),
            "gain": float(gain.mean()),
            # Spread over held-out sequences (paired) and the filters' Monte-Carlo errors.
            "gain_se": float(
                (gain.var() / n + (ll_se.pow(2).sum() + base_se.pow(2).sum()) / n**2).sqrt()
            )
            if config.n_hidden
            else 0.0,
            **shares,
        }
    ]


def grid_configs(grid: Grid, seed: int = 0) -> list[GrasshopperConfig]:
    """No hidden neuron, and 1 or 2 hidden neurons × estimators, × seeds.

    quick: EAT-cubic, GSM (τ = 0.5) and score-LOO; 2 seeds. paper: 3 seeds, also τ = 0.1.
    """
    seeds = (seed, seed + 1) if grid == "quick" else (seed, seed + 1, seed + 2)
    taus = (0.5,) if grid == "quick" else (0.1, 0.5)
    configs = []
    for s in seeds:
        configs.append(GrasshopperConfig(0, "eat_cubic", 0.5, s))
        for hidden in (1, 2):
            for est in ("eat_cubic", "gsm", "score_loo"):
                for tau in taus if REGISTRY[est].uses_temperature else (0.0,):
                    configs.append(GrasshopperConfig(hidden, est, tau, s))
    return configs
