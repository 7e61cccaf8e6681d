"""The Poisson-VAE experiment: temperature robustness of every gradient estimator.

One job trains a :class:`~poissongrad.models.pvae.PoissonVAE` for one (estimator, final τ, seed)
on an offline data set and returns one row of held-out metrics (:meth:`PoissonVAE.evaluate`).
Training, schedule, checkpoints and evaluation live with the model; this module maps a config to
a row and declares the grids.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from poissongrad.data.images import load_dataset
from poissongrad.experiments.grids import TASK_ESTIMATORS, Grid
from poissongrad.models.pvae import VAE_ESTIMATORS, PoissonVAE
from poissongrad.registry import REGISTRY, get_estimator

__all__ = ["VAEConfig", "model_of", "run", "grid_configs", "FINAL_TAUS"]

#: Estimators of the temperature-robustness experiment: the task estimators and ``exact``.
VAE_GRID_ESTIMATORS = TASK_ESTIMATORS + ("exact",)
FINAL_TAUS = (0.01, 0.05, 0.1, 0.3, 1.0)


@dataclass(frozen=True)
class VAEConfig:
    """One training run. ``temperature`` is the final τ of the annealing schedule (0 for an
    estimator that does not use one)."""

    estimator: str = "eat_cubic"
    temperature: float = 0.1
    seed: int = 0
    dataset: str = "digits"
    n_latents: int = 64
    encoder: str = "linear"
    decoder: str = "linear"
    observation: str = "gaussian"
    epochs: int = 30
    batch_size: int = 128
    lr: float = 5e-3
    n_samples: int = 1
    anneal: str = "linear"
    beta: float = 1.0
    clip: float = 100.0
    eval_samples: int = 8

    def __post_init__(self) -> None:
        get_estimator(self.estimator, VAE_ESTIMATORS)
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")


def model_of(config: VAEConfig) -> PoissonVAE:
    """The (unfitted) model a config describes (validates the combination)."""
    return PoissonVAE(
        n_latents=config.n_latents,
        estimator=config.estimator,
        temperature=config.temperature,
        encoder=config.encoder,
        decoder=config.decoder,
        observation=config.observation,
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        n_samples=config.n_samples,
        anneal=config.anneal,
        beta=config.beta,
        clip=config.clip,
        random_state=config.seed,
    )


def run(config: VAEConfig) -> list[dict]:
    """Train one configuration and return one row: config fields and held-out metrics."""
    data = load_dataset(config.dataset, seed=config.seed)
    start = time.perf_counter()
    model = model_of(config).fit(data.x_train)
    seconds = time.perf_counter() - start
    labels = (
        (data.y_val, (data.x_train, data.y_train)) if data.y_train is not None else (None, None)
    )
    metrics = model.evaluate(data.x_val, *labels, n_samples=config.eval_samples, seed=config.seed)
    row = {
        **asdict(config),
        "uses_temperature": REGISTRY[config.estimator].uses_temperature,
        **metrics,
        "train_seconds": seconds,
        "final_train_loss": model.loss_curve_[-1] if model.loss_curve_ else float("nan"),
    }
    return [row]


#: Per dataset and grid: (latents, batch size, epochs). The paper grid on patches uses the
#: paper's 512 latents for a linear decoder; the quick one 128 (GSM's cost grows with latents ×
#: support size: about 4 minutes per run at 512 here).
DATASET_SETTINGS = {
    ("digits", "quick"): (64, 128, 30),
    ("digits", "paper"): (64, 128, 100),
    ("patches", "quick"): (128, 500, 10),
    ("patches", "paper"): (512, 500, 50),
}


def grid_configs(grid: Grid, seed: int = 0, dataset: str = "digits") -> list[VAEConfig]:
    """Estimators × final τ (× 3 seeds and more epochs on the paper grid)."""
    if (dataset, grid) not in DATASET_SETTINGS:
        raise ValueError(f"unknown dataset {dataset!r} or grid {grid!r}")
    latents, batch, epochs = DATASET_SETTINGS[dataset, grid]
    seeds = (seed,) if grid == "quick" else (seed, seed + 1, seed + 2)
    configs = []
    for s in seeds:
        for est in VAE_GRID_ESTIMATORS:
            record = REGISTRY[est]
            taus = FINAL_TAUS if record.uses_temperature else (0.0,)
            n_samples = 4 if record.family == "score" else 1
            configs += [
                VAEConfig(
                    est,
                    t,
                    s,
                    dataset,
                    latents,
                    epochs=epochs,
                    batch_size=batch,
                    n_samples=n_samples,
                )
                for t in taus
            ]
    return configs
