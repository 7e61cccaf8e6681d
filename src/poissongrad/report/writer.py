"""The guide's report: Markdown and HTML, made only from stored rows (rebuildable any time).

``OUT/report.md`` and ``OUT/report.html`` hold a practitioner's summary, the method-rating table
with its rule and the numbers behind it, each experiment's summary table and figures (linked
PNGs under ``OUT/<experiment>/``), and the run's configuration, software, machine and wall time
(from ``OUT/guide.json`` when the guide wrote one).

The guide and the report write only files they created: each carries a generator tag
(:data:`GENERATOR`), and an existing ``report.md``, ``report.html`` or ``guide.json`` without it is
an error, with nothing touched. Each experiment's rows are those of its last recorded run
(``selection.json``), and the report states which seeds (and networks) every number averages
over.
"""

from __future__ import annotations

import html
import json
import os
import platform
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from poissongrad.experiments.registry import EXPERIMENTS
from poissongrad.experiments.sweep import ResultsError, RowStore, atomic_write
from poissongrad.report.rating import CRITERIA, RULE, rate_methods

__all__ = [
    "GENERATOR",
    "check_outputs_are_ours",
    "load_results",
    "practitioner_summary",
    "read_guide_meta",
    "write_guide_meta",
    "write_report",
]

#: The tag every file written by the guide or the report carries.
GENERATOR = "poissongrad-guide"
OUTPUTS = ("report.md", "report.html", "guide.json")

CRITERION_TITLES = {
    "fidelity": "Distributional fidelity",
    "bias": "Gradient bias",
    "variance": "Gradient variance",
    "robustness": "Temperature robustness",
    "generalisability": "Generalisability",
}


def check_outputs_are_ours(out: Path) -> None:
    """``ResultsError`` if ``out`` is a file, or holds a report or guide.json we did not write.

    Called before anything is written, so that a refusal touches nothing.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ResultsError(f"--out {out} is a file, not a directory")
    for name in OUTPUTS:
        path = out / name
        if not path.exists():
            continue
        try:
            ours = GENERATOR in path.read_text(errors="replace")[:2000]
        except OSError as err:
            raise ResultsError(f"cannot read {path}: {err}") from None
        if not ours:
            raise ResultsError(
                f"{path} exists and was not written by poissongrad; move it away or choose "
                "another --out (nothing was written)"
            )


def read_guide_meta(out: Path) -> dict:
    """The guide's run description from ``out/guide.json`` ({} if there is none)."""
    path = Path(out) / "guide.json"
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text())
        if not isinstance(meta, dict) or meta.get("generator") != GENERATOR:
            raise ValueError("not a poissongrad guide description")
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as err:
        raise ResultsError(
            f"{path} is corrupt ({err}); move it away and rerun 'poissongrad guide' "
            "(finished jobs are kept)"
        ) from None
    return meta


def load_results(out: Path) -> dict[str, pd.DataFrame]:
    """Rows of the last recorded run of every experiment found under ``out``.

    Experiments without a store are left out; a store without a recorded run gives all its
    rows.
    """
    results = {}
    for name in EXPERIMENTS:
        if (out / name / "store.json").exists():
            store = RowStore(out / name, name)
            keys, _ = store.selection()
            rows = store.rows(keys)
            if len(rows):
                results[name] = rows
    if not results:
        raise ResultsError(f"no stored results under {out}; run 'poissongrad guide' first")
    return results


def write_guide_meta(out: Path, meta: dict) -> None:
    """Store the guide's run description (atomically, tagged as ours) for the report."""
    check_outputs_are_ours(out)
    atomic_write(out / "guide.json", json.dumps({"generator": GENERATOR, **meta}, indent=1))


def replicates_text(name: str, rows: pd.DataFrame) -> str:
    """'Each number averages over seed ∈ {0, 1}, network ∈ {0, 1, 2}.' for an experiment."""
    parts = []
    for column in EXPERIMENTS[name].replicates:
        if column in rows:
            values = ", ".join(str(v) for v in sorted(rows[column].unique()))
            parts.append(f"{column} ∈ {{{values}}}")
    return f"Each number averages over {', '.join(parts)}." if parts else ""


def _software() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("poissongrad", "torch", "numpy", "scipy", "pandas", "matplotlib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _machine() -> dict[str, str]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": str(os.cpu_count()),
    }


def _star_text(value: float) -> str:
    return "n/a" if not np.isfinite(value) else "★" * int(value) + "☆" * (5 - int(value))


def _rating_display(ratings: pd.DataFrame) -> pd.DataFrame:
    shown = pd.DataFrame(index=ratings.index)
    for crit in CRITERIA:
        shown[CRITERION_TITLES[crit]] = ratings[crit].map(_star_text)
    shown["Recommendation"] = ratings.recommendation.replace("", "—")
    return shown


def _numbers_display(ratings: pd.DataFrame) -> pd.DataFrame:
    cols = {
        "fidelity_value": "mean W1/√λ",
        "bias_value": "mean rel. bias",
        "variance_value": "geo-mean rel. variance",
        "robustness_value": "rel. degradation over τ",
    }
    return ratings[list(cols)].rename(columns=cols).round(4)


