"""Markdown tables of a sampler benchmark run (the performance page of the docs).

    python benchmarks/summarise.py benchmarks/results/samplers.json [more.json …]

One table per thread count: for every (size, mean, τ) cell, milliseconds of forward + backward
of this library's EAT-cubic, EAT-sigmoid and GSM (at the published support size), each as a
ratio to ``torch.poisson`` (a hard draw without gradient) and the published class's time
divided by this library's (above 1: this library is faster).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _index(rows: list[dict]) -> dict:
    return {(r["threads"], r["size"], r["mean"], r["tau"], r["contender"]): r for r in rows}


def _cell(index, key, name, published):
    ours = index.get((*key, name))
    if ours is None or ours["skipped"]:
        return "refused" if ours else "—", "", ""
    pub = index.get((*key, published))
    ratio = ""
    if pub is not None and not pub["skipped"]:
        ratio = f"{pub['seconds'] / ours['seconds']:.1f}×"
    elif pub is not None:
        ratio = "pub. skipped"
    return f"{ours['seconds'] * 1e3:.2f}", f"{ours['seconds'] / ours['poisson_seconds']:.2f}", ratio


def tables(rows: list[dict]) -> str:
    index = _index(rows)
    out = []
    contenders = (
        ("eat_cubic", "published eat_cubic"),
        ("eat_sigmoid", "published eat_sigmoid"),
        ("gsm equal K", "published gsm"),
    )
    for threads in sorted({r["threads"] for r in rows}):
        out.append(f"\n**{threads} thread{'s' if threads > 1 else ''}** (ms; ÷ torch.poisson; "
                   "published ÷ this)\n")
        head = "| size | mean | τ | torch.poisson ms |"
        rule = "|---|---|---|---|"
        for name, _ in contenders:
            head += f" {name} ms | ÷ poisson | pub. ÷ this |"
            rule += "---|---|---|"
        out += [head, rule]
        cells = sorted({k[1:4] for k in index if k[0] == threads})
        for size, mean, tau in cells:
            key = (threads, size, mean, tau)
            floor = index[(*key, "torch.poisson")]["seconds"] * 1e3
            line = f"| {size:,} | {mean:g} | {tau:g} | {floor:.3f} |"
            for name, published in contenders:
                line += " " + " | ".join(_cell(index, key, name, published)) + " |"
            out.append(line)
    return "\n".join(out)


def main() -> None:
    rows = []
    for path in sys.argv[1:] or ["benchmarks/results/samplers.json"]:
        payload = json.loads(Path(path).read_text())
        rows += payload["rows"]
        meta = payload["meta"]
        print(f"<!-- {path}: torch {meta['torch']}, {meta['machine']}, published: "
              f"{meta.get('published', '?')} -->")
    print(tables(rows))


if __name__ == "__main__":
    main()
