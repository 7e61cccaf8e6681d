"""Real spikes: grasshopper auditory-receptor recordings, shipped with this package.

Two recordings (``grasshopper_spike_times{1,2}.txt``: spike times in µs; ~930 and ~870 spikes
in 10 s) of a receptor neuron driven by a 10 s Gaussian amplitude-modulated sound
(``grasshopper_stimulus{1,2}.txt``: time in µs and amplitude, every 50 µs). The files are
nitime's example data (BSD licence, ``data/grasshopper/LICENSE``), shipped gzip-compressed and
otherwise unmodified; their SHA-256 (of the uncompressed text, ``SHA256SUMS``) is checked on
every load. Nothing is downloaded and nitime is not needed.

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

import gzip
import hashlib
import io
from dataclasses import dataclass
from importlib import resources

import numpy as np
import torch

__all__ = ["GrasshopperData", "load_grasshopper"]

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


def _checksums() -> dict[str, str]:
    text = resources.files("poissongrad.data").joinpath("grasshopper/SHA256SUMS").read_text()
    return {name: digest for digest, name in (line.split() for line in text.splitlines() if line)}


def _read(name: str) -> np.ndarray:
    """The numbers of one shipped file, after its checksum; ``FileNotFoundError`` if it is
    missing, ``ValueError`` if it is corrupt."""
    path = resources.files("poissongrad.data").joinpath(f"grasshopper/{name}.gz")
    try:
        raw = gzip.decompress(path.read_bytes())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"the grasshopper file {name} is missing from the installed package; reinstall "
            "poissongrad"
        ) from None
    except (OSError, EOFError) as error:
        raise ValueError(f"corrupt grasshopper data file {name}: {error}") from None
    if hashlib.sha256(raw).hexdigest() != _checksums().get(name):
        raise ValueError(f"corrupt grasshopper data file {name} (its SHA-256 does not match)")
    return np.loadtxt(io.BytesIO(raw), comments="#", ndmin=1)


def _binned(recording: int, bin_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """(counts, standardised stimulus) per bin of one whole recording."""
    spikes = _read(f"grasshopper_spike_times{recording}.txt")
    stimulus = _read(f"grasshopper_stimulus{recording}.txt")
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
