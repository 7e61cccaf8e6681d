"""Offline data: image datasets for the Poisson VAE, spike data for the POGLM."""
