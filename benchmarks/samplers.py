"""Sampler benchmark: forward + backward time and memory, side by side with the published code.

For every (threads, size, mean, τ) cell the contenders run in one loop, alternated call by call
(round-robin over ``--repeats`` rounds), on the same rates U(0, 2·mean), at the same thread
count (``torch.set_num_threads``, which the fused kernels follow too); the table gives medians
and ratios:

* ``torch.poisson`` — a hard draw, no gradient: the floor;
* this library's EAT-cubic, EAT-sigmoid and GSM (default samplers: the fused CPU kernels), the
  EAT ones also through the tensor-operation sampler (``sampler="windowed"``), and GSM both at
  the published support size K (equal K) and at its own automatic K;
* the published classes ``EATPoisson`` and ``GumbelSoftmaxPoisson`` of
  hadivafaii/PoissonGradientEstimation, run unmodified, when ``POISSONGRAD_PUBLISHED`` names a
  checkout of that repository (its ``poisson_grad_estimators`` package is imported from
  there); otherwise this library's re-implementation of the published algorithms
  (``sampler="reference", n_exp="paper"`` and a plain Gumbel-softmax over the same K).

"held" is the memory autograd saves for backward plus the output (``saved_tensors_hooks``);
``--peak`` adds each contender's peak resident memory over one call, measured in a fresh
process (slow: a process per contender and cell). A published EAT call that would materialise
more than ``--max-gb`` is skipped and marked so.

    python benchmarks/samplers.py [--threads 1 2] [--sizes ...] [--means ...] [--taus ...]
        [--repeats 7] [--device cuda] [--out benchmarks/results/samplers.json]
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch
from _common import write_json
from scipy import stats

import poissongrad as pg
from poissongrad.samplers.gsm import auto_support_size

SIZES = (1_000, 65_536, 1_048_576, 4_194_304)
MEANS = (0.5, 5.0, 50.0, 200.0)
TAUS = (0.05, 0.1, 0.5)


def published_module():
    """The published estimators module if ``POISSONGRAD_PUBLISHED`` points at a checkout."""
    root = os.environ.get("POISSONGRAD_PUBLISHED")
    if not root:
        return None
    sys.path.insert(0, root)
    try:
        return importlib.import_module("poisson_grad_estimators.estimators")
    finally:
        sys.path.remove(root)


def published_k(rate_max: float) -> int:
    """The published support size: the (1 − 10⁻³) Poisson quantile of the largest rate."""
    return max(1, int(stats.poisson.ppf(1.0 - 1e-3, rate_max)))


def builtin_gsm(rate: torch.Tensor, tau: float, k: int) -> torch.Tensor:
    """The published Gumbel-softmax written plainly: Σ_k k·softmax((k log λ − log k! + G)/τ)."""
    support = torch.arange(k, dtype=rate.dtype, device=rate.device)
    logits = support * rate.log().unsqueeze(-1) - torch.lgamma(support + 1.0)
    return torch.nn.functional.gumbel_softmax(logits, tau=tau) @ support


def contenders(base: torch.Tensor, tau: float, device: str, max_gb: float) -> dict:
    """name → (callable rate → relaxed counts, or None when skipped, note)."""
    published = published_module()
    rate_max = float(base.max())
    k_pub = published_k(rate_max)
    n_exp = k_pub  # the published EAT uses the same quantile rule for its arrivals
    fits = n_exp * base.numel() * base.element_size() * 3 <= max_gb * 2**30
    out = {
        "torch.poisson": (lambda r: torch.poisson(r.detach()), "hard draw, no gradient"),
        "eat_cubic": (lambda r: pg.relaxed_poisson(r, tau, "eat_cubic"), "default sampler"),
        "eat_cubic windowed": (
            lambda r: pg.relaxed_poisson(r, tau, "eat_cubic", sampler="windowed"),
            "tensor operations",
        ),
        "eat_sigmoid": (lambda r: pg.relaxed_poisson(r, tau, "eat_sigmoid"), "default sampler"),
        "gsm equal K": (
            lambda r: pg.relaxed_poisson(r, tau, "gsm", support_size=k_pub),
            f"K = {k_pub} (published rule)",
        ),
        "gsm auto K": (
            lambda r: pg.relaxed_poisson(r, tau, "gsm"),
            f"K = {auto_support_size(base)} (tail 1e-6)",
        ),
    }
    note = f"n_exp = {n_exp}" if fits else f"skipped: n_exp = {n_exp} needs > {max_gb} GB"
    if published is not None:
        for indicator in ("cubic", "sigmoid"):
            out[f"published eat_{indicator}"] = (
                (lambda r, i=indicator: published.EATPoisson(r.log(), tau, i).rsample())
                if fits
                else None,
                "EATPoisson, " + note,
            )

        def gsm(r):
            d = published.GumbelSoftmaxPoisson(r.log(), tau)
            return d.aggregate_samples(d.rsample())

        out["published gsm"] = (gsm, f"GumbelSoftmaxPoisson, K = {k_pub}")
    else:
        for indicator in ("cubic", "sigmoid"):
            out[f"published eat_{indicator}"] = (
                (
                    lambda r, i=indicator: pg.relaxed_poisson(
                        r, tau, f"eat_{i}", sampler="reference", n_exp="paper"
                    )
                )
                if fits
                else None,
                "built-in re-implementation, " + note,
            )
        out["published gsm"] = (
            lambda r: builtin_gsm(r, tau, k_pub),
            f"built-in re-implementation, K = {k_pub}",
        )
    return out


def _held_bytes(fn, rate: torch.Tensor) -> int:
    """Bytes of tensors saved for backward (deduplicated by storage) plus the output."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(rate)
    return sum(seen.values()) + out.numel() * out.element_size()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_cell(threads, size, mean, tau, repeats, device, max_gb) -> list[dict]:
    torch.set_num_threads(threads)
    gen = torch.Generator(device=device).manual_seed(0)
    base = (torch.rand(size, generator=gen, device=device) * 2 * mean).clamp_min(1e-6)
    entries = contenders(base, tau, device, max_gb)
    steps = {}
    for name, (draw, _) in entries.items():
        if draw is None:
            continue
        rate = base.clone().requires_grad_(name != "torch.poisson")

        def step(rate=rate, draw=draw):
            z = draw(rate)
            if z.requires_grad:
                z.backward(torch.ones_like(z))
                rate.grad = None
            _sync(device)

        steps[name] = (step, rate)
    refused = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (step, _) in list(steps.items()):  # warm-up (compiles the fused kernels)
            try:
                step()
            except ValueError as err:  # e.g. the work bound: recorded, not timed
                refused[name] = str(err).split(";")[0]
                del steps[name]
    times: dict[str, list[float]] = {name: [] for name in steps}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeats):
            for name, (step, _) in steps.items():
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
        held = {
            name: _held_bytes(entries[name][0], rate) if name != "torch.poisson" else 0
            for name, (_, rate) in steps.items()
        }
    floor = statistics.median(times["torch.poisson"])
    rows = []
    for name, (draw, note) in entries.items():
        seconds = statistics.median(times[name]) if name in times else float("nan")
        note = f"refused: {refused[name]}" if name in refused else note
        rows.append(
            {
                "threads": threads,
                "size": size,
                "mean": mean,
                "tau": tau,
                "contender": name,
                "note": note,
                "seconds": seconds,
                "poisson_seconds": floor,
                "held_bytes": held.get(name, float("nan")),
                "skipped": draw is None or name in refused,
            }
        )
    return rows


