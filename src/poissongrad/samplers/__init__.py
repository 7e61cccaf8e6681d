"""The relaxed Poisson samplers' building blocks: soft indicators, the EAT and GSM samplers
(reference, windowed, fused numba kernels), exact Poisson draws, the closed-form moments and the
argument checks. Users call :func:`poissongrad.relaxed_poisson` and the distributions instead."""
