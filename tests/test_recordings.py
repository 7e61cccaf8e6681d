"""A recording's spike times into POGLM.fit in at most three lines, and the hidden trace back on
the recording's time axis: a list of arrays, a pynapple TsGroup and an NWB file."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import torch

from poissongrad.data.binning import bin_spikes
from poissongrad.data.spikes import make_network
from poissongrad.models.poglm import POGLM

BIN = 0.01  # seconds


def _recording() -> tuple[np.ndarray, list[np.ndarray]]:
    """Counts (T, 3) of the paper network's visible neurons and the same spikes as times
    (seconds): each count's spikes spread uniformly inside its bin."""
    counts = make_network("paper", seed=0).train[0, :, :3].numpy()
    rng = np.random.default_rng(0)
    units = []
    for n in range(counts.shape[1]):
        bins = np.repeat(np.arange(len(counts)), counts[:, n].astype(int))
        units.append(np.sort((bins + rng.uniform(0.05, 0.95, bins.size)) * BIN))
    return counts, units


def _model() -> POGLM:
    return POGLM(n_hidden=1, epochs=3, random_state=1)


@pytest.fixture(scope="module")
def reference():
    counts, units = _recording()
    return _model().fit(counts), counts, units


def _same_fit(model: POGLM, reference: POGLM) -> None:
    torch.testing.assert_close(model.weights_, reference.weights_, rtol=0, atol=0)
    assert model.bin_size_ == BIN and reference.bin_size_ is None


def test_a_list_of_spike_time_arrays(reference):
    fitted, counts, units = reference
    support = (0.0, len(counts) * BIN)
    model = _model().fit(units, bin_size=BIN, support=support)  # one line
    _same_fit(model, fitted)
    trace = model.posterior_rates(bin_spikes(units, BIN, support))
    assert isinstance(trace, pd.DataFrame) and list(trace.columns) == ["hidden 0"]
    np.testing.assert_allclose(trace.index[:2], [0.005, 0.015])
    np.testing.assert_allclose(trace.to_numpy(), fitted.posterior_rates(counts)[0].numpy())


def test_trials_become_sequences_and_the_trace_keeps_them(reference):
    _, counts, units = reference
    trials = np.array([[0.0, 0.4], [0.5, 0.9]])
    model = _model().fit(units, bin_size=BIN, trials=trials)
    trace = model.posterior_rates(bin_spikes(units, BIN, trials=trials))
    assert trace.index.names == ["trial", "time (s)"] and trace.shape == (80, 1)
    with pytest.raises(ValueError, match="pass bin_size"):
        _model().fit(counts, trials=trials)


def test_a_pynapple_tsgroup_and_a_tsdframe_back(reference):
    nap = pytest.importorskip("pynapple")
    fitted, counts, units = reference
    group = nap.TsGroup({n: nap.Ts(t) for n, t in enumerate(units)})
    epoch = nap.IntervalSet(0.0, len(counts) * BIN)
    binned = bin_spikes(group, BIN, support=(0.0, len(counts) * BIN))
    np.testing.assert_array_equal(binned.counts[0], np.asarray(group.count(BIN, epoch)))
    model = _model().fit(group, bin_size=BIN, support=(0.0, len(counts) * BIN))
    _same_fit(model, fitted)
    trace = model.posterior_rates(binned)
    assert isinstance(trace, nap.TsdFrame)
    np.testing.assert_allclose(trace.t, group.count(BIN, epoch).t)


def test_an_nwb_file(reference, tmp_path):
    pynwb = pytest.importorskip("pynwb")
    fitted, counts, units = reference
    nwb = pynwb.NWBFile("a test recording", "test", datetime(2026, 1, 1, tzinfo=UTC))
    for t in units:
        nwb.add_unit(spike_times=t)
    path = tmp_path / "session.nwb"
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    model = _model().fit(path, bin_size=BIN, support=(0.0, len(counts) * BIN))
    _same_fit(model, fitted)
