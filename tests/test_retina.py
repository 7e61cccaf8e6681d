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

import pandas as pd  # noqa: E402

from poissongrad.experiments import retina as experiment  # noqa: E402
from poissongrad.metrics import readout  # noqa: E402

FAST = experiment.RetinaConfig(0, 1, "eat_cubic", 0.5, epochs=2)
# What the fit produces: unchanged by the hidden cell's spikes (train or test).
MODEL_COLUMNS = ("marginal_ll", "bits_per_spike", "trace", "epochs_run")
KEY = ("recording2", "movie2", 10)


def _run_with(monkeypatch, change_train=None, change_test=None) -> dict:
    """One fast job on data whose hidden cell's train or test spikes were changed (the cell
    chosen on the original data)."""
    original = load_retina(*KEY)
    hidden = experiment.chosen_cells(*KEY)[0]
    train, test = original.train_counts.copy(), original.test_counts.copy()
    if change_train is not None:
        train[..., hidden] = change_train(train[..., hidden])
    if change_test is not None:
        test[..., hidden] = change_test(test[..., hidden])
    changed = replace(original, train_counts=train, test_counts=test)
    monkeypatch.setattr(experiment, "chosen_cells", lambda *args: [hidden])
    monkeypatch.setattr(experiment, "_data", lambda *args: changed)
    monkeypatch.setattr(experiment, "_ceiling_bits", lambda *args: 0.1)  # slow, not asserted
    if change_train is None:  # the recorded data's cached ceilings: no test here asserts them
        (row,) = experiment.run(FAST)
    else:
        experiment.ceilings.cache_clear()
        try:
            (row,) = experiment.run(FAST)
        finally:
            experiment.ceilings.cache_clear()
    assert row["hidden_cell"] == hidden
    return row


def _shuffle_within_trials(x):  # same spikes per trial, other times
    rng = np.random.default_rng(1)
    return np.stack([rng.permutation(trial) for trial in x])


@pytest.fixture(scope="module")
def plain() -> dict:
    """The fast job on the data as recorded (shared by the tests below)."""
    with pytest.MonkeyPatch.context() as patch:
        return _run_with(patch)


def test_the_hidden_cells_spikes_never_reach_the_fit(monkeypatch, plain):
    shuffled = _run_with(monkeypatch, change_train=_shuffle_within_trials)
    for column in MODEL_COLUMNS:  # the fit and what it infers do not move
        assert shuffled[column] == plain[column], column
    # while what scores the cell (its ceiling, the readout fitted on its training spikes) does
    assert shuffled["ceiling_corr_fine"] != plain["ceiling_corr_fine"]
    assert shuffled["recovery_corr_fine"] != plain["recovery_corr_fine"]


def test_recovery_is_scored_against_the_real_test_spikes(monkeypatch, plain):
    moved = _run_with(monkeypatch, change_test=_shuffle_within_trials)
    assert moved["marginal_ll"] == plain["marginal_ll"]  # the visible cells are unchanged
    assert moved["recovery_corr_fine"] != plain["recovery_corr_fine"]


def test_hidden_cells_follow_the_stated_rules():
    dropped = {a for a, _, _ in retina.duplicate_units(*KEY[:2])}
    assert dropped == {39, 31, 12, 22, 5, 47}  # one unit of each pair sharing > 50 % of spikes
    screened = experiment.screened_cells(*KEY[:2])
    assert not set(screened) & dropped and len(screened) == 49 - len(dropped)
    chosen = experiment.chosen_cells(*KEY)
    table = experiment.ceilings(*KEY)
    bar = experiment.test_bar(*KEY)
    assert len(chosen) >= 3 and set(chosen) <= set(screened)
    assert list(table.cv_coarse[chosen]) == sorted(table.cv_coarse[chosen], reverse=True)
    assert bool((table.cv_coarse[chosen] >= experiment.QUALIFY * bar).all())
    rest = table.drop(index=chosen)
    assert bool((rest.cv_coarse < experiment.QUALIFY * bar).all())
    configs = experiment.grid_configs("quick")
    assert {c.rank for c in configs} == {0, 1, 2} and {c.seed for c in configs} == {0, 1, 2}
    assert {c.estimator for c in configs if c.n_hidden} == {
        "eat_cubic",
        "eat_sigmoid",
        "gsm",
        "score_loo",
    }
    with pytest.raises(ValueError, match="qualify"):
        experiment.run(replace(FAST, rank=len(chosen)))


