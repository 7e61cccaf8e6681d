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

import hashlib
import html
import json
import math
import os
import platform
import re
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from poissongrad.atomic import atomic_write
from poissongrad.experiments.grids import SEED_BLOCK
from poissongrad.experiments.registry import EXPERIMENTS
from poissongrad.experiments.sweep import ResultsError, RowStore, write_csv
from poissongrad.registry import REGISTRY
from poissongrad.report.claims import RULES, check_claims
from poissongrad.report.rating import (
    CRITERIA,
    RULE,
    Recommendation,
    decision,
    rate_methods,
)
from poissongrad.report.verdicts import ALPHA, LOOKS, MARGINS, Verdict

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


def _tag(text: str) -> str:
    """``text`` behind a first line that only poissongrad writes: the generator and the SHA-256
    of the rest, so a file the user wrote, or edited since, is never taken for ours."""
    return f"<!-- {GENERATOR} sha256={_digest(text)} -->\n{text}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


_TAG = re.compile(rf"<!-- {GENERATOR} sha256=([0-9a-f]{{64}}) -->")


def _is_ours(path: Path) -> bool:
    """Whether ``path`` is a report or guide.json poissongrad wrote and nobody changed since."""
    raw = path.read_text(errors="replace")
    if path.suffix == ".json":
        try:
            payload = json.loads(raw)
        except json.JSONDecodeError:
            return False
        if not isinstance(payload, dict) or payload.get("generator") != GENERATOR:
            return False
        body = {k: v for k, v in payload.items() if k != "sha256"}
        return payload.get("sha256") == _digest(json.dumps(body, sort_keys=True))
    first, _, rest = raw.partition("\n")
    match = _TAG.fullmatch(first)
    return match is not None and match.group(1) == _digest(rest)


def check_outputs_are_ours(out: Path) -> None:
    """``ResultsError`` if ``out`` is a file, a folder of something else, or holds a report or
    guide.json we did not write (or that was changed since).

    Called before anything is written, so that a refusal touches nothing.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ResultsError(f"--out {out} is a file, not a directory")
    if out.is_dir():
        ours = {*OUTPUTS, *EXPERIMENTS}
        foreign = sorted(p.name for p in out.iterdir() if p.name not in ours and not
                         (p.name.startswith(".") and p.name.endswith(".tmp")))
        if foreign:
            raise ResultsError(
                f"--out {out} holds files poissongrad did not write ({foreign[:5]}); choose an "
                "empty or new folder (nothing was written)"
            )
    for name in OUTPUTS:
        path = out / name
        if not path.exists():
            continue
        try:
            ours = _is_ours(path)
        except OSError as err:
            raise ResultsError(f"cannot read {path}: {err}") from None
        if not ours:
            raise ResultsError(
                f"{path} exists and was not written by poissongrad (or was edited since); move "
                "it away or choose another --out (nothing was written)"
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
        seconds = meta.get("seconds", {})
        numbers = [meta.get("wall_seconds", 0.0), *seconds.values()]
        if not all(isinstance(v, (int, float)) for v in numbers):
            raise ValueError("its timings are not numbers")
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, AttributeError) as err:
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
            if not len(rows):
                raise ResultsError(
                    f"{out / name} holds no rows for its last run; rerun 'poissongrad {name}' "
                    f"--out {out}"
                )
            results[name] = EXPERIMENTS[name].check_stored(rows, str(out / name))
    if not results:
        raise ResultsError(f"no stored results under {out}; run 'poissongrad guide' first")
    return results


def write_guide_meta(out: Path, meta: dict) -> None:
    """Store the guide's run description (atomically, tagged as ours) for the report."""
    check_outputs_are_ours(out)
    body = {"generator": GENERATOR, **meta}
    body["sha256"] = _digest(json.dumps(body, sort_keys=True))
    atomic_write(out / "guide.json", json.dumps(body, indent=1))


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


def _pm(value: float, se: float, digits: int = 3) -> str:
    """'0.123 ± 0.004' (or the value alone without an SE; '' for NaN)."""
    if value is None or not np.isfinite(value):
        return ""
    if se is None or not np.isfinite(se) or se == 0:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} ± {se:.{digits}f}"


