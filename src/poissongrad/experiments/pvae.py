"""Poisson VAE training and the temperature-robustness experiment.

:func:`train` fits a :class:`~poissongrad.models.pvae.PoissonVAE` with Adamax, annealing the
temperature from 1 to the final τ (linearly or exponentially) and the KL weight β from 0 to its
final value over the first half of the steps, then holding both; gradients are clipped. It is
seeded and deterministic on CPU, and with a checkpoint path it saves model, optimiser and random
states after every epoch (atomically) and resumes from there.

:func:`evaluate` scores a model with hard samples (τ = 0). :func:`run` is the experiment job:
train one (estimator, final τ, seed) and return one row of held-out metrics.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from poissongrad.data.images import ImageData, load_dataset
from poissongrad.experiments.grids import TASK_ESTIMATORS, Grid
from poissongrad.experiments.sweep import Rows, job_key, seed_for
from poissongrad.models.pvae import VAE_ESTIMATORS, PoissonVAE

__all__ = ["VAEConfig", "train", "evaluate", "run", "grid_configs", "schedule"]

EXPERIMENT = "vae"
#: Estimators of the temperature-robustness experiment; the last two do not use τ.
VAE_GRID_ESTIMATORS = TASK_ESTIMATORS + ("exact",)
TEMPERATURE_FREE = ("score_loo", "exact")
FINAL_TAUS = (0.01, 0.05, 0.1, 0.3, 1.0)


@dataclass(frozen=True)
class VAEConfig:
    """One training run. ``temperature`` is the final τ of the annealing schedule."""

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
        if self.estimator not in VAE_ESTIMATORS:
            raise ValueError(f"unknown estimator {self.estimator!r}; expected {VAE_ESTIMATORS}")
        if self.anneal not in ("linear", "exponential"):
            raise ValueError(f"anneal must be 'linear' or 'exponential', got {self.anneal!r}")
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")


def schedule(config: VAEConfig, step: int, total: int) -> tuple[float, float]:
    """(τ, β) at ``step`` of ``total``: annealed over the first half, then held."""
    progress = min(step / max(total / 2, 1), 1.0)
    final = config.temperature
    if config.anneal == "linear" or final == 0:
        tau = 1.0 + (final - 1.0) * progress
    else:
        tau = math.exp(math.log(final) * progress)
    return tau, config.beta * progress


def _model(config: VAEConfig, n_inputs: int) -> PoissonVAE:
    with torch.random.fork_rng():
        torch.manual_seed(seed_for(config.seed, "init"))
        return PoissonVAE(
            n_inputs, config.n_latents, config.encoder, config.decoder, config.observation
        )


def _save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(
    config: VAEConfig,
    data: ImageData,
    checkpoint: str | Path | None = None,
    progress: bool = False,
    stop_after_epoch: int | None = None,
) -> tuple[PoissonVAE, list[float]]:
    """Train a Poisson VAE; return it and the mean training objective of every epoch.

    With ``checkpoint``, state is saved after every epoch and a run finding a checkpoint of the
    same config resumes after its last epoch. ``stop_after_epoch`` ends early (to simulate an
    interruption in tests).
    """
    if config.observation == "poisson" and not data.counts:
        raise ValueError(f"the Poisson observation model needs count data; {data.name} is not")
    x_train = torch.from_numpy(data.x_train)
    model = _model(config, x_train.shape[1])
    optimiser = torch.optim.Adamax(model.parameters(), lr=config.lr)
    shuffle = torch.Generator().manual_seed(seed_for(config.seed, "shuffle"))
    noise = torch.Generator().manual_seed(seed_for(config.seed, "noise"))
    history: list[float] = []
    start_epoch = 0
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.exists():
        state = torch.load(path, weights_only=False)
        if state["key"] != job_key(config):
            raise ValueError(f"checkpoint {path} belongs to another configuration")
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        shuffle.set_state(state["shuffle"])
        noise.set_state(state["noise"])
        history, start_epoch = state["history"], state["epoch"] + 1

    n = len(x_train)
    steps_per_epoch = math.ceil(n / config.batch_size)
    total = steps_per_epoch * config.epochs
    epochs = tqdm(
        range(start_epoch, config.epochs), disable=not progress, leave=False, desc=config.estimator
    )
    for epoch in epochs:
        order = torch.randperm(n, generator=shuffle)
        running = 0.0
        for i in range(steps_per_epoch):
            tau, beta = schedule(config, epoch * steps_per_epoch + i, total)
            batch = x_train[order[i * config.batch_size : (i + 1) * config.batch_size]]
            objective, _, _ = model.loss(
                batch, config.estimator, tau, config.n_samples, beta, noise
            )
            optimiser.zero_grad()
            objective.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            optimiser.step()
            running += float(objective.detach())
        history.append(running / steps_per_epoch)
        epochs.set_postfix(loss=f"{history[-1]:.2f}")
        if path is not None:
            _save_checkpoint(
                path,
                {
                    "key": job_key(config),
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimiser": optimiser.state_dict(),
                    "shuffle": shuffle.get_state(),
                    "noise": noise.get_state(),
                    "history": history,
                },
            )
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            break
    return model, history


@torch.no_grad()
def evaluate(
    model: PoissonVAE, data: ImageData, n_samples: int = 8, seed: int = 0
) -> dict[str, float]:
    """Held-out metrics with hard posterior samples (τ = 0).

    Returns ``neg_elbo`` (E_q[−log p(x|z)] + KL per item, up to the constant of the Gaussian
    likelihood), ``recon`` (that first term), ``kl``, ``mse`` (per pixel), ``r2`` (1 − SSE/SST
    against the validation pixel means), ``zero_fraction`` of latent counts, ``sparseness``
    (Treves–Rolls lifetime sparseness of posterior rates, averaged over latents),
    ``active_latents`` (mean KL > 0.01) and, for labelled data, ``knn_accuracy`` (5 neighbours,
    posterior rates of the training set against those of the validation set).
    """
    gen = torch.Generator().manual_seed(seed_for(seed, "evaluate"))
    x = torch.from_numpy(data.x_val)
    log_mod = model.log_modulation(x)
    rate = (model.prior_log_rate + log_mod).exp()
    z = torch.poisson(rate.expand(n_samples, *rate.shape), generator=gen)
    out = model.decoder(z)
    recon = model.observation_nll(x, out).mean(0)
    kl_latent = model.kl(log_mod)
    prediction = out if model.observation == "gaussian" else out.exp()
    sse = (x - prediction).pow(2).sum(-1).mean(0)
    sst = (x - x.mean(0)).pow(2).sum(-1)
    n = rate.shape[0]
    m1, m2 = rate.mean(0), rate.pow(2).mean(0)
    sparseness = (1 - m1.pow(2) / m2.clamp_min(1e-30)) / (1 - 1 / n)
    metrics = {
        "neg_elbo": float((recon + kl_latent.sum(-1)).mean()),
        "recon": float(recon.mean()),
        "kl": float(kl_latent.sum(-1).mean()),
        "mse": float(sse.mean() / x.shape[1]),
        "r2": float(1 - sse.sum() / sst.sum()),
        "zero_fraction": float((z == 0).double().mean()),
        "sparseness": float(sparseness.mean()),
        "active_latents": int((kl_latent.mean(0) > 0.01).sum()),
    }
    if data.y_train is not None:
        from sklearn.neighbors import KNeighborsClassifier

        train_rate = model.posterior_log_rate(torch.from_numpy(data.x_train)).exp().numpy()
        knn = KNeighborsClassifier(5).fit(train_rate, data.y_train)
        metrics["knn_accuracy"] = float(np.mean(knn.predict(rate.numpy()) == data.y_val))
    return metrics


def run(config: VAEConfig) -> Rows:
    """Train one configuration and return one row: config fields and held-out metrics."""
    data = load_dataset(config.dataset, seed=config.seed)
    start = time.perf_counter()
    model, history = train(config, data)
    seconds = time.perf_counter() - start
    row = {**asdict(config), **evaluate(model, data, config.eval_samples, config.seed)}
    row.update(train_seconds=seconds, final_train_loss=history[-1])
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
            taus = (0.0,) if est in TEMPERATURE_FREE else FINAL_TAUS
            n_samples = 4 if est.startswith("score") else 1
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
