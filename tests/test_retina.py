"""The shipped retina recording (Onken et al. 2016): shapes, counts equal to the spike times,
trials as separate sequences, the documented split, and clear errors."""

import hashlib
from importlib import resources

import numpy as np
import pytest
from scipy.io import loadmat

from poissongrad.data import retina
from poissongrad.data.retina import RECORDINGS, load_retina


def _spike_times(file: str) -> np.ndarray:
    path = resources.files("poissongrad.data").joinpath(f"retina/{file}")
    with resources.as_file(path) as local:
        return loadmat(local)["Spikes"]


@pytest.mark.parametrize(("recording", "movie"), sorted(RECORDINGS))
def test_every_file_matches_its_checksum_and_loads(recording, movie):
    data = load_retina(recording, movie, bin_ms=100)
    cells = 38 if recording == "recording1" else 49
    assert data.train_counts.shape == (24, 180, cells) and data.test_counts.shape == (6, 180, cells)
    assert list(data.test_trials) == [4, 9, 14, 19, 24, 29]
    assert data.neuron_ids.tolist() == list(range(cells)) and "Onken" in data.citation


@pytest.mark.parametrize("bin_ms", [1, 10, 50])
def test_counts_equal_the_spike_times_trial_by_trial(bin_ms):
    data = load_retina("recording2", "movie2", bin_ms=bin_ms)
    spikes = _spike_times("Movie1Exp2.mat")
    counts = np.zeros((30, 18_000 // bin_ms, 49))
    counts[data.train_trials], counts[data.test_trials] = data.train_counts, data.test_counts
    rng = np.random.default_rng(0)
    for neuron, trial in zip(rng.integers(49, size=8), rng.integers(30, size=8), strict=True):
        times = spikes[neuron, trial].ravel()
        edges = np.arange(0, 18_000 + bin_ms, bin_ms) + 0.5  # bin b holds b·w < t ≤ (b+1)·w
        expected, _ = np.histogram(times, bins=edges)
        np.testing.assert_array_equal(counts[trial, :, neuron], expected)
    per_trial = np.array([[spikes[n, t].size for t in range(30)] for n in range(49)])
    np.testing.assert_array_equal(counts.sum(1).T, per_trial)  # no spike crosses a trial


def test_trials_are_separate_sequences_with_no_history_across_a_boundary():
    # A spike at the very end of one trial lands in that trial's last bin, never at the start
    # of the next one: sequences are (trials, bins, neurons) and each row is one trial alone.
    data = load_retina("recording2", "movie2", bin_ms=10)
    spikes = _spike_times("Movie1Exp2.mat")
    late = [
        (n, t) for n in range(49) for t in data.train_trials if spikes[n, t].max(initial=0) > 17_990
    ]
    assert late, "the recording has spikes in the last 10 ms of some trial"
    neuron, trial = late[0]
    row = int(np.flatnonzero(data.train_trials == trial)[0])
    assert data.train_counts[row, -1, neuron] >= 1
    first_bin = (
        (spikes[neuron, data.train_trials[row + 1]].ravel() <= 10).sum() if row + 1 < 24 else 0
    )
    if row + 1 < 24:
        assert data.train_counts[row + 1, 0, neuron] == first_bin


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"recording": "recording3"}, "unknown recording"),
        ({"movie": "movie3"}, "unknown recording"),
        ({"bin_ms": 7}, "does not divide"),
        ({"bin_ms": 0}, "positive int"),
        ({"bin_ms": 2.5}, "positive int"),
    ],
)
def test_bad_arguments_are_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_retina(**kwargs)


def test_a_corrupt_file_is_refused(monkeypatch):
    wrong = {name: hashlib.sha256(b"x").hexdigest() for name in RECORDINGS.values()}
    monkeypatch.setattr(retina, "_checksums", lambda: wrong)
    with pytest.raises(ValueError, match="corrupt"):
        load_retina()


# --- the experiment --------------------------------------------------------------------------

from dataclasses import replace  # noqa: E402

from poissongrad.experiments import retina as experiment  # noqa: E402

FAST = experiment.RetinaConfig("random0", 1, "eat_cubic", 0.5, epochs=2)
# What the fit produces: unchanged by the hidden cell's training spikes. (The beyond-stimulus
# recovery subtracts the cell's training PSTH from its test spikes: scoring, not fitting.)
MODEL_COLUMNS = (
    "marginal_ll",
    "bits_per_spike",
    "trace",
    "recovery_raw_fine",
    "recovery_raw_coarse",
)


def _run_with(monkeypatch, change_train=None, change_test=None) -> dict:
    """One fast job on data whose hidden cell's train or test spikes were changed."""
    original = load_retina("recording2", "movie2", 10)
    cells = experiment._population("recording2", "movie2", 10)
    hidden = cells[experiment.hidden_cells(FAST)[0]]
    train, test = original.train_counts.copy(), original.test_counts.copy()
    if change_train is not None:
        train[..., hidden] = change_train(train[..., hidden])
    if change_test is not None:
        test[..., hidden] = change_test(test[..., hidden])
    changed = replace(original, train_counts=train, test_counts=test)
    monkeypatch.setattr(experiment, "_data", lambda *args: changed)
    experiment._reference_fit.cache_clear()
    try:
        (row,) = experiment.run(FAST)
    finally:
        experiment._reference_fit.cache_clear()
    assert row["hidden_cell"] == hidden
    return row


def _shuffle_within_trials(x):  # same spikes per trial (same activity ranking), other times
    rng = np.random.default_rng(1)
    return np.stack([rng.permutation(trial) for trial in x])


def test_the_hidden_cells_spikes_never_reach_the_fit(monkeypatch):
    plain = _run_with(monkeypatch)
    shuffled = _run_with(monkeypatch, change_train=_shuffle_within_trials)
    for column in MODEL_COLUMNS:  # the fit and what it infers do not move
        assert shuffled[column] == plain[column], column
    # while the references that do see the cell (fully observed fit, its PSTH) do move
    assert shuffled["ceiling_raw_fine"] != plain["ceiling_raw_fine"]
    assert shuffled["vh_coupling_error"] != plain["vh_coupling_error"]


def test_recovery_is_scored_against_the_real_test_spikes(monkeypatch):
    plain = _run_with(monkeypatch)
    moved = _run_with(monkeypatch, change_test=_shuffle_within_trials)
    assert moved["marginal_ll"] == plain["marginal_ll"]  # the visible cells are unchanged
    assert moved["recovery_raw_fine"] != plain["recovery_raw_fine"]
    spikes = np.random.default_rng(2).poisson(0.3, size=(6, 200)).astype(float)
    psth = spikes.mean(0)
    exact = experiment.recovery(spikes, spikes, psth)
    assert exact["raw_fine"] == pytest.approx(1.0) and exact["raw_coarse"] == pytest.approx(1.0)
    constant = experiment.recovery(np.broadcast_to(psth, spikes.shape), spikes, psth)
    assert constant["beyond_fine"] == 0.0 and constant["beyond_coarse"] == 0.0


def test_cell_choices_follow_their_stated_rules():
    assert list(experiment.hidden_cells(replace(FAST, choice="random0"))) == list(
        experiment.hidden_cells(replace(FAST, choice="random0"))
    )
    with pytest.raises(ValueError, match="unknown cell choice"):
        experiment.hidden_cells(replace(FAST, choice="best"))
    configs = experiment.grid_configs("quick")
    assert {c.choice for c in configs} == {"coupled", "random0"}
    assert {c.estimator for c in configs if c.n_hidden} == {
        "eat_cubic",
        "eat_sigmoid",
        "gsm",
        "score_loo",
    }
