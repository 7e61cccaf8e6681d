"""JAX (jit) against the torch sampler: forward + backward of EAT-cubic and GSM, side by side.

For each size of the sampler benchmark and mean rate (rates U(0, 2·mean), τ = 0.1), the
contenders alternate call by call in one loop at the same thread count: this library's torch
sampler (default: the fused CPU kernel) with backward, and the JAX sampler compiled with
``jax.jit`` of ``jax.value_and_grad`` (static window slots from ``window_slots``; GSM at the
same support size in both). Medians, ratios JAX ÷ torch; JSON with ``--out``.

    python benchmarks/jax_vs_torch.py [--threads 1] [--repeats 7]

JAX's thread count is set through XLA_FLAGS before it is imported (intra-op parallelism off
for 1 thread).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 65_536, 1_048_576])
    parser.add_argument("--means", type=float, nargs="+", default=[0.5, 5.0, 50.0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/jax_vs_torch.json"))
    args = parser.parse_args()
    if args.threads == 1:
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
            "intra_op_parallelism_threads=1"
        )
    import jax
    import jax.numpy as jnp
    import torch
    from _common import write_json

    import poissongrad as pg
    from poissongrad.jax import relaxed_poisson, window_slots
    from poissongrad.samplers.gsm import auto_support_size

    torch.set_num_threads(args.threads)
    tau, rows = 0.1, []
    print(f"{'size':>8} {'mean':>5} {'method':<10} {'torch ms':>9} {'jax ms':>9} {'jax÷torch':>9}")
    for size in args.sizes:
        for mean in args.means:
            base = torch.rand(size, generator=torch.Generator().manual_seed(0)) * 2 * mean
            rate_j = jnp.asarray(base.numpy())
            for method in ("eat_cubic", "gsm"):
                static = (
                    {"support_size": auto_support_size(base)}
                    if method == "gsm"
                    else {"capacity": window_slots(float(base.max()), tau, method)}
                )
                grad = jax.jit(
                    jax.value_and_grad(
                        lambda r, key, m=method, s=static: relaxed_poisson(
                            key, r, tau, m, **s
                        ).sum()
                    )
                )
                keys = iter(jax.random.split(jax.random.key(0), 4 * args.repeats + 8))

                def run_jax(grad=grad, keys=keys, rate_j=rate_j):
                    value, g = grad(rate_j, next(keys))
                    g.block_until_ready()

                leaf = base.clone().requires_grad_(True)
                options = {"support_size": static["support_size"]} if method == "gsm" else {}

                def run_torch(leaf=leaf, method=method, options=options):
                    z = pg.relaxed_poisson(leaf, tau, method, **options)
                    z.sum().backward()
                    leaf.grad = None

                times = {"torch": [], "jax": []}
                run_jax(), run_torch()  # compile both
                for _ in range(args.repeats):
                    for name, fn in (("torch", run_torch), ("jax", run_jax)):
                        start = time.perf_counter()
                        fn()
                        times[name].append(time.perf_counter() - start)
                t_torch = statistics.median(times["torch"])
                t_jax = statistics.median(times["jax"])
                rows.append(
                    {
                        "size": size,
                        "mean": mean,
                        "method": method,
                        "torch_seconds": t_torch,
                        "jax_seconds": t_jax,
                        "threads": args.threads,
                        **static,
                    }
                )
                print(
                    f"{size:>8} {mean:>5g} {method:<10} {t_torch * 1e3:9.3f} {t_jax * 1e3:9.3f} "
                    f"{t_jax / t_torch:9.2f}",
                    flush=True,
                )
    write_json(args.out, rows, repeats=args.repeats, jax=jax.__version__, tau=tau)


if __name__ == "__main__":
    main()
