"""POGLM fit against the published training loop, side by side in one run.

    POISSONGRAD_PUBLISHED_POGLM=/path/to/main/poglm python benchmarks/poglm_vs_published.py

The published code (hadivafaii/PoissonGradientEstimation, ``main/poglm/models.py``, imported
unmodified from the folder the variable names) trains with Lightning, which is not a dependency
here. Its loop is run without Lightning: a stand-in ``lightning`` module gives its
``LightningModule`` the two methods the training step uses (``save_hyperparameters`` and a
``log_dict`` that drops the logged value after the step's own ``.item()``), and the loop is the
one Lightning would run: AdamW (lr 10⁻³, as its ``configure_optimizers``), shuffled batches of 8,
``training_step``, backward, step; its per-epoch hook (matching hidden neurons by permutations)
and validation are left out, which favours it.

Both fit the paper setting: 3 visible + 2 hidden neurons, 40 training sequences of 100 bins
(:func:`poissongrad.data.spikes.make_network`), 100 epochs, 5 Monte-Carlo samples, batch 8,
τ = 0.5; the published relaxations at their script's fixed support/arrival bound of 8. This
library's side is a whole ``POGLM.fit`` (validation, float64 likelihood and all). Contenders
alternate fit by fit; medians over ``--repeats``; 1 and 2 threads.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import statistics
import sys
import time
import types
from pathlib import Path

import torch
from _common import write_json

from poissongrad.data.spikes import make_network
from poissongrad.models.poglm import POGLM

#: This library's estimator → the published class and its method name in the published grid.
PAIRS = {
    "eat_sigmoid": ("LitExpPOGLM", "exp"),
    "eat_cubic": ("LitExpPOGLM", "exp"),
    "gsm": ("LitGSPOGLM", "GS"),
    "score_loo": ("LitPOGLM", "score"),
}
EPOCHS, SAMPLES, BATCH, TAU, BOUND = 100, 5, 8, 0.5, 8


class _LightningModule(torch.nn.Module):
    """What the published training step needs of Lightning's module, and nothing more."""

    def save_hyperparameters(self, ignore=()) -> None:
        caller = inspect.currentframe().f_back.f_locals  # the calling __init__'s arguments
        params = {k: v for k, v in caller.items() if k not in {"self", "__class__", *ignore}}
        before = vars(getattr(self, "hparams", types.SimpleNamespace()))
        self.hparams = types.SimpleNamespace(**{**before, **params})

    def log_dict(self, values: dict) -> None:
        pass


def published_models():
    """The published ``models`` module, or None without ``POISSONGRAD_PUBLISHED_POGLM``."""
    root = os.environ.get("POISSONGRAD_PUBLISHED_POGLM")
    if not root:
        return None
    sys.modules.setdefault("lightning", types.SimpleNamespace(LightningModule=_LightningModule))
    sys.path.insert(0, root)
    try:
        return importlib.import_module("models")
    finally:
        sys.path.remove(root)


def published_fit(models, class_name: str, y: torch.Tensor, seed: int) -> None:
    torch.manual_seed(seed)
    net = models.POGLM(n_vis_neurons=3, n_hid_neurons=2, kernel_size=3, max_rate=10)
    options = {} if class_name == "LitPOGLM" else {"temp": TAU, "upperbound_param": BOUND}
    lit = getattr(models, class_name)(poglm=net, n_monte_carlo=SAMPLES, **options)
    optimiser = torch.optim.AdamW(lit.poglm.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(y), batch_size=BATCH, shuffle=True
    )
    for _ in range(EPOCHS):
        for step, batch in enumerate(loader):
            loss = lit.training_step(batch, step)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()


def ours_fit(estimator: str, x: torch.Tensor, seed: int) -> None:
    POGLM(
        estimator=estimator,
        temperature=TAU,
        n_samples=SAMPLES,
        epochs=EPOCHS,
        batch_size=BATCH,
        random_state=seed,
    ).fit(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/poglm_vs_published.json")
    )
    args = parser.parse_args()
    models = published_models()
    if models is None:
        raise SystemExit("set POISSONGRAD_PUBLISHED_POGLM to the published main/poglm folder")
    train = make_network("paper", seed=0).train
    contenders = {f"ours {e}": (lambda s, e=e: ours_fit(e, train[..., :3], s)) for e in PAIRS}
    for cls, name in dict(PAIRS.values()).items():
        y = train.to(torch.float32)
        contenders[f"published {name}"] = lambda s, c=cls, y=y: published_fit(models, c, y, s)
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for fn in contenders.values():  # warm-up: compilation, caches
            fn(0)
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for rep in range(args.repeats):
            for name, fn in contenders.items():
                start = time.perf_counter()
                fn(rep + 1)
                times[name].append(time.perf_counter() - start)
        print(f"\n{threads} thread(s): seconds per fit (median of {args.repeats})")
        medians = {name: statistics.median(t) for name, t in times.items()}
        for estimator, (_, pub) in PAIRS.items():
            ours, theirs = medians[f"ours {estimator}"], medians[f"published {pub}"]
            print(
                f"{estimator:<12} {ours:7.2f}   published {pub:<6} {theirs:7.2f}"
                f"   published ÷ ours {theirs / ours:5.2f}"
            )
            rows.append(
                {
                    "threads": threads,
                    "estimator": estimator,
                    "seconds": ours,
                    "published": pub,
                    "published_seconds": theirs,
                    "published_over_ours": theirs / ours,
                }
            )
    write_json(
        args.out,
        rows,
        repeats=args.repeats,
        epochs=EPOCHS,
        samples=SAMPLES,
        batch=BATCH,
        tau=TAU,
        published_bound=BOUND,
    )


if __name__ == "__main__":
    main()
