"""The command line: experiments run as documented, resume, and never lose or overwrite work."""

import dataclasses
import json
import os

import pandas as pd
import pytest

import poissongrad
from poissongrad import cli
from poissongrad.cli import build_parser, main
from poissongrad.experiments.registry import EXPERIMENTS
from poissongrad.experiments.sweep import job_key

#: The guide at the smoke scale: every experiment end to end in seconds.
GUIDE = ["guide", "--scale", "smoke"]


def test_the_quick_fidelity_experiment_writes_rows_figures_and_a_summary(tmp_path, capsys):
    assert main(["fidelity", "--out", str(tmp_path), "--no-progress"]) == 0
    out = tmp_path / "fidelity"
    rows = pd.read_csv(out / "rows.csv")
    assert len(rows) == 5 * (1 + 6 * 4)  # rates × (exact draws + relaxations × τ)
    assert set(EXPERIMENTS["fidelity"].columns()) <= set(rows.columns)
    assert len(list(out.glob("*.png"))) == 2
    assert "rows in" in capsys.readouterr().out
    # A second run finds every job stored and reproduces the same table.
    assert main(["fidelity", "--out", str(tmp_path), "--no-progress"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "rows.csv"), rows)


def test_a_gradients_run_stores_schema_rows_with_the_temperature_column(tmp_path):
    assert main(["gradients", "--grid", "smoke", "--out", str(tmp_path), "--no-progress"]) == 0
    rows = pd.read_csv(tmp_path / "gradients" / "rows.csv")
    assert set(EXPERIMENTS["gradients"].columns()) <= set(rows.columns)
    uses = rows.groupby("estimator").uses_temperature.first().to_dict()
    assert uses == {"eat_cubic": True, "score_loo": False}


@pytest.fixture(scope="module")
def smoke_guide(tmp_path_factory):
    """One whole smoke-scale guide run (read-only for the tests that use it)."""
    out = tmp_path_factory.mktemp("guide")
    assert main([*GUIDE, "--out", str(out), "--no-progress", "--jobs", "1"]) == 0
    return out


def test_the_guide_runs_every_registered_experiment_and_reports(smoke_guide):
    for name in EXPERIMENTS:
        assert (smoke_guide / name / "rows.csv").exists()
    md = (smoke_guide / "report.md").read_text()
    for spec in EXPERIMENTS.values():
        assert f"## {spec.title}" in md
    assert json.loads((smoke_guide / "guide.json").read_text())["scale"] == "smoke"


def test_guide_shards_run_disjoint_jobs_and_the_report_merges_them(smoke_guide, tmp_path, capsys):
    whole, sharded = smoke_guide, tmp_path / "sharded"
    for shard in ("1/2", "0/2"):  # any order, one --out, as the tasks of a scheduler array
        args = [*GUIDE, "--out", str(sharded), "--no-progress", "--jobs", "1", "--shard", shard]
        assert main(args) == 0
        assert "when every shard has finished: poissongrad report" in capsys.readouterr().out
        assert not (sharded / "report.md").exists()
        if shard == "1/2":  # the first shard ran one of the two jobs of every experiment
            for name in EXPERIMENTS:
                assert len(list((sharded / name / "jobs").glob("*.json"))) == 1
    assert main(["report", str(sharded)]) == 0
    for name in EXPERIMENTS:
        a = pd.read_csv(whole / name / "rows.csv")
        b = pd.read_csv(sharded / name / "rows.csv")
        columns = [c for c in a.columns if "seconds" not in c]  # timings differ
        pd.testing.assert_frame_equal(a[columns], b[columns])
    assert "## Method ratings" in (sharded / "report.md").read_text()


@pytest.mark.parametrize("shard", ["2/2", "-1/3", "1", "a/b"])
def test_a_bad_shard_is_an_argument_error(shard, capsys):
    with pytest.raises(SystemExit):
        main(["fidelity", f"--shard={shard}"])
    err = capsys.readouterr().err
    assert "expected I/N" in err or "need 0 <= I < N" in err


def test_runs_of_different_seeds_are_never_pooled(tmp_path):
    for seed in ("0", "1"):
        argv = ["fidelity", "--scale", "smoke", "--out", str(tmp_path), "--seed", seed]
        assert main([*argv, "--no-progress"]) == 0
    assert len(list((tmp_path / "fidelity" / "jobs").glob("*.json"))) == 4  # both kept
    rows = pd.read_csv(tmp_path / "fidelity" / "rows.csv")
    assert set(rows.seed) == {1}
    assert main(["report", str(tmp_path)]) == 0
    md = (tmp_path / "report.md").read_text()
    assert "Each number averages over seed ∈ {1}." in md and "seed ∈ {0" not in md