def _resolved_stars(value: float, low: float, high: float) -> str:
    """Stars of the point estimate, with the range its interval spans when that is not one
    star count: '★★★★☆ (3–5: unresolved)'."""
    text = _star_text(value)
    if np.isfinite(value) and np.isfinite(low) and np.isfinite(high) and low != high:
        text += f" ({int(low)}–{int(high)}: unresolved)"
    return text


def _rating_display(ratings: pd.DataFrame, paper: bool) -> pd.DataFrame:
    shown = pd.DataFrame(index=ratings.index)
    for crit in CRITERIA:
        shown[CRITERION_TITLES[crit]] = [
            _resolved_stars(v, lo, hi)
            for v, lo, hi in zip(
                ratings[crit], ratings[f"{crit}_low"], ratings[f"{crit}_high"], strict=True
            )
        ]
    stated = ratings.generalisability_stated.astype(bool)
    column = CRITERION_TITLES["generalisability"]
    shown[column] = shown[column].astype(object)  # an all-empty column is not float
    shown.loc[stated, column] = shown.loc[stated, column].astype(str) + " (stated)"
    shown["Recommendation here"] = ratings.recommendation.replace("", "—")
    if paper:
        shown["Paper's recommendation"] = ratings.paper_recommendation.replace("", "—")
    return shown


def _numbers_display(ratings: pd.DataFrame) -> pd.DataFrame:
    def column(value: str, se: str | None, digits: int) -> list[str]:
        errors = ratings[se] if se else [math.nan] * len(ratings)
        return [_pm(v, s, digits) for v, s in zip(ratings[value], errors, strict=True)]

    shown = pd.DataFrame(index=ratings.index)
    shown["mean W1/√λ"] = column("fidelity_value", None, 4)
    shown["mean rel. bias ± SE"] = column("bias_value", "bias_se", 4)
    shown["geo-mean rel. variance at equal cost"] = column("variance_value", None, 3)
    shown["rel. spread over τ ± SE"] = column("robustness_value", "robustness_se", 4)
    shown["generalisability: rel. gap ± SE (laws)"] = [
        f"{text} ({laws})" if text else ""
        for text, laws in zip(
            column("generalisability_value", "generalisability_se", 4),
            ratings.generalisability_laws,
            strict=True,
        )
    ]
    shown["VAE gap to exact ± SE (nats)"] = column("vae_gap", "vae_gap_se", 2)
    shown["POGLM gap to score_loo ± SE (nats)"] = column("poglm_gap", "poglm_gap_se", 2)
    return shown


