"""Poisson counts for the samplers' hot path: vectorised inversion on CPU.

``torch.poisson`` on CPU draws element after element from one generator (one thread, ~35 ns
per element at a mean of 5). For the small means that dominate relaxed-count sampling, sequential
inversion vectorised over elements is faster (measured: 0.8 against 1.1 ms at means up to 0.9,
1.8 against 2.5 ms at means up to 9, for 65,536 elements on 2 threads): with U ~ Uniform(0, 1),
N = #{k ≥ 0 : F(k) < U} where F(k) = Σ_{j≤k} e^{−μ} μ^j / j!, accumulated for every element at
once over k = 0 … J − 1 with J past the largest mean's 1 − 10⁻¹² quantile. The cdf is summed in
float32, so the law is Poisson's to within float32 rounding of F (a few 1e-7 in probability,
far below any test's resolution); an element whose U is still above F after J steps (rounding,
or the 10⁻¹² tail) is redrawn by ``torch.poisson``. Elements whose mean exceeds
:data:`INVERSION_MAX_MEAN`, other devices (where ``torch.poisson`` is already parallel) and
compiled or traced code (static shapes, no reading of the largest mean) use
``torch.poisson``.

Examples
--------
>>> import torch
>>> mu = torch.tensor([0.0, 0.5, 3.0, 8.0])
>>> counts = poisson_counts(mu, torch.Generator().manual_seed(0))
>>> counts.shape, bool((counts >= 0).all()), float(counts[0])
(torch.Size([4]), True, 0.0)
"""

from __future__ import annotations

import torch

__all__ = ["INVERSION_MAX_MEAN", "poisson_counts"]

#: Largest mean drawn by inversion on CPU; larger ones use torch.poisson.
INVERSION_MAX_MEAN = 12.0


def poisson_counts(mu: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Poisson(μ) counts shaped like ``mu`` (≥ 0, finite), in its dtype; no gradient.

    On CPU, elements with μ ≤ :data:`INVERSION_MAX_MEAN` are drawn by inversion and the others
    by ``torch.poisson`` (reading the largest mean there costs no device sync); consumes
    ``generator`` differently from ``torch.poisson``.
    """
    if (
        mu.device.type != "cpu"
        or mu.numel() == 0
        or torch.compiler.is_compiling()
        or torch.jit.is_tracing()  # a trace would freeze the walk's data-dependent length
    ):
        return torch.poisson(mu, generator=generator)
    flat = mu.reshape(-1)
    low, high = (float(v) for v in torch.aminmax(flat))
    if low > INVERSION_MAX_MEAN:
        return torch.poisson(mu, generator=generator)
    if high <= INVERSION_MAX_MEAN:
        return _inversion(flat, high, generator).to(mu.dtype).reshape(mu.shape)
    large = flat > INVERSION_MAX_MEAN
    out = torch.empty_like(flat)
    out[large] = torch.poisson(flat[large], generator=generator)
    small = ~large
    if bool(small.any()):
        out[small] = _inversion(flat[small], INVERSION_MAX_MEAN, generator).to(mu.dtype)
    return out.reshape(mu.shape)


def _inversion(mu: torch.Tensor, top: float, generator: torch.Generator | None) -> torch.Tensor:
    """Counts for 1-D means ≤ ``top`` ≤ :data:`INVERSION_MAX_MEAN` by vectorised inversion.

    Every :data:`_CHECK_EVERY` steps, once under a quarter of the elements are undecided, the
    walk goes on with those only (so a few large means do not make every element walk far).
    """
    # Past the 1 − 1e-12 quantile of Poisson(top) for every top ≤ 12 (scipy's isf would cost
    # more than the draw); undecided elements are redrawn anyway.
    steps = int(top + 6.5 * top**0.5 + 9)
    m = mu.float()
    u = torch.rand(m.shape, generator=generator, dtype=torch.float32)
    term = torch.exp(-m)  # P(N = k), from k = 0
    cdf = term.clone()
    # uint8 counts (steps < 256) add the comparisons' bytes without a dtype conversion.
    counts = torch.zeros(m.shape, dtype=torch.uint8)
    index = None  # the elements still walking (None: all of them)
    walking = (u, cdf, term, m, counts)
    for k in range(1, steps):
        u_w, cdf_w, term_w, m_w, counts_w = walking
        counts_w.add_(torch.gt(u_w, cdf_w).view(torch.uint8))
        term_w.mul_(m_w).div_(k)
        cdf_w.add_(term_w)
        if k % _CHECK_EVERY == 0:
            undecided = u_w > cdf_w
            left = int(undecided.sum())
            if left == 0 or left < len(u_w) // 4:
                counts = _write_back(counts, index, counts_w)
                keep = undecided.nonzero().squeeze(1)
                index = keep if index is None else index[keep]
                walking = tuple(t[keep] for t in walking)
                if left == 0:
                    break
    u_w, cdf_w, _, m_w, counts_w = walking
    counts = _write_back(counts, index, counts_w)
    out = counts.to(torch.float32)
    undecided = u_w > cdf_w
    if bool(undecided.any()):
        redo = undecided.nonzero().squeeze(1)
        rows = redo if index is None else index[redo]
        out[rows] = torch.poisson(m_w[redo], generator=generator)
    return out


#: Steps between checks of how many elements are still undecided.
_CHECK_EVERY = 6


def _write_back(
    counts: torch.Tensor, index: torch.Tensor | None, walking: torch.Tensor
) -> torch.Tensor:
    if index is None:
        return walking
    counts[index] = walking
    return counts