@pytest.mark.parametrize("name", ["report.md", "report.html", "guide.json"])
def test_guide_and_report_never_overwrite_a_file_they_did_not_write(tmp_path, capsys, name):
    assert main(["fidelity", "--scale", "smoke", "--out", str(tmp_path), "--no-progress"]) == 0
    mine = tmp_path / name
    mine.write_text("my own notes")
    for argv in (["report", str(tmp_path)], [*GUIDE, "--out", str(tmp_path), "--no-progress"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert "was not written by poissongrad" in err and "\n" not in err
        assert mine.read_text() == "my own notes"
    assert not (tmp_path / "gradients").exists()  # the guide refused before any work
    others = {"report.md", "report.html", "guide.json"} - {name}
    assert not any((tmp_path / other).exists() for other in others)


def test_the_report_rewrites_its_own_files_and_refuses_edited_or_imitated_ones(tmp_path):
    assert main(["fidelity", "--scale", "smoke", "--out", str(tmp_path), "--no-progress"]) == 0
    assert main(["report", str(tmp_path)]) == 0
    md = tmp_path / "report.md"
    first = md.read_text()
    assert first.startswith("<!-- poissongrad-guide sha256=")
    assert main(["report", str(tmp_path)]) == 0  # its own file: rewritten
    for text in (
        first.replace("Distributional fidelity", "My edit", 1),  # edited since: not ours
        "My notes on how I ran `poissongrad-guide` and poissongrad guide\n",  # mentions it
        "<!-- poissongrad-guide -->\nnotes\n",  # the old, imitable tag
    ):
        md.write_text(text)
        assert main(["report", str(tmp_path)]) == 2
        assert md.read_text() == text


def test_report_files_get_ordinary_permissions_and_escape_stored_html(tmp_path):
    assert main(["fidelity", "--scale", "smoke", "--out", str(tmp_path), "--no-progress"]) == 0
    from poissongrad.report.files import write_guide_meta

    write_guide_meta(tmp_path, {"scale": "<script>alert(1)</script>"})
    assert main(["report", str(tmp_path)]) == 0
    umask = os.umask(0)
    os.umask(umask)
    for name in ("report.md", "report.html", "guide.json", "fidelity/rows.csv"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
    for name in ("report.md", "report.html"):
        text = (tmp_path / name).read_text()
        assert "<script>" not in text and "&lt;script&gt;" in text


@pytest.mark.parametrize(
    "damage,match",
    [
        (lambda rows: [{**r, "w1": "lots"} for r in rows], "the text 'lots' in 'w1'"),
        (lambda rows: [{**r, "var_ratio": "2"} for r in rows], "the text '2' in 'var_ratio'"),
        (lambda rows: [{**r, "w1": True} for r in rows], "non-numbers in 'w1'"),
        (lambda rows: [{**r, "estimator": "eat_magic"} for r in rows], "config fields differ"),
        (lambda rows: [{**r, "w1": -1.0} for r in rows], "NaN, infinite or negative"),
        (lambda rows: [{**r, "w1": float("nan")} for r in rows], "NaN, infinite or negative"),
        (lambda rows: [{**r, "w1": float("inf")} for r in rows], "NaN, infinite or negative"),
        (lambda rows: [{k: v for k, v in r.items() if k != "w1"} for r in rows], "lack"),
        (lambda rows: [], "no rows"),
    ],
)
def test_stored_rows_with_bad_content_are_one_line_errors(tmp_path, capsys, damage, match):
    assert main(["fidelity", "--scale", "smoke", "--out", str(tmp_path), "--no-progress"]) == 0
    for path in (tmp_path / "fidelity" / "jobs").glob("*.json"):
        payload = json.loads(path.read_text())
        payload["rows"] = damage(payload["rows"])
        path.write_text(json.dumps(payload))
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and "\n" not in err


def test_a_job_file_holding_another_jobs_content_is_refused(tmp_path, capsys):
    assert main(["fidelity", "--grid", "smoke", "--out", str(tmp_path), "--no-progress"]) == 0
    first, second = sorted((tmp_path / "fidelity" / "jobs").glob("*.json"))
    second.write_text(first.read_text())
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "another job's config" in err and "\n" not in err


def test_selection_keys_cannot_point_outside_the_store(tmp_path, capsys):
    assert main(["fidelity", "--grid", "smoke", "--out", str(tmp_path), "--no-progress"]) == 0
    outside = tmp_path.parent / "planted.json"
    outside.write_text(json.dumps({"experiment": "fidelity", "rows": []}))
    selection = tmp_path / "fidelity" / "selection.json"
    payload = json.loads(selection.read_text())
    for key in ("../../planted", str(outside.with_suffix(""))):
        payload["keys"] = [key]
        selection.write_text(json.dumps(payload))
        assert main(["report", str(tmp_path)]) == 2
        assert "are not job keys" in capsys.readouterr().err


def test_a_read_only_out_is_a_one_line_error(tmp_path, capsys):
    if os.geteuid() == 0:  # root writes anyway: make the folder a file's child instead
        blocker = tmp_path / "file"
        blocker.write_text("x")
        out = blocker / "results"
    else:
        out = tmp_path / "ro"
        out.mkdir(mode=0o500)
    assert main(["fidelity", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("poissongrad: error:") and "\n" not in err


def test_out_naming_a_foreign_folder_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "thesis.tex").write_text("x")
    assert main(["guide", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "holds files poissongrad did not write" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.tex"]


def test_a_corrupt_guide_json_is_a_one_line_error(tmp_path, capsys):
    assert main(["fidelity", "--grid", "smoke", "--out", str(tmp_path), "--no-progress"]) == 0
    (tmp_path / "guide.json").write_text('{"generator": "poissongrad-guide", "scale": ')
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()  # unverifiable, so not ours: refused, untouched
    assert "guide.json exists and was not written by poissongrad" in err and "\n" not in err
    assert not (tmp_path / "report.md").exists()


def test_a_corrupt_store_file_says_how_to_recover_without_losing_jobs(tmp_path, capsys):
    assert main(["fidelity", "--grid", "smoke", "--out", str(tmp_path), "--no-progress"]) == 0
    broken = sorted((tmp_path / "fidelity" / "jobs").glob("*.json"))[0]
    broken.write_text('{"rows": [tru')
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "corrupt results file" in err and "move that one file away" in err
    assert "other finished jobs are kept" in err and "\n" not in err
    broken.unlink()  # the advice works: only that job runs again
    assert main(["fidelity", "--grid", "smoke", "--out", str(tmp_path), "--no-progress"]) == 0


def test_out_naming_a_file_is_a_one_line_error(tmp_path, capsys):
    target = tmp_path / "results.txt"
    target.write_text("x")
    for argv in (["fidelity", "--out", str(target)], ["guide", "--out", str(target)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert "is a file, not a directory" in err and "\n" not in err
    assert target.read_text() == "x"


def test_ctrl_c_is_a_one_line_message_and_keeps_finished_jobs(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_sweep", interrupted)
    assert main(["fidelity", "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err.strip()
    assert "interrupted" in err and "rerun the same command to resume" in err
    assert "Traceback" not in err and "\n" not in err


def test_jobs_zero_is_rejected(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fidelity", "--jobs", "0"])
    assert exit_info.value.code == 2 and "must be >= 1" in capsys.readouterr().err


def test_version_and_help_texts(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"poissongrad {poissongrad.__version__}"
    parser = build_parser()
    subparsers = [a for a in parser._actions if a.choices and isinstance(a.choices, dict)][0]
    assert set(EXPERIMENTS) | {"guide", "report"} == set(subparsers.choices)
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help text"


def test_a_foreign_results_directory_is_an_error_exit(tmp_path, capsys):
    (tmp_path / "fidelity").mkdir()
    (tmp_path / "fidelity" / "notes.txt").write_text("x")
    assert main(["fidelity", "--out", str(tmp_path)]) == 2
    assert "not a results store" in capsys.readouterr().err


def _fails(config):
    raise FloatingPointError("the loss went to NaN\nat epoch 3")


def test_a_failing_job_is_one_line_with_its_key(tmp_path, capsys, monkeypatch):
    spec = EXPERIMENTS["fidelity"]
    monkeypatch.setitem(EXPERIMENTS, "fidelity", dataclasses.replace(spec, run=_fails))
    assert main(["fidelity", "--grid", "smoke", "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    key = job_key(spec.configs("smoke")[0])
    assert "\n" not in err and "Traceback" not in err
    assert f"job {key} failed: FloatingPointError: the loss went to NaN at epoch 3" in err
    monkeypatch.setenv("POISSONGRAD_TRACEBACK", "1")
    assert main(["fidelity", "--grid", "smoke", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_scale_names_the_grid_everywhere_and_grid_is_its_alias():
    parser = build_parser()
    for flag in ("--scale", "--grid"):
        assert parser.parse_args(["fidelity", flag, "paper"]).scale == "paper"
    assert parser.parse_args(["guide", "--grid", "smoke"]).scale == "smoke"


def test_a_toml_config_overrides_a_grid_and_bad_ones_are_one_line_errors(tmp_path, capsys):
    config = tmp_path / "grids.toml"
    config.write_text('[fidelity]\nrates = [[3.0], [7.0]]\nn_samples = 500\n')
    out = tmp_path / "out"
    argv = ["fidelity", "--scale", "smoke", "--out", str(out), "--no-progress"]
    assert main([*argv, "--config", str(config)]) == 0
    rows = pd.read_csv(out / "fidelity" / "rows.csv")
    assert set(rows.rate) == {3.0, 7.0} and set(rows.n_samples) == {500}
    smoke = cli.grid_configs("fidelity", "smoke", 0)
    assert len(rows) == 2 * len(smoke)  # each smoke job once per rates value
    for text, message in [
        ("[fidelity]\nnot_a_setting = 1\n", "'not_a_setting' is not a setting"),
        ("[nonexistent]\nx = 1\n", "unknown experiment [nonexistent]"),
        ("[fidelity\n", "not valid TOML"),
        ("[fidelity]\nn_samples = []\n", "leaves no job"),
    ]:
        config.write_text(text)
        capsys.readouterr()
        assert main([*argv, "--config", str(config)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert main([*argv, "--config", str(tmp_path / "missing.toml")]) == 2
