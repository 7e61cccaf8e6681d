"""The rate and temperature grids of the experiments (the paper's and quick ones)."""

from __future__ import annotations

from typing import Literal

__all__ = [
    "GRIDS",
    "PAPER_RATES",
    "PAPER_TAUS",
    "SEED_BLOCK",
    "SMOKE_RATES",
    "Grid",
    "block_seeds",
    "rates_and_taus",
]

Grid = Literal["smoke", "quick", "paper"]

#: The named grids, smallest first: smoke (seconds: every step of every experiment runs),
#: quick (minutes: the guide's default) and the paper's.
GRIDS: tuple[str, ...] = ("smoke", "quick", "paper")

#: Rates of the smoke grid.
SMOKE_RATES: tuple[float, ...] = (1.0, 10.0)

#: The paper's fidelity and gradient grids.
PAPER_RATES: tuple[float, ...] = (0.1, 0.5, 1, 2, 5, 8, 10, 15, 20, 30, 40, 70, 100)
PAPER_TAUS: tuple[float, ...] = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)

QUICK_RATES: tuple[float, ...] = (0.5, 2, 5, 20, 100)
QUICK_TAUS: tuple[float, ...] = (0.05, 0.1, 0.3, 0.5)


def rates_and_taus(grid: Grid) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(rates, temperatures) of a named grid; ``ValueError`` for an unknown name."""
    if grid == "paper":
        return PAPER_RATES, PAPER_TAUS
    if grid == "quick":
        return QUICK_RATES, QUICK_TAUS
    raise ValueError(f"unknown grid {grid!r}; expected 'quick' or 'paper'")


#: Seeds in one block of a seed-replicated experiment (the guide adds blocks where its verdicts
#: are not yet resolved: :mod:`poissongrad.report.verdicts`).
SEED_BLOCK = 3


def block_seeds(seed: int) -> tuple[int, ...]:
    """The block of :data:`SEED_BLOCK` consecutive seeds starting at ``seed``."""
    return tuple(range(seed, seed + SEED_BLOCK))
