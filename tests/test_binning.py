"""bin_spikes: exact counts from every form spike times come in, with their time axis."""

import numpy as np
import pytest

from poissongrad.data.binning import bin_spikes, spike_times_of


def _units(seed: int = 0, n: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.sort(rng.uniform(0.0, 10.0, size=rng.integers(5, 200))) for _ in range(n)]


def test_counts_are_numpys_histogram_and_keep_every_spike():
    units = _units()
    binned = bin_spikes(units, 0.01, support=(0.0, 10.0))
    edges = np.linspace(0.0, 10.0, 1001)
    for n, unit in enumerate(units):
        np.testing.assert_array_equal(binned.counts[0, :, n], np.histogram(unit, edges)[0])
    assert binned.counts.shape == (1, 1000, 4) and binned.counts.sum() == sum(map(len, units))
    np.testing.assert_allclose(binned.times[0, :2], [0.005, 0.015])


def test_trials_are_cut_from_their_starts():
    units = _units(1)
    trials = np.array([[0.0, 2.0], [3.0, 5.0], [6.5, 8.5]])
    binned = bin_spikes(units, 0.1, trials=trials)
    assert binned.counts.shape == (3, 20, 4)
    np.testing.assert_allclose(binned.starts, trials[:, 0])
    for k, (start, stop) in enumerate(trials):
        inside = sum(((u >= start) & (u <= stop)).sum() for u in units)
        assert binned.counts[k].sum() == inside
    with pytest.raises(ValueError, match="same number"):
        bin_spikes(units, 0.1, trials=np.array([[0.0, 2.0], [3.0, 4.0]]))


class _Ts:  # pynapple's Ts: times in .t
    def __init__(self, t):
        self.t = t


class _Quantity(np.ndarray):  # neo's quantities: rescale to seconds
    def rescale(self, unit):
        assert unit == "s"
        return type(self)(self.shape, buffer=(np.asarray(self) / 1000.0).copy())

    @property
    def magnitude(self):
        return np.asarray(self)


class _SpikeTrain:  # neo: .times (a quantity, here in ms) and .t_start
    def __init__(self, t_ms):
        self.times = np.asarray(t_ms).view(_Quantity)
        self.t_start = 0.0


class _Units:  # NWB's Units table
    def __init__(self, units):
        self.units = units

    def __len__(self):
        return len(self.units)

    def get_unit_spike_times(self, i):
        return self.units[i]


def test_every_accepted_form_gives_the_same_counts():
    units = _units(2)
    expected = bin_spikes(units, 0.05).counts
    forms = [
        {i: _Ts(u) for i, u in enumerate(units)},  # a TsGroup is a mapping of Ts
        [_SpikeTrain(u * 1000.0) for u in units],
        _Units(units),
        [list(u) for u in units],
    ]
    for form in forms:
        np.testing.assert_array_equal(bin_spikes(form, 0.05).counts, expected)
    assert len(spike_times_of(_Ts(units[0]))) == 1


def test_bad_input_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="bin_size must be a number > 0"):
        bin_spikes(_units(), 0.0)
    with pytest.raises(ValueError, match="not finite"):
        bin_spikes([np.array([0.1, np.nan])], 0.1)
    with pytest.raises(ValueError, match="no neuron"):
        bin_spikes([], 0.1)
    with pytest.raises(ValueError, match="end > start"):
        bin_spikes(_units(), 0.1, support=(1.0, 1.0))
    with pytest.raises(ValueError, match="exceed"):  # a bin far too small: refused, not allocated
        bin_spikes(_units(), 1e-12)
    with pytest.raises(ValueError, match="exceed"):
        bin_spikes(_units(), 1e-12, trials=np.array([[0.0, 5.0]]))
    with pytest.raises(ValueError, match="list of spike-time arrays"):
        bin_spikes(3.0, 0.1)
    with pytest.raises((ImportError, FileNotFoundError)):
        bin_spikes(tmp_path / "missing.nwb", 0.1)
