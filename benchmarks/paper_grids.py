"""Wall time of the paper's full fidelity and gradient grids, and of one fidelity cell measured
the paper's way (W1 between 50,000 relaxed samples and 100 × 50,000 sampled Poisson draws)
against the exact-CDF formula used here.

    python benchmarks/paper_grids.py [--jobs 2]

Target: both full grids together under 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import median_seconds, write_json
from scipy.stats import wasserstein_distance

import poissongrad as pg
from poissongrad.cli import run_experiment
from poissongrad.metrics import wasserstein_to_poisson


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/paper_grids.json"))
    args = parser.parse_args()
    rows = []
    z = pg.relaxed_poisson(torch.full((50_000,), 20.0), 0.1).numpy()
    rng = np.random.default_rng(0)
    exact = median_seconds(lambda: wasserstein_to_poisson(z, 20.0), 3)
    sampled = median_seconds(lambda: wasserstein_distance(z, rng.poisson(20.0, 5_000_000)), 1)
    rows.append({"what": "one W1 cell, exact CDF", "seconds": exact})
    rows.append({"what": "one W1 cell, vs 5M sampled draws", "seconds": sampled})
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("fidelity", "gradients"):
            start = time.perf_counter()
            run_experiment(name, Path(tmp), "paper", jobs=args.jobs, progress=False)
            rows.append({"what": f"{name} paper grid", "seconds": time.perf_counter() - start})
    total = sum(r["seconds"] for r in rows if "grid" in r["what"])
    rows.append({"what": "both paper grids", "seconds": total})
    for r in rows:
        print(f"{r['what']:<36} {r['seconds']:9.2f} s")
    write_json(args.out, rows, jobs=args.jobs)


if __name__ == "__main__":
    main()
