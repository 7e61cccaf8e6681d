"""Grasshopper recordings: loading and binning, and one real-data POGLM job."""

import numpy as np
import pytest
import torch

from poissongrad.data import grasshopper as gh
from poissongrad.experiments import grasshopper
from poissongrad.experiments.registry import EXPERIMENTS


def test_binning_keeps_every_spike_of_the_kept_sequences():
    data = gh.load_grasshopper(bin_ms=2.0, sequence_bins=250)
    total = 0
    for recording in (1, 2):
        times = gh._read(f"grasshopper_spike_times{recording}.txt")
        total += int((times < 20 * 250 * 2000).sum())  # 20 sequences of 0.5 s per recording
    counts = float(data.train_counts.sum() + data.test_counts.sum())
    assert counts == total
    assert data.test_counts.shape == (10, 250, 1) and data.train_counts.shape == (30, 250, 1)
    stimulus = torch.cat([data.train_stimulus, data.test_stimulus])
    assert abs(float(stimulus.mean())) < 0.05 and float(stimulus.std()) == pytest.approx(
        1, abs=0.05
    )


def test_bad_arguments_and_missing_or_corrupt_files_are_clear_errors(monkeypatch):
    with pytest.raises(ValueError, match="multiple of 0.05 ms"):
        gh.load_grasshopper(bin_ms=0.01)
    with pytest.raises(FileNotFoundError, match="grasshopper_spike_times9.txt is missing"):
        gh._read("grasshopper_spike_times9.txt")
    sums = gh._checksums()
    wrong = {**sums, "grasshopper_spike_times1.txt": "0" * 64}
    monkeypatch.setattr(gh, "_checksums", lambda: wrong)
    with pytest.raises(ValueError, match="corrupt grasshopper data file .*SHA-256"):
        gh.load_grasshopper()


def test_the_shipped_files_are_nitimes_unmodified():
    pytest.importorskip("nitime")  # where nitime is installed, its files are the same bytes
    import importlib.util
    import pathlib

    folder = pathlib.Path(importlib.util.find_spec("nitime").submodule_search_locations[0])
    for name in gh._checksums():
        expected = np.loadtxt(folder / "data" / name, comments="#", ndmin=1)
        np.testing.assert_array_equal(gh._read(name), expected)


def test_a_hidden_neuron_job_is_paired_with_the_fit_without_one():
    config = grasshopper.GrasshopperConfig(n_hidden=1, epochs=3)
    (row,) = EXPERIMENTS["grasshopper"].check_rows(grasshopper.run(config))
    assert np.isfinite([row["marginal_ll"], row["gain"], row["gain_se"], row["share_vh"]]).all()
    assert row["gain_se"] > 0
    (base,) = grasshopper.run(grasshopper.GrasshopperConfig(n_hidden=0, epochs=3))
    assert base["gain"] == 0.0 and np.isnan(base["share_vh"])
    assert row["marginal_ll"] - row["gain"] == pytest.approx(base["marginal_ll"])
