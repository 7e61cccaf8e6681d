"""Copy a guide run's report and figures into the documentation (docs/report/).

    python docs/update_report.py results      # after `poissongrad guide --out results`

The report page of the site is that run's ``report.md``, unchanged, with its figures beside it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from poissongrad.utils.atomic import atomic_write

HERE = Path(__file__).resolve().parent / "report"


def main(results: Path) -> None:
    report = results / "report.md"
    if not report.exists():
        raise SystemExit(f"{report} not found: run `poissongrad guide --out {results}` first")
    if HERE.exists():
        shutil.rmtree(HERE)
    HERE.mkdir()
    atomic_write(HERE / "index.md", report.read_bytes())
    for figure in results.glob("*/*.png"):
        (HERE / figure.parent.name).mkdir(exist_ok=True)
        atomic_write(HERE / figure.parent.name / figure.name, figure.read_bytes())
    print(f"copied {report} and its figures into {HERE}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "results"))