def practitioner_summary(ratings: pd.DataFrame) -> list[str]:
    """Plain-language advice, derived from the ratings (one sentence per point)."""
    lines = []
    by_rec = {rec: m for m, rec in ratings.recommendation.items() if rec}
    comparisons = ratings.attrs.get("comparisons")
    leader, _, resolved = (
        decision(comparisons, "Default choice") if comparisons is not None else (None, [], False)
    )
    if leader is not None and leader in ratings.index:
        r = ratings.loc[leader]
        tied = [t for t in ratings.index[ratings.tied_with_default.astype(bool)]]
        tie_text = (
            f" Equivalent to it within the margin: {', '.join(f'`{t}`' for t in tied)}."
            if tied
            else ""
        )
        gap = (
            f"held-out negative ELBO {r.vae_gap:+.2f} ± {r.vae_gap_se:.2f} nats from the exact "
            f"run, averaged over final temperatures, {int(r.vae_seeds)} seeds"
        )
        if resolved:
            lines.append(
                f"Start with `{leader}`: of the paper's three methods it comes closest to "
                f"exact-gradient training of the Poisson VAE ({gap})." + tie_text
            )
        else:
            open_ = comparisons[
                (comparisons.statement == "Default choice")
                & (comparisons.verdict == Verdict.UNRESOLVED)
            ].a.tolist()
            lines.append(
                f"The Default choice is unresolved: `{leader}` comes closest to exact-gradient "
                f"training of the Poisson VAE ({gap}), but its comparison with "
                f"{', '.join(f'`{m}`' for m in open_)} is not decided by the seeds run (see "
                "the verdicts)." + tie_text
            )
    if Recommendation.SMOOTH in by_rec:
        m = by_rec[Recommendation.SMOOTH]
        lines.append(
            f"If gradient noise is what hurts, `{m}` has the lower-variance gradients of the "
            f"other two (geometric-mean relative variance {ratings.loc[m, 'variance_value']:.2f})."
        )
    if Recommendation.NON_POISSON in by_rec:
        m = by_rec[Recommendation.NON_POISSON]
        r = ratings.loc[m]
        if bool(r.generalisability_stated):
            evidence = "a stated property, not measured in this run"
        else:
            evidence = (
                f"measured on {r.generalisability_laws} latents: held-out ELBO within "
                f"{100 * r.generalisability_value:.2f}% of the best method on average"
            )
        lines.append(
            f"For count laws other than Poisson (negative binomial, COM-Poisson), `{m}` "
            f"applies to any log-pmf on a truncated support ({evidence}); mind its temperature."
        )
    better = [m for m, rec in ratings.recommendation.items() if rec == Recommendation.BETTER]
    if better:
        listed = ", ".join(f"`{m}` ({ratings.loc[m, 'vae_gap']:+.2f})" for m in better)
        lines.append(
            f"Beyond the paper, {listed} trained the VAE closer to exact than the default."
        )
    if Recommendation.UNBIASED in by_rec:
        m = by_rec[Recommendation.UNBIASED]
        lines.append(
            f"`{m}` is unbiased and needs no temperature, but its gradients are noisy "
            f"(relative variance {ratings.loc[m, 'variance_value']:.1f}); use it to "
            f"check a relaxation, or with many samples."
        )
    if Recommendation.UNBIASED_LOW_VARIANCE in by_rec:
        lines.append(unbiased_advice(ratings, by_rec[Recommendation.UNBIASED_LOW_VARIANCE]))
    fragile = ratings[ratings.robustness <= 2].index.tolist()
    if fragile:
        listed = ", ".join(f"`{m}`" for m in fragile)
        lines.append(
            f"Tune the temperature carefully for {listed}: "
            + ("its" if len(fragile) == 1 else "their")
            + " task results spread most across τ."
        )
    return lines


def unbiased_advice(ratings: pd.DataFrame, m: str) -> str:
    """When the unbiased control-variate method ``m`` is worth its cost, by rules fixed in
    advance: its gradient variance at equal cost against the score function's (lower or not),
    and its paired VAE verdict against the default (better, equivalent, worse, unresolved)."""
    r = ratings.loc[m]
    cost = REGISTRY[m].cost.per_sample
    parts = [
        f"`{m}` is unbiased (mean relative bias {_pm(r.bias_value, r.bias_se, 4)}) and spends "
        f"{cost} evaluation{'s' if cost != 1 else ''} of f per sample; its gradient variance at "
        f"equal cost is {r.variance_value:.2f}"
    ]
    reference = ratings.index[ratings.recommendation == Recommendation.UNBIASED]
    if len(reference) and np.isfinite(ratings.loc[reference[0], "variance_value"]):
        ref = ratings.loc[reference[0], "variance_value"]
        word = "less" if r.variance_value < ref else "more"
        parts.append(
            f"{abs(ref / r.variance_value if word == 'less' else r.variance_value / ref):.1f}× "
            f"{word} than `{reference[0]}`'s ({ref:.2f})"
        )
    text = ", ".join(parts) + "."
    default = ratings.index[ratings.recommendation == Recommendation.DEFAULT]
    if not len(default) or not np.isfinite(r.vae_gap):
        return text + " The VAE experiment did not run it, so its worth on a task is not measured."
    d = ratings.loc[default[0]]
    gaps = (
        f"VAE gap to exact {r.vae_gap:+.2f} ± {r.vae_gap_se:.2f} nats against "
        f"{d.vae_gap:+.2f} ± {d.vae_gap_se:.2f} for the default `{default[0]}`"
    )
    verdict = {
        Verdict.BETTER: "it trains closer to exact than the default: worth its cost",
        Verdict.EQUIVALENT: "equivalent to the default within the margin: worth its cost only "
        "where an unbiased gradient itself matters (a relaxation's bias that shows, checks of "
        "other estimators)",
        Verdict.WORSE: "the default trains closer to exact: not worth its cost for this task; "
        "use it where unbiasedness is required",
    }.get(r.vae_verdict, "unresolved against the default with the seeds run")
    return f"{text} {gaps}: {verdict}."


