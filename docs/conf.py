"""Sphinx configuration of the poissongrad documentation (``make docs``)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import poissongrad

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

project = "poissongrad"
author = "the poissongrad developers"
copyright = "2026, the poissongrad developers"  # noqa: A001 (Sphinx's name)
version = release = poissongrad.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx.ext.intersphinx",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "tutorials/README.txt", "**/*.ipynb"]
html_theme = "furo"
html_title = f"poissongrad {release}"
#: The repository's home, as in pyproject.toml's [project.urls] (change both together).
SOURCE_URL = "https://github.com/poissongrad/poissongrad"
html_theme_options = {  # furo: "view source" and "edit" links on every page
    "source_repository": SOURCE_URL + "/",
    "source_branch": "main",
    "source_directory": "docs/",
}
templates_path = ["_templates"]
html_static_path = ["_static"]
html_css_files = ["poissongrad.css"]
autosummary_ignore_module_all = False
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

# API reference: generated from the docstrings (both NumPy and Google styles are in use).
autosummary_generate = True
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"
autodoc_member_order = "bysource"
napoleon_numpy_docstring = True
napoleon_google_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True
nitpicky = False
# Source pages link back to where each object is documented under its own module (a re-export
# under `poissongrad` would otherwise take the link to a page without that anchor).
viewcode_follow_imported_members = False

# Cross-references to torch, NumPy, SciPy and Pyro need their inventories from the web: only
# with POISSONGRAD_DOCS_ONLINE=1 (the build must work where only package registries answer).
intersphinx_mapping = (
    {
        "python": ("https://docs.python.org/3", None),
        "torch": ("https://pytorch.org/docs/stable", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
        "pyro": ("https://docs.pyro.ai/en/stable", None),
    }
    if os.environ.get("POISSONGRAD_DOCS_ONLINE") == "1"
    else {}
)

# Tutorials: every script of docs/tutorials runs when the site is built, and its figures are
# shown (POISSONGRAD_DOCS_FAST=1 skips running them, for a quick check of the rest).
sphinx_gallery_conf = {
    "examples_dirs": "tutorials",
    "gallery_dirs": "auto_tutorials",
    "filename_pattern": r"/plot_",
    "plot_gallery": "False" if os.environ.get("POISSONGRAD_DOCS_FAST") == "1" else "True",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "within_subsection_order": "FileNameSortKey",
}

# Docstrings write shapes as (*B, K), keywords as **options and norms as |x|: outside inline
# literals, examples and real emphasis (**bold**, *italic*) these are literal characters, not
# reStructuredText markup.
_STARS = re.compile(r"(?<=[(\[,\s])(\*{1,2})(?=[A-Za-z_(])")
_EMPHASIS = re.compile(r"(?<![\w*(\[\\])(\*{1,2})(?=[^\s*])[^*]*?[^\s*(]\1(?![\w*])")


def _escape_plain(text: str) -> str:
    """``text`` (no inline literal in it) with its stray stars and bars escaped."""
    kept, pieces, start = [], [], 0
    for match in _EMPHASIS.finditer(text):
        pieces.append(text[start:match.start()])
        kept.append(match.group(0))
        start = match.end()
    pieces.append(text[start:])
    escaped = [_STARS.sub(lambda m: "\\*" * len(m.group(1)), p).replace("|", "\\|")
               for p in pieces]
    return "".join(e + k for e, k in zip(escaped, [*kept, ""], strict=True))


def _literal_stars(app, what, name, obj, options, lines) -> None:
    for i, line in enumerate(lines):
        if line.lstrip().startswith((">>>", "...")):
            continue
        parts = line.split("``")
        for j in range(0, len(parts), 2):
            parts[j] = _escape_plain(parts[j])
        lines[i] = "``".join(parts)


def setup(app) -> None:
    app.connect("autodoc-process-docstring", _literal_stars)
