"""The guide's own files: which outputs are ours, the run description, the stored rows.

The guide and the report write only files they created: each carries a generator tag
(:data:`GENERATOR`), and an existing ``report.md``, ``report.html`` or ``guide.json`` without it
(or changed since) is an error, with nothing touched. Each experiment's rows are those of its last
recorded run (``selection.json``).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pandas as pd

from poissongrad.experiments.registry import EXPERIMENTS
from poissongrad.experiments.sweep import ResultsError, RowStore
from poissongrad.utils.atomic import atomic_write

__all__ = [
    "GENERATOR",
    "OUTPUTS",
    "check_outputs_are_ours",
    "load_results",
    "read_guide_meta",
    "tag",
    "write_guide_meta",
]

#: The tag every file written by the guide or the report carries.
GENERATOR = "poissongrad-guide"
OUTPUTS = ("report.md", "report.html", "guide.json")


def tag(text: str) -> str:
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