def _unresolved(ratings: pd.DataFrame, statement: str) -> str:
    """'`a` against `b`, …' for the unresolved comparisons of a recommendation ('' if none)."""
    comparisons = ratings.attrs.get("comparisons")
    if comparisons is None:
        return ""
    lines = comparisons[
        (comparisons.statement == statement) & (comparisons.verdict == Verdict.UNRESOLVED)
    ]
    return ", ".join(f"`{a}` against `{b}`" for a, b in zip(lines.a, lines.b, strict=True))


def disagreements(ratings: pd.DataFrame) -> list[str]:
    """Where the recommendations computed here differ from the paper's, with the numbers."""
    paper = ratings[ratings.table == "paper"]
    lines = []
    for method, theirs in paper.paper_recommendation.items():
        ours = paper.loc[method, "recommendation"]
        if ours == theirs or not theirs:
            continue
        holder = paper.index[paper.recommendation == theirs]
        if theirs == Recommendation.DEFAULT and len(holder):
            h = holder[0]
            lines.append(
                f"Default choice: the paper's is `{method}`, here `{h}`: VAE gap to exact "
                f"{paper.loc[h, 'vae_gap']:+.2f} ± {paper.loc[h, 'vae_gap_se']:.2f} nats against "
                f"{paper.loc[method, 'vae_gap']:+.2f} ± {paper.loc[method, 'vae_gap_se']:.2f}"
                + (
                    " (equivalent within the margin: a tie)."
                    if bool(paper.loc[method, "tied_with_default"])
                    else "."
                )
            )
        elif theirs == Recommendation.SMOOTH and len(holder):
            h = holder[0]
            lines.append(
                f"Max smoothness: the paper's is `{method}`, here `{h}`: geometric-mean relative "
                f"variance {paper.loc[h, 'variance_value']:.2f} against "
                f"{paper.loc[method, 'variance_value']:.2f}."
            )
        else:
            open_ = _unresolved(ratings, theirs)
            lines.append(
                f"{theirs}: the paper's is `{method}`; here "
                + (
                    f"`{holder[0]}`."
                    if len(holder)
                    else f"unresolved ({open_})."
                    if open_
                    else "no method gets it."
                )
            )
    return lines or ["None: the three recommendations agree with the paper's Table 1."]


def verdict_table(comparisons: pd.DataFrame) -> pd.DataFrame:
    """One line per paired verdict: what it decides, the pair, the replicates, Δ ± SE, the
    interval's half width, the margin and the verdict."""

    def number(v: float) -> str:
        return "" if not np.isfinite(v) else f"{v:+.3f}" if abs(v) < 100 else f"{v:+.1f}"

    shown = pd.DataFrame(
        {
            "decides": comparisons.statement,
            "A − B": [f"{a} − {b}" for a, b in zip(comparisons.a, comparisons.b, strict=True)],
            "paired over": [f"{n} {what}" for n, what in
                            zip(comparisons.n, comparisons.replicates, strict=True)],
            "Δ ± SE": [f"{number(d)} ± {abs(se):.3f}" if np.isfinite(se) else number(d)
                       for d, se in zip(comparisons.delta, comparisons.se, strict=True)],
            "interval": [f"{number(d - h)} … {number(d + h)}" if np.isfinite(h) else "—"
                         for d, h in zip(comparisons.delta, comparisons.half_width,
                                         strict=True)],
            "margin ±": [f"{m:.3f} {u}" for m, u in
                         zip(comparisons.margin, comparisons.unit, strict=True)],
            "verdict": comparisons.verdict.astype(str),
        }
    )
    shown.index = pd.RangeIndex(1, len(shown) + 1, name="#")
    return shown


