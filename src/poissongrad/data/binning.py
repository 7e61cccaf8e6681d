"""Spike times to the count arrays the models take: (trials, bins, neurons), with a time axis.

:func:`bin_spikes` accepts the forms spike times come in: a list of arrays (one per neuron, in
seconds), a pynapple ``TsGroup`` or ``Ts``, neo ``SpikeTrain`` objects, an NWB ``Units`` table
or the path of an NWB file (its ``units``). pynapple, neo and pynwb are not dependencies (the
``recordings`` extra installs pynapple and pynwb): the objects are read by their public
attributes, and only an NWB path imports pynwb (a one-line hint if it is missing). Counts are
exact: bin ``b`` of a trial starting at ``s`` holds the spikes with s + b·Δ ≤ t < s + (b + 1)·Δ,
the last bin also its right edge (``np.histogram``'s bins).

Examples
--------
>>> import numpy as np
>>> binned = bin_spikes([np.array([0.001, 0.004, 0.012]), np.array([0.0105])], bin_size=0.005,
...                     support=(0.0, 0.015))
>>> binned.counts[0].T  # neurons × bins
array([[2., 0., 1.],
       [0., 0., 1.]])
>>> binned.times[0]  # bin centres, seconds
array([0.0025, 0.0075, 0.0125])
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BinnedSpikes", "MAX_COUNTS", "bin_spikes", "spike_times_of"]

#: Most counts one call returns (float64: 2 GB): a bin size far too small is an error, not an
#: allocation that exhausts memory.
MAX_COUNTS = 2**28


@dataclass(frozen=True)
class BinnedSpikes:
    """Counts and their time axis.

    Attributes:
        counts: float64 (trials, bins, neurons); one trial when no trials were given.
        bin_size: Δ in seconds.
        starts: (trials,) the start of each trial's first bin, seconds.
        from_pynapple: the spikes came as pynapple objects (:meth:`series` answers in kind).
    """

    counts: np.ndarray
    bin_size: float
    starts: np.ndarray
    from_pynapple: bool = False

    @property
    def times(self) -> np.ndarray:
        """Bin centres (trials, bins) in seconds."""
        centres = (np.arange(self.counts.shape[1]) + 0.5) * self.bin_size
        return self.starts[:, None] + centres

    def series(self, values: np.ndarray, columns: list[str]) -> Any:
        """``values`` (trials, bins, k) on this time axis: a pynapple ``TsdFrame`` (time
        support: the trials) when the spikes came as pynapple objects, else a pandas
        ``DataFrame`` indexed by bin centre ("time (s)"; with a "trial" level for several
        trials), one column per name in ``columns``."""
        values = np.asarray(values)
        if values.shape[:2] != self.counts.shape[:2] or values.shape[2:] != (len(columns),):
            raise ValueError(
                f"values of shape {values.shape} do not fit {self.counts.shape[:2]} bins and "
                f"{len(columns)} columns"
            )
        flat = values.reshape(-1, len(columns))
        if self.from_pynapple:
            import pynapple as nap

            ends = self.starts + self.counts.shape[1] * self.bin_size
            support = nap.IntervalSet(start=self.starts, end=ends)
            return nap.TsdFrame(t=self.times.ravel(), d=flat, columns=columns, time_support=support)
        import pandas as pd

        times = self.times
        if len(times) == 1:
            index = pd.Index(times[0], name="time (s)")
        else:
            trial = np.repeat(np.arange(len(times)), times.shape[1])
            index = pd.MultiIndex.from_arrays([trial, times.ravel()], names=["trial", "time (s)"])
        return pd.DataFrame(flat, index=index, columns=columns)


def spike_times_of(spikes: Any) -> list[np.ndarray]:
    """One float64 array of spike times (seconds) per neuron, from any accepted form.

    ``ValueError`` for anything else, for times that are not finite, or for no neuron.
    """
    if isinstance(spikes, (str, Path)):
        spikes = _nwb_units(Path(spikes))
    if hasattr(spikes, "get_unit_spike_times") and hasattr(spikes, "__len__"):  # NWB Units
        units = [spikes.get_unit_spike_times(i) for i in range(len(spikes))]
    elif isinstance(spikes, Mapping):  # pynapple TsGroup (neuron id → Ts), or a plain dict
        units = list(spikes.values())
    elif hasattr(spikes, "t") and not isinstance(spikes, np.ndarray):  # one pynapple Ts
        units = [spikes]
    elif hasattr(spikes, "times") and hasattr(spikes, "t_start"):  # one neo SpikeTrain
        units = [spikes]
    elif isinstance(spikes, Iterable) and not isinstance(spikes, np.ndarray):
        units = list(spikes)
    elif isinstance(spikes, np.ndarray) and spikes.ndim == 1:
        units = [spikes]
    else:
        raise ValueError(
            "spikes must be a list of spike-time arrays (one per neuron, seconds), a pynapple "
            f"TsGroup or Ts, neo SpikeTrains, an NWB Units table or file; got {type(spikes)}"
        )
    out = [_seconds(u) for u in units]
    if not out:
        raise ValueError("spikes hold no neuron")
    for i, times in enumerate(out):
        if not np.isfinite(times).all():
            raise ValueError(f"neuron {i} has spike times that are not finite")
    return out


def _seconds(unit: Any) -> np.ndarray:
    """The spike times of one neuron as float64 seconds."""
    if hasattr(unit, "times") and hasattr(unit, "t_start"):  # neo: a quantity array
        times = unit.times
        times = times.rescale("s").magnitude if hasattr(times, "rescale") else times
    elif hasattr(unit, "t") and not isinstance(unit, np.ndarray):  # pynapple Ts / Tsd
        times = unit.t
    else:
        times = unit
    array = np.asarray(times, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"spike times of one neuron must be 1-D, got shape {array.shape}")
    return array


def _nwb_units(path: Path) -> Any:
    """The ``units`` table of an NWB file (read into memory; the file is closed after)."""
    try:
        from pynwb import NWBHDF5IO
    except ImportError:
        raise ImportError(
            "reading an NWB file needs pynwb: pip install pynwb (or poissongrad[recordings])"
        ) from None
    if not path.is_file():
        raise FileNotFoundError(f"no NWB file at {path}")
    with NWBHDF5IO(str(path), "r") as io:
        units = io.read().units
        if units is None:
            raise ValueError(f"{path} has no units table")
        return [np.asarray(units.get_unit_spike_times(i)) for i in range(len(units))]


def _check_size(trials: int, bins: float, neurons: int) -> None:
    """``ValueError`` before allocating more than :data:`MAX_COUNTS` counts."""
    size = trials * float(bins) * neurons
    if size > MAX_COUNTS:
        raise ValueError(
            f"{size:.3g} counts (trials × bins × neurons) exceed {MAX_COUNTS:.3g}: use a wider "
            "bin_size or a shorter support"
        )


def bin_spikes(
    spikes: Any,
    bin_size: float,
    support: tuple[float, float] | None = None,
    trials: np.ndarray | None = None,
) -> BinnedSpikes:
    """Counts (trials, bins, neurons) of spike times in bins of ``bin_size`` seconds.

    Parameters
    ----------
    spikes
        Spike times in seconds, in any form :func:`spike_times_of` reads.
    bin_size : float
        Δ > 0, seconds.
    support : (start, end), optional
        The time span binned when no ``trials`` are given (default: 0, or the first spike if
        earlier, to the last spike); its bins are ⌈(end − start)/Δ⌉ from ``start``.
    trials : array (trials, 2), optional
        (start, stop) of each trial; each is cut into ⌊(stop − start)/Δ⌋ bins from its start,
        which must be the same number for every trial.

    Returns
    -------
    :class:`BinnedSpikes`. ``ValueError`` for a bad bin size, support or trial table.
    """
    if isinstance(bin_size, bool) or not (isinstance(bin_size, (int, float)) and bin_size > 0):
        raise ValueError(f"bin_size must be a number > 0 (seconds), got {bin_size!r}")
    if not math.isfinite(bin_size):
        raise ValueError(f"bin_size must be finite, got {bin_size!r}")
    times = spike_times_of(spikes)
    from_pynapple = type(spikes).__module__.split(".")[0] == "pynapple"
    if trials is None:
        if support is None:
            every = np.concatenate(times)
            start = min(0.0, float(every.min())) if every.size else 0.0
            end = float(every.max()) if every.size else bin_size
            support = (start, max(end, start + bin_size))
        start, end = (float(v) for v in support)
        if not (math.isfinite(start) and math.isfinite(end) and end > start):
            raise ValueError(f"support must be (start, end) with end > start, got {support!r}")
        n_bins = math.ceil((end - start) / bin_size - 1e-9)
        _check_size(1, n_bins, len(times))
        edges = [start + np.arange(n_bins + 1) * bin_size]
        edges[0][-1] = max(edges[0][-1], end)
    else:
        table = np.asarray(trials, dtype=np.float64)
        if table.ndim != 2 or table.shape[1] != 2 or not np.isfinite(table).all():
            raise ValueError(f"trials must be a finite (trials, 2) array, got {table.shape}")
        lengths = np.floor((table[:, 1] - table[:, 0]) / bin_size + 1e-9)
        if lengths.min() < 1 or (lengths != lengths[0]).any():
            raise ValueError(
                f"every trial must hold the same number (≥ 1) of {bin_size} s bins; got "
                f"{sorted(set(lengths.tolist()))[:5]}"
            )
        _check_size(len(table), lengths[0], len(times))
        edges = [row[0] + np.arange(int(lengths[0]) + 1) * bin_size for row in table]
    counts = np.zeros((len(edges), len(edges[0]) - 1, len(times)))
    for k, trial_edges in enumerate(edges):
        for n, unit in enumerate(times):  # one histogram per trial and neuron
            counts[k, :, n] = np.histogram(unit, bins=trial_edges)[0]
    starts = np.array([e[0] for e in edges])
    return BinnedSpikes(counts, float(bin_size), starts, from_pynapple)
