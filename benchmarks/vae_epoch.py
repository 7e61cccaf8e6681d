"""Poisson VAE epoch benchmark: training time per epoch with EAT-cubic and GSM against the
exact (closed-form) linear-decoder run, same model and data, in one run.

    python benchmarks/vae_epoch.py [--dataset patches --latents 512 --batch 1000]

Target: EAT-cubic ≤ 1.3× the exact epoch.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import median_seconds, write_json

from poissongrad.data.images import load_dataset
from poissongrad.models.pvae import PoissonVAE
from poissongrad.registry import REGISTRY

ESTIMATORS = ("exact", "eat_cubic", "eat_cubic_st", "eat_sigmoid", "gsm", "score_loo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", choices=["digits", "patches"])
    parser.add_argument("--latents", type=int, default=64)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/vae_epoch.json"))
    args = parser.parse_args()
    data = load_dataset(args.dataset)
    rows = []
    for estimator in ESTIMATORS:
        record = REGISTRY[estimator]
        model = PoissonVAE(
            n_latents=args.latents,
            estimator=estimator,
            temperature=0.1 if record.uses_temperature else 0.0,
            epochs=1,
            batch_size=args.batch,
            n_samples=4 if record.family == "score" else 1,
        )
        seconds = median_seconds(lambda m=model: m.fit(data.x_train), args.repeats)
        rows.append({"estimator": estimator, "seconds_per_epoch": seconds})
    exact = rows[0]["seconds_per_epoch"]
    print(
        f"{args.dataset}, {args.latents} latents, batch {args.batch}, "
        f"{len(data.x_train)} training images"
    )
    print(f"{'estimator':<14} {'s/epoch':>8} {'/exact':>7}")
    for r in rows:
        r["ratio_to_exact"] = r["seconds_per_epoch"] / exact
        print(f"{r['estimator']:<14} {r['seconds_per_epoch']:8.3f} {r['ratio_to_exact']:7.2f}")
    write_json(args.out, rows, dataset=args.dataset, latents=args.latents, batch=args.batch)


if __name__ == "__main__":
    main()