def test_verdicts_follow_their_rules():
    bar = 0.06
    assert experiment.recovery_verdict(pd.Series([0.30, 0.31, 0.29]), bar) == "recovered"
    assert experiment.recovery_verdict(pd.Series([0.01, 0.02, 0.0]), bar) == "not recovered"
    assert experiment.recovery_verdict(pd.Series([0.0, 0.2, 0.1]), bar) == "unresolved"
    assert experiment.recovery_verdict(pd.Series([0.9]), bar) == "unresolved"
    assert experiment.gain_verdict(pd.Series([0.001, 0.002, 0.0])) == "none"
    assert experiment.gain_verdict(pd.Series([0.05, 0.06, 0.055])) == "gain"
    assert experiment.gain_verdict(pd.Series([-0.05, -0.06, -0.055])) == "loss"
    assert experiment.gain_verdict(pd.Series([-0.05, 0.06, 0.0])) == "unresolved"


# --- the readouts --------------------------------------------------------------------------


def _shared(seed: int, trials: int = 12, bins: int = 400):
    rng = np.random.default_rng(seed)
    source = rng.poisson(0.5, size=(trials, bins))
    return rng, source


def test_a_readout_is_free_of_sign_and_scale_and_only_finds_what_is_shared():
    rng, source = _shared(0)
    target = (rng.poisson(0.2, size=source.shape) + source).astype(float)[..., None]
    train, test = slice(0, 9), slice(9, 12)
    y_train, y_test, _, _ = readout.residuals(target[train], target[test], smooth=1)

    def score(features):
        f_train, f_test, _, _ = readout.residuals(features[train], features[test], smooth=1)
        return readout.ridge_readout(
            readout.lagged_features(f_train),
            y_train[..., 0],
            readout.lagged_features(f_test),
            y_test[..., 0],
            coarse=10,
        )

    related = source[..., None].astype(float)
    good, flipped = score(related), score(-3.0 * related)
    noise = score(rng.poisson(0.5, size=source.shape)[..., None].astype(float))
    assert good["corr_fine"] > 0.5
    assert flipped["corr_fine"] == pytest.approx(good["corr_fine"], abs=1e-6)
    # an unrelated feature: a test correlation within 5 standard errors of zero
    assert abs(noise["corr_fine"]) < 5 / np.sqrt(3 * 400)


def test_poisson_readout_bits_are_positive_for_a_shared_source_and_near_zero_otherwise():
    rng, source = _shared(1)
    target = rng.poisson(0.2 + 0.6 * source)
    psth = np.full(source.shape[1], target.mean())
    train, test = slice(0, 9), slice(9, 12)
    psth_train = np.broadcast_to(psth, target[train].shape)

    def bits(features):
        f = readout.lagged_features(features[..., None].astype(float))
        return readout.poisson_readout_bits(
            f[train], target[train], psth_train, f[test], target[test], psth
        )

    assert bits(source) > 0.1
    assert abs(bits(rng.poisson(0.5, size=source.shape))) < 0.02


def test_leave_one_trial_out_psths_never_hold_the_trials_own_spikes():
    counts = np.random.default_rng(2).poisson(1.0, size=(5, 50, 2)).astype(float)
    _, _, loo, psth = readout.residuals(counts, counts[:1], smooth=1)
    np.testing.assert_allclose(loo[0], counts[1:].mean(0))
    np.testing.assert_allclose(psth, counts.mean(0))
