"""What ``import poissongrad`` adds to ``import torch``, in fresh interpreters, side by side.

    python benchmarks/import_time.py [--repeats 9]

Each repeat starts two fresh interpreters, alternated: one imports torch, the other torch and
poissongrad (numba, scipy.stats, pandas and matplotlib are imported on first use, not here).
Medians of wall time, interpreter start included in both.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import write_json

CONTENDERS = {"torch": "import torch", "torch + poissongrad": "import torch, poissongrad"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/import_time.json"))
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for _ in range(args.repeats):
        for name, code in CONTENDERS.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    added = medians["torch + poissongrad"] - medians["torch"]
    for name, seconds in medians.items():
        print(f"{name:<20} {seconds:6.3f} s")
    print(f"{'poissongrad adds':<20} {added:6.3f} s (median of {args.repeats})")
    rows = [{"contender": name, "seconds": seconds} for name, seconds in medians.items()]
    write_json(args.out, rows, repeats=args.repeats, added_seconds=added)


if __name__ == "__main__":
    main()
