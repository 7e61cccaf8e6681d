"""What an extension costs: a new experiment is one module plus one registry line, a new
estimator one record; and the package's layers import downwards only, without cycles."""

import ast
from pathlib import Path

import pytest
import toy_experiment

import poissongrad
from poissongrad.cli import main
from poissongrad.experiments.registry import EXPERIMENTS
from poissongrad.registry import REGISTRY, Baseline, Estimator, register, tagged

PACKAGE = Path(poissongrad.__file__).parent


def test_a_toy_experiment_and_a_toy_estimator_run_through_the_guide_and_the_report(tmp_path):
    record = Estimator(
        "score_toy", "score", min_samples=2, baseline=Baseline.LOO, tags=frozenset({"rated"})
    )
    saved = dict(EXPERIMENTS)  # restored in its order: the guide runs experiments in order
    register(record)  # the estimator: one record
    try:
        assert "score_toy" in tagged("rated")
        EXPERIMENTS.clear()  # this test's guide runs the toy experiment alone
        EXPERIMENTS["toy"] = toy_experiment.EXPERIMENT  # the experiment: one line
        assert main(["guide", "--out", str(tmp_path), "--no-progress", "--jobs", "1"]) == 0
        assert main(["report", str(tmp_path)]) == 0
        assert main(["toy", "--out", str(tmp_path / "again"), "--no-progress"]) == 0
    finally:
        del REGISTRY["score_toy"]
        EXPERIMENTS.clear()
        EXPERIMENTS.update(saved)
    md = (tmp_path / "report.md").read_text()
    assert "## Toy experiment" in md and "![toy/toy.png](toy/toy.png)" in md
    toy_section = md.split("## Toy experiment")[1]
    assert "score_toy" in toy_section and "score_loo" in toy_section
    ratings = md.split("## Method ratings: the paper's three methods")[1].split("## ")[0]
    assert "score_toy" in md.split("Beyond the paper")[1].split("How the stars")[0]
    assert "eat_cubic" in ratings


def test_an_estimator_record_is_checked_and_names_are_unique():
    with pytest.raises(ValueError, match="unknown tags"):
        Estimator("x", "score", baseline=Baseline.LOO, tags=frozenset({"nonsense"}))
    with pytest.raises(ValueError, match="needs a baseline"):
        Estimator("x", "score", baseline="leave-one-out")
    with pytest.raises(ValueError, match="already registered"):
        register(Estimator("score_loo", "score", baseline=Baseline.LOO))
    with pytest.raises(ValueError, match="unknown tag"):
        tagged("papers")


def _imports(path: Path) -> set[str]:
    """poissongrad modules imported by ``path`` at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("poissongrad")
        ):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("poissongrad")}
    return found


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def test_layers_import_downwards_only():
    for name, path in _modules().items():
        imported = _imports(path)
        if name.startswith(("poissongrad.experiments", "poissongrad.models")):
            bad = {m for m in imported if m.startswith("poissongrad.report")}
            assert not bad, f"{name} imports the report: {bad}"
        if name.startswith("poissongrad.models"):
            bad = {m for m in imported if m.startswith("poissongrad.metrics")}
            assert not bad, f"{name} imports a metric: {bad}"


def test_there_is_no_import_cycle():
    modules = _modules()
    graph = {
        name: {m for m in _imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycle = trail[trail.index(nxt) :] + [nxt] if nxt in trail else [node, nxt]
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])
