"""Offline data: image datasets for the Poisson VAE, spike data for the POGLM, and
:func:`bin_spikes` for a recording's own spike times."""

from poissongrad.data.binning import BinnedSpikes, bin_spikes

__all__ = ["BinnedSpikes", "bin_spikes"]