def practitioner_summary(ratings: pd.DataFrame) -> list[str]:
    """Plain-language advice, derived from the ratings (one sentence per point)."""
    lines = []
    by_rec = {rec: m for m, rec in ratings.recommendation.items() if rec}

    def numbers(m: str) -> str:
        r = ratings.loc[m]
        return (
            f"mean W1/√λ {r.fidelity_value:.3f}, relative gradient bias {r.bias_value:.3f}, "
            f"relative variance {r.variance_value:.2f}"
        )

    if "Default choice" in by_rec:
        m = by_rec["Default choice"]
        lines.append(
            f"Start with `{m}`: it has the most stars over all five criteria "
            f"({int(ratings.loc[m, 'total'])} of 25; {numbers(m)})."
        )
    if "Max smoothness" in by_rec:
        m = by_rec["Max smoothness"]
        lines.append(
            f"If gradient noise is what hurts, `{m}` has the lowest-variance gradients "
            f"among the other pathwise methods ({numbers(m)})."
        )
    if "Non-Poisson data" in by_rec:
        m = by_rec["Non-Poisson data"]
        lines.append(
            f"For count laws other than Poisson (negative binomial, COM-Poisson), "
            f"`{m}` applies to any log-pmf on a truncated support; mind its "
            f"temperature ({numbers(m)})."
        )
    if "Unbiased reference" in by_rec:
        m = by_rec["Unbiased reference"]
        lines.append(
            f"`{m}` is unbiased and needs no temperature, but its gradients are noisy "
            f"(relative variance {ratings.loc[m, 'variance_value']:.1f}); use it to "
            f"check a relaxation, or with many samples."
        )
    fragile = ratings[ratings.robustness <= 1].index.tolist()
    if fragile:
        listed = ", ".join(f"`{m}`" for m in fragile)
        lines.append(
            f"Tune the temperature carefully for {listed}: their task results degrade "
            f"most across τ."
        )
    return lines


def _flatten(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    if isinstance(table.columns, pd.MultiIndex):
        table.columns = [
            " ".join(f"τ={c:g}" if isinstance(c, float) else str(c) for c in col)
            for col in table.columns
        ]
    return table


def _markdown_table(table: pd.DataFrame) -> str:
    table = _flatten(table)
    header = [str(table.index.name or "")] + [str(c) for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for idx, row in table.iterrows():
        cells = [str(idx)] + [
            "" if pd.isna(v) else f"{v:.4g}" if isinstance(v, float) else str(v) for v in row
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _html_table(table: pd.DataFrame) -> str:
    return _flatten(table).to_html(na_rep="", float_format=lambda v: f"{v:.4g}", border=0)


def write_report(out: Path) -> tuple[Path, Path]:
    """Regenerate figures and write ``report.md`` and ``report.html`` from stored rows.

    Returns:
        (path of report.md, path of report.html).
    """
    out = Path(out)
    check_outputs_are_ours(out)
    results = load_results(out)
    meta = read_guide_meta(out)
    ratings = rate_methods(results)
    sections = []
    for name, rows in results.items():
        sec = EXPERIMENTS[name]
        figures = [p.relative_to(out).as_posix() for p in sec.figures(rows, out / name)]
        stated = f"{len(rows)} stored rows. {replicates_text(name, rows)}".strip()
        sections.append((sec, sec.summary(rows), figures, stated))
    advice = practitioner_summary(ratings)
    run = {
        "scale": meta.get("scale", "unknown (report rebuilt without guide.json)"),
        "jobs": meta.get("jobs", ""),
        "finished": meta.get("finished", ""),
        "wall time (s)": f"{meta['wall_seconds']:.1f}" if "wall_seconds" in meta else "",
        **{f"{k} (s)": f"{v:.1f}" for k, v in meta.get("seconds", {}).items()},
    }
    software, machine = _software(), _machine()

    md = [f"<!-- generator: {GENERATOR} -->", ""]
    md += ["# poissongrad guide: Poisson gradient estimators compared", ""]
    md += ["## Which method to use", ""] + [f"- {line}" for line in advice] + [""]
    md += ["## Method ratings", "", _markdown_table(_rating_display(ratings)), ""]
    md += ["### How the stars are computed", "", RULE, ""]
    md += ["### The numbers behind the ratings", "", _markdown_table(_numbers_display(ratings)), ""]
    for sec, summary, figures, stated in sections:
        md += [f"## {sec.title}", "", sec.description, "", stated, ""]
        md += [_markdown_table(summary), ""] + [f"![{f}]({f})" for f in figures] + [""]
    md += ["## Run", ""] + [f"- {k}: {v}" for k, v in {**run, **software, **machine}.items()]
    md_path = out / "report.md"
    atomic_write(md_path, "\n".join(md) + "\n")

    e = html.escape
    body = [
        "<h1>poissongrad guide: Poisson gradient estimators compared</h1>",
        "<h2>Which method to use</h2>",
        "<ul>",
    ]
    body += [f"<li>{e(line).replace('`', '')}</li>" for line in advice] + ["</ul>"]
    body += [
        "<h2>Method ratings</h2>",
        _html_table(_rating_display(ratings)),
        "<h3>How the stars are computed</h3>",
        f"<pre>{e(RULE)}</pre>",
        "<h3>The numbers behind the ratings</h3>",
        _html_table(_numbers_display(ratings)),
    ]
    for sec, summary, figures, stated in sections:
        body += [
            f"<h2>{e(sec.title)}</h2>",
            f"<p>{e(sec.description)} {e(stated)}</p>",
            _html_table(summary),
        ]
        body += [
            f'<p><img src="{e(f)}" alt="{e(f)}" style="max-width:100%" /></p>' for f in figures
        ]
    body += ["<h2>Run</h2>", "<ul>"]
    body += [f"<li>{e(k)}: {e(str(v))}</li>" for k, v in {**run, **software, **machine}.items()]
    body += ["</ul>"]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8" />'
        f'<meta name="generator" content="{GENERATOR}" />'
        "<title>poissongrad guide</title><style>body{font-family:sans-serif;max-width:75em;"
        "margin:auto} table{border-collapse:collapse;font-size:0.85em} td,th{padding:2px 6px;"
        "border-bottom:1px solid #ddd;text-align:right}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
    html_path = out / "report.html"
    atomic_write(html_path, page)
    return md_path, html_path
