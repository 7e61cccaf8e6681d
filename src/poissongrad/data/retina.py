"""Salamander retinal ganglion cells under natural movies (Onken et al. 2016), shipped as-is.

Ganglion cells recorded together on a multi-electrode array in isolated salamander retina,
each natural movie repeated in 30 trials of 18 s; spike times at 1 ms resolution. Two
recordings (38 and 49 cells), two movies each. The four MATLAB files ship inside the package,
unmodified, with their SHA-256 checksums (checked on every load): nothing is downloaded.

Cite: Onken A, Liu JK, Karunasekara PPCR, Delis I, Gollisch T, Panzeri S (2016). Using matrix
and tensor factorizations for the single-trial analysis of population spike trains. PLoS
Comput Biol 12(11): e1005189, doi:10.1371/journal.pcbi.1005189. Data: Dryad,
doi:10.5061/dryad.4ch10, CC0 1.0.

Trials are separate sequences: a model sees them as independent segments, with no spike
history across a trial boundary. The split into training and test trials is by trial
(:data:`TEST_EVERY`): every fifth trial (trials 4, 9, …, 29, counting from 0) is held out.

Examples
--------
>>> data = load_retina("recording2", "movie2", bin_ms=10)
>>> data.train_counts.shape, data.test_counts.shape  # (trials, bins, neurons)
((24, 1800, 49), (6, 1800, 49))
>>> int(data.train_counts.sum() + data.test_counts.sum())  # every recorded spike, once
76833
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = [
    "CITATION",
    "DUPLICATE_SHARE",
    "DUPLICATE_WINDOW_MS",
    "RECORDINGS",
    "TEST_EVERY",
    "TRIAL_MS",
    "RetinaData",
    "duplicate_units",
    "load_retina",
    "load_spike_times",
]

#: (recording, movie) → file. Note that the second recording's file names swap the movies.
RECORDINGS: dict[tuple[str, str], str] = {
    ("recording1", "movie1"): "Movie1Exp1.mat",
    ("recording1", "movie2"): "Movie2Exp1.mat",
    ("recording2", "movie1"): "Movie2Exp2.mat",
    ("recording2", "movie2"): "Movie1Exp2.mat",
}
#: Length of a trial in ms (spike times run from 1 to 18,000).
TRIAL_MS = 18_000
#: Every TEST_EVERY-th trial (from trial TEST_EVERY − 1) is a test trial.
TEST_EVERY = 5
#: Two units are one cell recorded twice when more than DUPLICATE_SHARE of the less active
#: unit's spikes have a spike of the other within ±DUPLICATE_WINDOW_MS (the same trial): a rule
#: fixed before any hidden cell was chosen (spike sorting splits one cell across electrodes).
DUPLICATE_WINDOW_MS = 1
DUPLICATE_SHARE = 0.5
CITATION = (
    "Onken A, Liu JK, Karunasekara PPCR, Delis I, Gollisch T, Panzeri S (2016). Using matrix "
    "and tensor factorizations for the single-trial analysis of population spike trains. PLoS "
    "Comput Biol 12(11): e1005189. Data: Dryad, doi:10.5061/dryad.4ch10 (CC0 1.0)."
)


@dataclass(frozen=True)
class RetinaData:
    """Binned spike counts of one recording and movie.

    Attributes:
        train_counts, test_counts: float64 arrays (trials, bins, neurons) of spike counts.
        train_trials, test_trials: the trial indices (0 … 29) of each split.
        neuron_ids: the recording's neuron index of each column (0-based; the same cell in
            both movies of a recording).
        bin_ms: bin width in ms; trial_ms: trial length in ms.
        recording, movie: what was loaded; citation: the paper and data set to cite.
    """

    train_counts: np.ndarray
    test_counts: np.ndarray
    train_trials: np.ndarray
    test_trials: np.ndarray
    neuron_ids: np.ndarray
    bin_ms: int
    trial_ms: int
    recording: str
    movie: str
    citation: str = CITATION


def _checksums() -> dict[str, str]:
    text = resources.files("poissongrad.data").joinpath("retina/SHA256SUMS").read_text()
    return {name: digest for digest, name in (line.split() for line in text.splitlines() if line)}


def _read(file: str) -> np.ndarray:
    """The ``Spikes`` cell array (neurons × trials) of a shipped file, after its checksum."""
    from scipy.io import loadmat

    path = resources.files("poissongrad.data").joinpath(f"retina/{file}")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"the retina file {file} is missing from the installed package; reinstall poissongrad"
        ) from None
    if hashlib.sha256(raw).hexdigest() != _checksums().get(file):
        raise ValueError(f"the retina file {file} is corrupt (its SHA-256 does not match)")
    spikes = loadmat(io.BytesIO(raw))["Spikes"]
    if spikes.dtype != object or spikes.ndim != 2:
        raise ValueError(f"the retina file {file} has no (neurons × trials) Spikes cell array")
    return spikes


def load_spike_times(
    recording: str = "recording2", movie: str = "movie2"
) -> list[list[np.ndarray]]:
    """Spike times in ms (int, 1 … 18,000) of every neuron in every trial: ``times[n][t]``.

    ``ValueError`` for an unknown recording or movie, a corrupt file, or times outside a trial.
    """
    key = (recording, movie)
    if key not in RECORDINGS:
        raise ValueError(f"unknown recording/movie {key}; expected one of {sorted(RECORDINGS)}")
    spikes = _read(RECORDINGS[key])
    times = [
        [np.asarray(spikes[n, t], dtype=np.int64).ravel() for t in range(spikes.shape[1])]
        for n in range(spikes.shape[0])
    ]
    flat = np.concatenate([t for neuron in times for t in neuron] or [np.zeros(0, np.int64)])
    if flat.size and (flat.min() < 1 or flat.max() > TRIAL_MS):
        raise ValueError(f"spike times outside 1 … {TRIAL_MS} ms in {RECORDINGS[key]}")
    return times


def duplicate_units(
    recording: str = "recording2",
    movie: str = "movie2",
    window_ms: int = DUPLICATE_WINDOW_MS,
    share: float = DUPLICATE_SHARE,
) -> list[tuple[int, int, float]]:
    """Pairs of units that are one cell recorded twice: (less active unit, the other, share).

    ``share`` of a pair is the fraction of the less active unit's spikes that have a spike of
    the other unit within ±``window_ms`` in the same trial; pairs above the threshold are
    listed, most shared first. Computed on every trial (no model is fitted to it).

    Examples
    --------
    >>> [(a, b) for a, b, _ in duplicate_units()][:2]
    [(39, 42), (31, 33)]
    """
    times = load_spike_times(recording, movie)
    n, n_trials = len(times), len(times[0])
    counts = np.zeros((n, n_trials * TRIAL_MS), dtype=np.float32)  # 1 ms bins, trials end to end
    for i, neuron in enumerate(times):
        for t, spikes in enumerate(neuron):
            np.add.at(counts[i], t * TRIAL_MS + spikes - 1, 1.0)
    near = counts > 0  # within ±window_ms: the spike bins dilated (trials padded apart by zeros)
    padded = np.zeros((n, n_trials, TRIAL_MS + 2 * window_ms), dtype=bool)
    padded[:, :, window_ms:-window_ms] = near.reshape(n, n_trials, TRIAL_MS)
    dilated = np.zeros((n, n_trials, TRIAL_MS), dtype=bool)
    for shift in range(2 * window_ms + 1):
        dilated |= padded[:, :, shift : shift + TRIAL_MS]
    coincident = counts @ dilated.reshape(n, -1).T.astype(np.float32)  # [a, b]: a's spikes near b
    totals = counts.sum(1)
    pairs = []
    for a in range(n):
        for b in range(n):
            fewer = totals[a] < totals[b] or (totals[a] == totals[b] and a > b)
            if a != b and fewer and totals[a] > 0 and coincident[a, b] / totals[a] > share:
                pairs.append((a, b, float(coincident[a, b] / totals[a])))
    return sorted(pairs, key=lambda p: -p[2])


def load_retina(
    recording: str = "recording2", movie: str = "movie2", bin_ms: int = 10
) -> RetinaData:
    """Spike counts of one recording under one movie, in bins of ``bin_ms`` ms.

    Parameters
    ----------
    recording : {"recording1", "recording2"}
        38 or 49 cells.
    movie : {"movie1", "movie2"}
    bin_ms : int
        Bin width in ms; it must divide the 18,000 ms trial. A spike at t ms (1 … 18,000)
        falls in bin ⌈t / bin_ms⌉ − 1.

    Returns
    -------
    :class:`RetinaData`; ``ValueError`` for an unknown recording or movie, a bin width that
    does not divide the trial, or a corrupt file.
    """
    if isinstance(bin_ms, bool) or not isinstance(bin_ms, int) or bin_ms < 1:
        raise ValueError(f"bin_ms must be a positive int (ms), got {bin_ms!r}")
    if TRIAL_MS % bin_ms:
        raise ValueError(f"bin_ms={bin_ms} does not divide the {TRIAL_MS} ms trial")
    times = load_spike_times(recording, movie)
    n_neurons, n_trials = len(times), len(times[0])
    counts = np.zeros((n_trials, TRIAL_MS // bin_ms, n_neurons))
    for neuron, per_trial in enumerate(times):  # one vectorised histogram per cell
        trial = np.repeat(np.arange(n_trials), [len(t) for t in per_trial])
        np.add.at(counts[:, :, neuron], (trial, (np.concatenate(per_trial) - 1) // bin_ms), 1.0)
    trials = np.arange(n_trials)
    test = trials % TEST_EVERY == TEST_EVERY - 1
    return RetinaData(
        train_counts=counts[~test],
        test_counts=counts[test],
        train_trials=trials[~test],
        test_trials=trials[test],
        neuron_ids=np.arange(n_neurons),
        bin_ms=bin_ms,
        trial_ms=TRIAL_MS,
        recording=recording,
        movie=movie,
    )
