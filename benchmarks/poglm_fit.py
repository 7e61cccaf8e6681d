"""POGLM fit benchmark: one paper-setting fit (3 visible + 2 hidden, 40 sequences of 100 bins,
100 epochs, 5 Monte-Carlo samples), per method, with the paper's batch of 8 sequences and with
all sequences in one batch.

    python benchmarks/poglm_fit.py [--repeats 3]

Target: under 2 s per fit on 2 cores (the paper's Lightning code takes 22–25 s per job here);
the particle-filter score of 40 held-out sequences under 3 s.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from _common import median_seconds, write_json

from poissongrad.data.spikes import make_network
from poissongrad.models.poglm import POGLM

ESTIMATORS = ("eat_cubic", "eat_sigmoid", "gsm", "score_loo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/poglm_fit.json"))
    args = parser.parse_args()
    x = make_network("paper", seed=0).train[..., :3]
    rows = []
    print(f"{'estimator':<12} {'batch':>6} {'seconds':>8}")
    for estimator in ESTIMATORS:
        for batch in (8, None):
            model = POGLM(
                estimator=estimator, temperature=0.5, n_samples=5, epochs=100, batch_size=batch
            )
            seconds = median_seconds(lambda m=model: m.fit(x), args.repeats)
            rows.append({"estimator": estimator, "batch_size": batch or len(x), "seconds": seconds})
            print(f"{estimator:<12} {batch or len(x):>6} {seconds:8.2f}")
    net = make_network("paper", seed=0)
    fitted = POGLM(epochs=100).fit(x)
    test = torch.cat([net.test, net.test])[..., :3]  # 40 held-out sequences of 100 bins
    seconds = median_seconds(lambda: fitted.score(test), args.repeats)
    rows.append({"estimator": "particle-filter score, 40 sequences", "seconds": seconds})
    print(f"{'particle-filter score (40 seq.)':<28} {seconds:8.2f}")
    write_json(args.out, rows, repeats=args.repeats)


if __name__ == "__main__":
    main()
