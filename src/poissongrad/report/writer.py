"""The guide's report: Markdown and HTML, made only from stored rows (rebuildable any time).

``OUT/report.md`` and ``OUT/report.html`` hold a practitioner's summary, the method-rating table
with its rule and the numbers behind it, the verdicts behind the recommendations, the paper's
claims checked, each experiment's summary table and figures (linked PNGs under
``OUT/<experiment>/``), and the run's configuration, software, machine and wall time (from
``OUT/guide.json`` when the guide wrote one). This module assembles the blocks; the words come
from :mod:`~poissongrad.report.prose`, the files from :mod:`~poissongrad.report.files`, the
rendering from :mod:`~poissongrad.report.render`.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

import pandas as pd

from poissongrad.experiments.registry import EXPERIMENTS
from poissongrad.experiments.sweep import write_csv
from poissongrad.report.claims import RULES, check_claims
from poissongrad.report.files import (
    GENERATOR,
    check_outputs_are_ours,
    load_results,
    read_guide_meta,
    tag,
)
from poissongrad.report.prose import (
    claims_table,
    disagreements,
    margins_text,
    numbers_display,
    practitioner_summary,
    rating_display,
    verdict_table,
)
from poissongrad.report.rating import RULE, rate_methods
from poissongrad.report.render import Block, to_html, to_markdown
from poissongrad.utils.atomic import atomic_write

__all__ = ["replicates_text", "write_report"]

TITLE = "poissongrad guide: Poisson gradient estimators compared"


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
    claims = check_claims(results, ratings)
    sections = []
    for name, rows in results.items():
        sec = EXPERIMENTS[name]
        write_csv(rows, out / name / "rows.csv")  # merged shards get their table here
        figures = [p.relative_to(out).as_posix() for p in sec.figures(rows, out / name)]
        stated = f"{len(rows)} stored rows. {replicates_text(name, rows)}".strip()
        if sec.notes is not None:
            stated += " " + sec.notes(rows)
        sections.append((sec, sec.summary(rows), figures, stated))
    run = {
        "scale": meta.get("scale", "unknown (report rebuilt without guide.json)"),
        "jobs": meta.get("jobs", ""),
        "finished": meta.get("finished", ""),
        "wall time (s)": f"{meta['wall_seconds']:.1f}" if "wall_seconds" in meta else "",
        **{f"{k} (s)": f"{v:.1f}" for k, v in meta.get("seconds", {}).items()},
    }
    paper = ratings[ratings.table == "paper"]
    beyond = ratings[ratings.table == "beyond"]
    blocks: list[Block] = [
        ("h1", TITLE),
        ("h2", "Which method to use"),
        ("list", practitioner_summary(ratings)),
        ("h2", "Method ratings: the paper's three methods"),
        ("table", rating_display(paper, paper=True)),
        ("h3", "Where this differs from the paper's Table 1"),
        ("list", disagreements(ratings)),
        (
            "h2",
            "Beyond the paper: straight-through variants, other indicators, score function, "
            "unbiased control variates",
        ),
        ("table", rating_display(beyond, paper=False)),
        ("h3", "How the stars are computed"),
        ("md", RULE),
        ("h3", "The numbers behind the ratings"),
        ("table", numbers_display(ratings)),
        ("h3", "The verdicts behind the recommendations"),
        (
            "p",
            "Each line compares two methods on differences paired by seed (or by grid cell), "
            "A − B with lower better: better when the whole interval lies below −margin, worse "
            "above +margin, equivalent inside (−margin, +margin), unresolved otherwise. The "
            "margins were fixed in the code before any run:",
        ),
        ("list", margins_text()),
        ("table", verdict_table(ratings.attrs["comparisons"])),
        ("h2", "The paper's claims, checked"),
        ("table", claims_table(claims)),
        ("p", RULES),
    ]
    for sec, summary, figures, stated in sections:
        blocks += [("h2", sec.title), ("p", f"{sec.description} {stated}"), ("table", summary)]
        blocks.append(("images", figures))
    details = {**run, **_software(), **_machine()}
    blocks += [("h2", "Run"), ("list", [f"{k}: {v}" for k, v in details.items()])]
    md_path, html_path = out / "report.md", out / "report.html"
    markdown = to_markdown(blocks)
    atomic_write(md_path, tag(markdown))
    atomic_write(html_path, tag(to_html(markdown, TITLE, GENERATOR)))
    return md_path, html_path
