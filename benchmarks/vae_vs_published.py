"""Poisson VAE epoch against the published trainer, side by side in one run.

    POISSONGRAD_PUBLISHED_VAE=/path/to/published python benchmarks/vae_vs_published.py

The published code is hadivafaii/PoissonGradientEstimation at commit d30444d ("stable"), the
last commit whose VAE runs: at its head ``main/vae.py`` calls ``Poisson(..., clamp=None)``,
which ``float(None)`` rejects, and ``rsample(hard)``, which takes no argument. Its ``TrainerVAE``
and ``PoissonVAE`` are imported unmodified from the folder the variable names; they need its
own imports (h5py, seaborn, tensorboard). Two stand-ins: ``torchvision`` (only its dataset
loaders use it, replaced here) and ``sklearnex`` (its ``patch_sklearn`` does nothing here). The
data loader is replaced by one over this library's whitened 16×16 patches (18,000 training
patches, :func:`poissongrad.data.images.load_patches`) in the published shape (N, 1, 16, 16).

Setting: the published checkpoint ``poisson_lin_lin`` (512 latents, linear encoder and decoder,
prior log-rates uniform in [−6, −4] and fitted, batch 1000, Adamax, lr 5·10⁻³, gradient clip
500, τ annealed 1 → 0.05). Its Poisson draws a fixed number of exponential arrivals per latent
(``n_exp``): 263 at the start, then reset after each epoch to Poisson(max rate)'s 1 − 10⁻⁵
quantile. The first epoch is timed once on its own; then the steady epochs (``iteration(e)``,
e ≥ 1: its loop, logging meters and ``.item()`` calls included, validation left out) alternate
with this library's whole ``PoissonVAE.fit`` of one epoch from scratch (construction, checks,
the τ schedule 1 → 0.05 over its first half), EAT-sigmoid (the published indicator) and
EAT-cubic, prior rate e⁻⁵ and the same soft clamp of log δr at 10. Medians over ``--repeats``;
1 and 2 threads.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import torch
from _common import write_json

from poissongrad.data.images import load_patches
from poissongrad.models.pvae import PoissonVAE

ESTIMATORS = ("eat_sigmoid", "eat_cubic")
LATENTS, BATCH, LR, TAU = 512, 1000, 5e-3, 0.05


def published_trainer(root: str, x: torch.Tensor):
    """The published ``TrainerVAE`` on ``x`` (N, 1, 16, 16), its model fresh from seed 0."""
    sys.modules.setdefault("torchvision", types.ModuleType("torchvision"))
    sklearnex = types.ModuleType("sklearnex")
    sklearnex.patch_sklearn = lambda *args, **kwargs: None
    sys.modules.setdefault("sklearnex", sklearnex)
    sys.path.insert(0, root)
    try:
        from main.config_vae import ConfigPoisVAE, ConfigTrainVAE
        from main.train_vae import TrainerVAE
        from main.vae import PoissonVAE as PublishedPoissonVAE
    finally:
        sys.path.remove(root)

    class Trainer(TrainerVAE):
        def setup_data(self, gpu: bool = True) -> None:
            self.dl_trn = torch.utils.data.DataLoader(
                torch.utils.data.TensorDataset(x),
                batch_size=self.cfg.batch_size,
                shuffle=True,
                drop_last=True,
            )

    scratch = tempfile.mkdtemp()
    model_cfg = ConfigPoisVAE(
        dataset="vH16",
        n_latents=LATENTS,
        prior_clamp=-4,
        fit_prior=True,
        init_scale=1e-4,
        save=False,
        base_dir=scratch,
        data_dir=scratch,
    )
    train_cfg = ConfigTrainVAE(
        lr=LR,
        epochs=3000,
        batch_size=BATCH,
        kl_const_portion=0.0,
        optimizer_kws={"weight_decay": 0.0, "betas": (0.9, 0.999), "eps": 1e-8},
        scheduler_kws={"T_max": 2995.0, "eta_min": 1e-5},
    )
    return Trainer(PublishedPoissonVAE(model_cfg), train_cfg, device="cpu")


def ours_epoch(estimator: str, x: torch.Tensor) -> None:
    PoissonVAE(
        n_latents=LATENTS,
        estimator=estimator,
        temperature=TAU,
        batch_size=BATCH,
        lr=LR,
        epochs=1,
        prior_rate=math.exp(-5),
        max_log_modulation=10.0,
    ).fit(x)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/vae_vs_published.json")
    )
    args = parser.parse_args()
    root = os.environ.get("POISSONGRAD_PUBLISHED_VAE")
    if not root:
        raise SystemExit("set POISSONGRAD_PUBLISHED_VAE to the published repository (d30444d)")
    x = torch.as_tensor(load_patches().x_train, dtype=torch.float32)
    images = x.reshape(-1, 1, 16, 16)
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        trainer = published_trainer(root, images)
        first = timed(lambda t=trainer: t.iteration(0))
        for estimator in ESTIMATORS:  # warm-up: numba compilation, caches
            ours_epoch(estimator, x)
        times: dict[str, list[float]] = {"published": [], **{e: [] for e in ESTIMATORS}}
        for epoch in range(1, args.repeats + 1):
            times["published"].append(timed(lambda t=trainer, e=epoch: t.iteration(e)))
            for estimator in ESTIMATORS:
                times[estimator].append(timed(lambda e=estimator: ours_epoch(e, x)))
        theirs = statistics.median(times["published"])
        n_exp = int(trainer.model.n_exp)
        print(
            f"\n{threads} thread(s), {len(x)} patches, batch {BATCH}: seconds per epoch "
            f"(median of {args.repeats}); published first epoch {first:.1f} s (n_exp 263), "
            f"then {theirs:.2f} s (n_exp {n_exp} at the end)"
        )
        for estimator in ESTIMATORS:
            ours = statistics.median(times[estimator])
            print(f"{estimator:<12} {ours:6.2f}   published ÷ ours {theirs / ours:5.2f}")
            rows.append(
                {
                    "threads": threads,
                    "estimator": estimator,
                    "seconds_per_epoch": ours,
                    "published_seconds_per_epoch": theirs,
                    "published_over_ours": theirs / ours,
                    "published_first_epoch_seconds": first,
                    "published_n_exp_after": n_exp,
                }
            )
    write_json(
        args.out,
        rows,
        repeats=args.repeats,
        latents=LATENTS,
        batch=BATCH,
        patches=len(x),
        published_commit="d30444d",
    )


if __name__ == "__main__":
    main()
