"""Real spikes: grasshopper auditory-receptor recordings shipped inside the ``nitime`` package.

Two recordings (``grasshopper_spike_times{1,2}.txt``: spike times in µs; ~930 and ~870 spikes
in 10 s) of a receptor neuron driven by a 10 s Gaussian amplitude-modulated sound
(``grasshopper_stimulus{1,2}.txt``: time in µs and amplitude, every 50 µs). The files are read
directly from nitime's installed data folder; nitime's own modules are never imported.

:func:`load_grasshopper` bins the spikes (default 2 ms: at most one spike per bin, the shortest
interval being 3.2 ms), averages the stimulus over each bin and standardises it per recording,
and cuts both recordings into sequences; every ``test_every``-th sequence is held out.

Examples
--------
>>> data = load_grasshopper()
>>> data.train_counts.shape, data.train_stimulus.shape, data.test_counts.shape
(torch.Size([30, 250, 1]), torch.Size([30, 250, 1]), torch.Size([10, 250, 1]))
>>> round(float(data.train_counts.mean()), 3)  # spikes per 2 ms bin (about 90 Hz)
0.184
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = ["GrasshopperData", "data_folder", "load_grasshopper"]

#: Recording length (µs) and the stimulus sampling step (µs).
DURATION_US, STIMULUS_STEP_US = 10_000_000, 50


@dataclass(frozen=True)
class GrasshopperData:
    """Binned spikes and stimulus, (sequences, T, 1) float64 each, split into train and test.

    ``bin_ms`` is the bin width; ``recording`` gives each train/test sequence's recording (1, 2).
    """

    train_counts: torch.Tensor
    train_stimulus: torch.Tensor
    test_counts: torch.Tensor
    test_stimulus: torch.Tensor
    train_recording: torch.Tensor
    test_recording: torch.Tensor
    bin_ms: float


def data_folder() -> Path:
    """nitime's data folder, found without importing nitime; ``FileNotFoundError`` if absent."""
    spec = importlib.util.find_spec("nitime")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the grasshopper recordings ship with the nitime package: pip install nitime"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _read(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"missing grasshopper data file {path}")
    try:
        return np.loadtxt(path, comments="#", ndmin=1)
    except ValueError as error:
        raise ValueError(f"corrupt grasshopper data file {path}: {error}") from error


def _binned(recording: int, bin_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """(counts, standardised stimulus) per bin of one whole recording."""
    folder = data_folder()
    spikes = _read(folder / f"grasshopper_spike_times{recording}.txt")
    stimulus = _read(folder / f"grasshopper_stimulus{recording}.txt")
    if stimulus.ndim != 2 or stimulus.shape[1] != 2:
        raise ValueError(f"grasshopper stimulus {recording}: expected two columns (µs, amplitude)")
    width = bin_ms * 1000.0
    n_bins = int(DURATION_US // width)
    counts = np.bincount((spikes // width).astype(np.int64), minlength=n_bins)[:n_bins]
    per_bin = int(round(width / STIMULUS_STEP_US))
    amplitude = stimulus[: n_bins * per_bin, 1].reshape(n_bins, per_bin).mean(1)
    amplitude = (amplitude - amplitude.mean()) / amplitude.std()
    return counts.astype(np.float64), amplitude


def load_grasshopper(
    bin_ms: float = 2.0, sequence_bins: int = 250, test_every: int = 4
) -> GrasshopperData:
    """Both recordings, binned and cut into sequences of ``sequence_bins`` bins.

    Parameters
    ----------
    bin_ms : float
        Bin width in ms; a multiple of the stimulus step (0.05 ms).
    sequence_bins : int
        Bins per sequence (the remainder of a recording is dropped).
    test_every : int
        Every ``test_every``-th sequence (the last of each group) is held out.
    """
    if bin_ms <= 0 or abs(bin_ms * 1000 / STIMULUS_STEP_US - round(bin_ms * 20)) > 1e-9:
        raise ValueError(f"bin_ms must be a positive multiple of 0.05 ms, got {bin_ms!r}")
    if sequence_bins < 1 or test_every < 2:
        raise ValueError("sequence_bins must be >= 1 and test_every >= 2")
    counts, stimulus, recording = [], [], []
    for index in (1, 2):
        c, s = _binned(index, bin_ms)
        n_seq = len(c) // sequence_bins
        counts.append(c[: n_seq * sequence_bins].reshape(n_seq, sequence_bins, 1))
        stimulus.append(s[: n_seq * sequence_bins].reshape(n_seq, sequence_bins, 1))
        recording.append(np.full(n_seq, index))
    c, s, r = (torch.as_tensor(np.concatenate(a)) for a in (counts, stimulus, recording))
    test = torch.arange(len(c)) % test_every == test_every - 1
    return GrasshopperData(c[~test], s[~test], c[test], s[test], r[~test], r[test], bin_ms)