def _peak_rss(threads, size, mean, tau, name, device) -> float:
    """Peak resident memory (MB) of one call of one contender, in a fresh process."""
    argv = [sys.executable, __file__, "--peak-child", name, "--device", device]
    argv += ["--threads", str(threads), "--sizes", str(size)]
    argv += ["--means", str(mean), "--taus", str(tau)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _peak_child(name: str, threads: int, size: int, mean: float, tau: float, device: str) -> None:
    """Print the growth of peak RSS (MB) over one forward + backward of ``name``."""
    import resource

    warnings.simplefilter("ignore")
    torch.set_num_threads(threads)
    gen = torch.Generator(device=device).manual_seed(0)
    base = (torch.rand(size, generator=gen, device=device) * 2 * mean).clamp_min(1e-6)
    draw = contenders(base, tau, device, 1e9)[name][0]
    draw(base.clone()[:2])  # compile / import outside the measured call
    rate = base.clone().requires_grad_(name != "torch.poisson")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    z = draw(rate)
    if z.requires_grad:
        z.backward(torch.ones_like(z))
    print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)


def table(rows: list[dict]) -> str:
    ours = {
        (r["threads"], r["size"], r["mean"], r["tau"], r["contender"]): r["seconds"] for r in rows
    }
    lines = [
        f"{'thr':>3} {'size':>8} {'mean':>5} {'tau':>5} {'contender':<24} {'ms':>9} "
        f"{'÷poisson':>8} {'pub÷this':>8} {'held MB':>8}  note"
    ]
    for r in rows:
        key = (r["threads"], r["size"], r["mean"], r["tau"])
        pub = None
        for family in ("eat_cubic", "eat_sigmoid"):
            if r["contender"] == family:
                pub = ours.get((*key, f"published {family}"))
        if r["contender"] == "gsm equal K":
            pub = ours.get((*key, "published gsm"))
        ratio = f"{pub / r['seconds']:8.2f}" if pub and pub == pub else f"{'':>8}"
        lines.append(
            f"{r['threads']:>3} {r['size']:>8} {r['mean']:>5g} {r['tau']:>5g} "
            f"{r['contender']:<24} {r['seconds'] * 1e3:9.3f} "
            f"{r['seconds'] / r['poisson_seconds']:8.2f} {ratio} "
            f"{r['held_bytes'] / 2**20:8.2f}  {r['note']}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--means", type=float, nargs="+", default=list(MEANS))
    parser.add_argument("--taus", type=float, nargs="+", default=list(TAUS))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--max-gb", type=float, default=4.0)
    parser.add_argument("--peak", action="store_true", help="measure peak RSS per contender")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/samplers.json"))
    parser.add_argument("--peak-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak_child:
        _peak_child(
            args.peak_child, args.threads[0], args.sizes[0], args.means[0], args.taus[0],
            args.device,
        )
        return
    rows = []
    for threads in args.threads:
        for size in args.sizes:
            repeats = args.repeats if size <= 2**20 else max(3, args.repeats // 2)
            for mean in args.means:
                for tau in args.taus:
                    cell = run_cell(threads, size, mean, tau, repeats, args.device, args.max_gb)
                    if args.peak:
                        for r in cell:
                            if not r["skipped"]:
                                r["peak_mb"] = _peak_rss(
                                    threads, size, mean, tau, r["contender"], args.device
                                )
                    rows += cell
                    print(table(cell), flush=True)
    published = "published classes" if published_module() else "built-in re-implementations"
    print(f"\nforward + backward, medians, alternated contenders; published: {published}")
    write_json(args.out, rows, repeats=args.repeats, device=args.device, published=published)


if __name__ == "__main__":
    main()
