"""The windowed EAT sampler's static-shape path (``capacity=``), eager and compiled, against the
exact-count path, the published materialised algorithm and ``torch.poisson``.

    python benchmarks/static_path.py [--device cuda] [--n 65536] [--out ...static_path.json]

Forward + backward of EAT-cubic at τ = 0.1, rates uniform in (0, 2·mean); medians in ms. The
compiled entry is ``torch.compile(fullgraph=True)`` of the static path (compile time excluded).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import torch
from _common import median_seconds, write_json

import poissongrad as pg
from poissongrad.samplers.eat import window_capacity
from poissongrad.samplers.indicators import get_indicator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=65_536)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/static_path.json"))
    args = parser.parse_args()
    tau, rows = 0.1, []
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    for mean in (5.0, 50.0):
        base = torch.rand(args.n, device=args.device) * 2 * mean
        capacity = window_capacity(2 * mean, tau, get_indicator("cubic"), numel=args.n)

        def static(rate, capacity=capacity):
            return pg.relaxed_poisson(rate, tau, validate_args=False, capacity=capacity)

        variants = {
            "exact count": lambda r: pg.relaxed_poisson(r, tau, validate_args=False),
            "static": static,
            "static compiled": torch.compile(static, fullgraph=True),
            "reference": lambda r: pg.relaxed_poisson(
                r, tau, validate_args=False, sampler="reference", n_exp="paper"
            ),
        }
        times = {}
        for name, fn in variants.items():
            rate = base.clone().requires_grad_(True)

            def step(fn=fn, rate=rate):
                fn(rate).sum().backward()
                rate.grad = None
                sync()

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                times[name] = median_seconds(step, args.repeats, warmup=2)

        def poisson(base=base):
            torch.poisson(base)
            sync()

        times["torch.poisson"] = median_seconds(poisson, args.repeats)
        for name, seconds in times.items():
            rows.append({"mean": mean, "variant": name, "seconds": seconds, "n": args.n})
            print(
                f"mean {mean:>4} {name:<16} {seconds * 1e3:8.3f} ms  "
                f"ref/this {times['reference'] / seconds:6.1f}  "
                f"/poisson {seconds / times['torch.poisson']:7.1f}"
            )
    write_json(args.out, rows, device=args.device)


if __name__ == "__main__":
    main()
