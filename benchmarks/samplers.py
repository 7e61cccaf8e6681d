"""Sampler benchmark: forward + backward time and memory held for backward, every method.

Compares, in one run and on the same rates, the windowed EAT sampler (this library), the
published materialised algorithm (``sampler="reference"`` with the paper's n_exp rule: the
(1 − 10⁻³) Poisson quantile of the largest rate, the cheapest setting of the reference), the
published Gumbel-softmax (:func:`published_gsm`: Poisson log-pmf table and Gumbel noise from
``torch.distributions``, the same support size as this library's GSM) and ``torch.poisson``
(no gradient: the floor). Rates: 65,536 uniform in (0, 2·mean).

    python benchmarks/samplers.py [--repeats 7] [--device cuda] [--out ...samplers.json]

Prints a table of medians and ratios and writes JSON. "held" is the memory of the tensors autograd
saves for backward plus the output, measured with ``torch.autograd.graph.saved_tensors_hooks``.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import torch
from _common import median_seconds, write_json

import poissongrad as pg
from poissongrad.gsm import auto_support_size

N = 65_536
MEANS = (0.5, 5.0, 50.0)
TAUS = (0.05, 0.1, 0.5)


def _held_bytes(fn) -> int:
    """Bytes of tensors saved for backward (deduplicated by storage) plus the output."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return sum(seen.values()) + out.numel() * out.element_size()


def published_gsm(rate: torch.Tensor, tau: float, support_size: int) -> torch.Tensor:
    """The published GSM relaxation, written plainly: Σ_k k·softmax((log p(k) + G_k)/τ) over
    k < K, with log p from ``torch.distributions.Poisson`` and G ~ Gumbel(0, 1)."""
    k = torch.arange(support_size, dtype=rate.dtype, device=rate.device)
    logits = torch.distributions.Poisson(rate.unsqueeze(-1)).log_prob(k)
    noise = torch.distributions.Gumbel(0.0, 1.0).sample(logits.shape).to(rate.device)
    return torch.softmax((logits + noise) / tau, dim=-1) @ k


def run(repeats: int, device: str = "cpu") -> list[dict]:
    rows = []
    gen = torch.Generator(device=device).manual_seed(0)
    for mean in MEANS:
        base = torch.rand(N, generator=gen, device=device) * 2 * mean

        def poisson(base=base):
            out = torch.poisson(base, generator=gen)
            _sync(device)
            return out

        t_poisson = median_seconds(poisson, repeats)
        for tau in TAUS:
            for method in pg.METHODS:

                def ours(rate, method=method, tau=tau):
                    return pg.relaxed_poisson(rate, tau, method, generator=gen)

                variants = {"windowed": ours}
                if method in ("eat_cubic", "eat_sigmoid"):
                    variants["reference"] = lambda rate, method=method, tau=tau: pg.relaxed_poisson(
                        rate, tau, method, generator=gen, sampler="reference", n_exp="paper"
                    )
                if method == "gsm":
                    size = auto_support_size(base)
                    variants["reference"] = lambda rate, tau=tau, size=size: published_gsm(
                        rate, tau, size
                    )
                for name, draw in variants.items():
                    rate = base.clone().requires_grad_(True)

                    def step(rate=rate, draw=draw):
                        z = draw(rate)
                        z.backward(torch.ones_like(z))
                        rate.grad = None
                        _sync(device)
                        return z

                    def forward(rate=rate, draw=draw):
                        return draw(rate)

                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        seconds = median_seconds(step, repeats)
                        held = _held_bytes(forward)
                    rows.append(
                        {
                            "mean": mean,
                            "tau": tau,
                            "method": method,
                            "sampler": name,
                            "seconds": seconds,
                            "poisson_seconds": t_poisson,
                            "held_bytes": held,
                        }
                    )
    return rows


def _sync(device: str) -> None:
    """Wait for the GPU so that a timing covers the work, not its launch."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def table(rows: list[dict]) -> str:
    ref = {(r["mean"], r["tau"], r["method"]): r for r in rows if r["sampler"] == "reference"}
    lines = [
        f"{'mean':>5} {'tau':>5} {'method':<12} {'ms':>8} {'/poisson':>9} {'ref ms':>9} "
        f"{'ref/this':>9} {'held MB':>8} {'ref MB':>8}"
    ]
    for r in rows:
        if r["sampler"] != "windowed":
            continue
        rr = ref.get((r["mean"], r["tau"], r["method"]))
        ref_ms = f"{rr['seconds'] * 1e3:9.2f}" if rr else f"{'—':>9}"
        ratio = f"{rr['seconds'] / r['seconds']:9.1f}" if rr else f"{'—':>9}"
        ref_mb = f"{rr['held_bytes'] / 2**20:8.1f}" if rr else f"{'—':>8}"
        lines.append(
            f"{r['mean']:>5} {r['tau']:>5} {r['method']:<12} {r['seconds'] * 1e3:8.2f} "
            f"{r['seconds'] / r['poisson_seconds']:9.2f} {ref_ms} {ratio} "
            f"{r['held_bytes'] / 2**20:8.2f} {ref_mb}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/samplers.json"))
    args = parser.parse_args()
    rows = run(args.repeats, args.device)
    print(f"{N} rates on {args.device}, forward + backward, median of {args.repeats}")
    print(table(rows))
    write_json(args.out, rows, n=N, repeats=args.repeats, device=args.device)


if __name__ == "__main__":
    main()