def margins_text() -> list[str]:
    """The margins of practical equivalence and the sequential design, one line each."""
    lines = [
        f"{name}: ±{m.size:.4g} {m.unit}; why: {m.reason}." for name, m in MARGINS.items()
    ]
    lines.append(
        f"Sequential design: blocks of {SEED_BLOCK} seeds, at most {LOOKS}; after the first, "
        "a block runs only the jobs of the comparisons still unresolved. Each look uses a "
        f"two-sided {100 * (1 - ALPHA / LOOKS):.2f}% t interval (Bonferroni over the "
        f"{LOOKS} looks), so a comparison ends on a wrong resolved verdict with a chance of "
        f"at most {100 * ALPHA / 2:.0f}%."
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


# A report is a list of blocks, rendered once to Markdown and once to HTML.
Block = tuple[str, object]


def _render_markdown(blocks: list[Block]) -> str:
    md = []
    for kind, value in blocks:
        if kind in ("h1", "h2", "h3"):
            md += ["#" * int(kind[1]) + " " + str(value), ""]
        elif kind == "p":
            md += [str(value), ""]
        elif kind == "pre":
            md += [str(value), ""]
        elif kind == "list":  # lines may quote stored text: no raw HTML gets through
            md += [f"- {html.escape(str(line), quote=False)}" for line in value] + [""]
        elif kind == "table":
            md += [_markdown_table(value), ""]
        elif kind == "images":
            md += [f"![{f}]({f})" for f in value] + [""]
    return _tag("\n".join(md) + "\n")


def _render_html(blocks: list[Block]) -> str:
    e = html.escape
    body = []
    for kind, value in blocks:
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{e(str(value))}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{e(str(value))}</p>")
        elif kind == "pre":
            body.append(f"<pre>{e(str(value))}</pre>")
        elif kind == "list":
            body += ["<ul>"] + [f"<li>{e(line).replace('`', '')}</li>" for line in value]
            body.append("</ul>")
        elif kind == "table":
            body.append(_html_table(value))
        elif kind == "images":
            body += [
                f'<p><img src="{e(f)}" alt="{e(f)}" style="max-width:100%" /></p>' for f in value
            ]
    return _tag(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8" />'
        f'<meta name="generator" content="{GENERATOR}" />'
        "<title>poissongrad guide</title><style>body{font-family:sans-serif;max-width:75em;"
        "margin:auto} table{border-collapse:collapse;font-size:0.85em} td,th{padding:2px 6px;"
        "border-bottom:1px solid #ddd;text-align:right}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _claims_table(claims) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "verdict": [c.verdict for c in claims],
            "evidence": [c.evidence for c in claims],
            "figure": [c.figure for c in claims],
        },
        index=[c.claim for c in claims],
    )
    table.index.name = "claim (paper)"
    return table


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
        ("h1", "poissongrad guide: Poisson gradient estimators compared"),
        ("h2", "Which method to use"),
        ("list", practitioner_summary(ratings)),
        ("h2", "Method ratings: the paper's three methods"),
        ("table", _rating_display(paper, paper=True)),
        ("h3", "Where this differs from the paper's Table 1"),
        ("list", disagreements(ratings)),
        (
            "h2",
            "Beyond the paper: straight-through variants, other indicators, score function, "
            "unbiased control variates",
        ),
        ("table", _rating_display(beyond, paper=False)),
        ("h3", "How the stars are computed"),
        ("pre", RULE),
        ("h3", "The numbers behind the ratings"),
        ("table", _numbers_display(ratings)),
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
        ("table", _claims_table(claims)),
        ("p", RULES),
    ]
    for sec, summary, figures, stated in sections:
        blocks += [("h2", sec.title), ("p", f"{sec.description} {stated}"), ("table", summary)]
        blocks.append(("images", figures))
    details = {**run, **_software(), **_machine()}
    blocks += [("h2", "Run"), ("list", [f"{k}: {v}" for k, v in details.items()])]
    md_path, html_path = out / "report.md", out / "report.html"
    atomic_write(md_path, _render_markdown(blocks))
    atomic_write(html_path, _render_html(blocks))
    return md_path, html_path
