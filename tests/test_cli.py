"""The command line: experiments run as documented, write rows and figures, and resume."""

import pandas as pd
import pytest

from poissongrad.cli import main


@pytest.mark.parametrize("command", ["fidelity", "gradients"])
def test_quick_experiment_writes_rows_figures_and_a_summary(command, tmp_path, capsys):
    assert main([command, "--out", str(tmp_path), "--no-progress"]) == 0
    out = tmp_path / command
    rows = pd.read_csv(out / "rows.csv")
    assert len(rows) > 0 and rows.isna().sum().sum() < rows.size
    assert len(list(out.glob("*.png"))) == 2
    assert "rows in" in capsys.readouterr().out
    # A second run finds every job stored and reproduces the same table.
    assert main([command, "--out", str(tmp_path), "--no-progress"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "rows.csv"), rows)


def test_help_lists_the_experiments(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "fidelity" in capsys.readouterr().out


def test_a_foreign_results_directory_is_an_error_exit(tmp_path, capsys):
    (tmp_path / "fidelity").mkdir()
    (tmp_path / "fidelity" / "notes.txt").write_text("x")
    assert main(["fidelity", "--out", str(tmp_path)]) == 2
    assert "not a results store" in capsys.readouterr().err
