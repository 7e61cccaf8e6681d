"""Rendering: the report's blocks to Markdown, and that Markdown to one HTML page.

Markdown is the single source: ``report.html`` is ``report.md`` rendered by markdown-it-py
(CommonMark with tables, raw HTML off, so stored text can never inject markup) inside a Jinja2
template. Table columns whose every cell is a number are right-aligned; prose is left-aligned.
"""

from __future__ import annotations

import html
import re
from importlib import resources

import jinja2
import pandas as pd
from markdown_it import MarkdownIt
from markupsafe import Markup

__all__ = ["Block", "markdown_table", "to_html", "to_markdown"]

#: One block of the report: (kind, value) with kind one of "h1", "h2", "h3", "p" (a paragraph
#: of text we wrote, Markdown allowed), "md" (Markdown we wrote, e.g. a nested list), "list"
#: (lines that may quote stored text), "table" (a DataFrame) or "images" (relative paths).
Block = tuple[str, object]

_NUMBER = re.compile(r"[+−-]?(\d[\d,]*\.?\d*(e[+-]?\d+)?|nan|inf)( ± [\d.e+-]+)?", re.I)


def _cell(value: object) -> str:
    """One table cell as Markdown: numbers to 4 significant digits, stored text escaped
    (HTML and the column separator)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def _flatten(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    if isinstance(table.columns, pd.MultiIndex):
        table.columns = [
            " ".join(f"τ={c:g}" if isinstance(c, float) else str(c) for c in col)
            for col in table.columns
        ]
    return table


def markdown_table(table: pd.DataFrame) -> str:
    """A DataFrame (its index as the first column) as a Markdown table."""
    table = _flatten(table)
    header = [_cell(table.index.name or "")] + [_cell(str(c)) for c in table.columns]
    body = [[_cell(idx)] + [_cell(v) for v in row] for idx, row in table.iterrows()]
    numeric = [
        bool(body) and all(not row[i] or _NUMBER.fullmatch(row[i]) for row in body)
        for i in range(len(header))
    ]
    rule = ["---:" if right else "---" for right in numeric]
    return "\n".join("| " + " | ".join(line) + " |" for line in [header, rule, *body])


def to_markdown(blocks: list[Block]) -> str:
    """The report's Markdown."""
    md: list[str] = []
    for kind, value in blocks:
        if kind in ("h1", "h2", "h3"):
            md.append("#" * int(kind[1]) + " " + str(value))
        elif kind in ("p", "md"):
            md.append(str(value))
        elif kind == "list":  # lines may quote stored text: no raw HTML gets through
            md.append("\n".join(f"- {html.escape(str(line), quote=False)}" for line in value))
        elif kind == "table":
            md.append(markdown_table(value))
        elif kind == "images":
            md.append("\n\n".join(f"![{f}]({f})" for f in value))
        else:
            raise ValueError(f"unknown report block {kind!r}")
        md.append("")
    return "\n".join(md)


def to_html(markdown: str, title: str, generator: str) -> str:
    """``markdown`` as a standalone HTML page (the template ``templates/report.html.j2``)."""
    parser = MarkdownIt("commonmark", {"html": False, "xhtmlOut": True}).enable("table")
    template = resources.files("poissongrad.report").joinpath("templates/report.html.j2")
    env = jinja2.Environment(autoescape=True, keep_trailing_newline=True)
    page = env.from_string(template.read_text(encoding="utf-8"))
    return page.render(body=Markup(parser.render(markdown)), title=title,
                       generator=generator)
