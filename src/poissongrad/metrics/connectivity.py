"""Connectivity errors of a fitted partially observable GLM against the true network.

Hidden neurons are identifiable only up to relabelling, so learned hidden neurons are first
matched to the true ones (:func:`match_hidden`), then errors are mean absolute differences of the
weights W (N, N, D) and baselines b (N,), visible neurons first.

Examples
--------
>>> import torch
>>> w = torch.randn(4, 4, 2, generator=torch.Generator().manual_seed(0))
>>> b = torch.zeros(4)
>>> swapped, b2 = permute_hidden(w, b, [1, 0], n_visible=2)
>>> connectivity_errors(w, b, swapped, b2, n_visible=2)["weight_error"]
0.0
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

__all__ = ["BLOCKS", "Block", "connectivity_errors", "match_hidden", "permute_hidden"]


class Block(StrEnum):
    """A connectivity block of W (rows: target neurons, columns: source neurons), named target
    then source: ``vh`` is visible neurons driven by hidden ones (v←h)."""

    VV = "vv"
    VH = "vh"
    HV = "hv"
    HH = "hh"

    @property
    def target(self) -> str:
        return _PART[self.value[0]]

    @property
    def source(self) -> str:
        return _PART[self.value[1]]

    @property
    def error_column(self) -> str:
        """The row key of its error in :func:`connectivity_errors`."""
        return f"{self.value}_weight_error"

    @property
    def arrow(self) -> str:
        """``v←h`` and so on, for tables."""
        return f"{self.value[0]}←{self.value[1]}"


_PART = {"v": "visible", "h": "hidden"}

#: The blocks by the row key of their error: (target part, source part).
BLOCKS = {b.error_column: (b.target, b.source) for b in Block}


def match_hidden(true_weights: torch.Tensor, weights: torch.Tensor, n_visible: int) -> np.ndarray:
    """Permutation of the learned hidden neurons that best matches the true ones.

    The cost of assigning learned hidden j to true hidden i is the mean |W − Ŵ| over the rows and
    columns linking those two neurons to the visible ones (Hungarian algorithm).

    Returns
    -------
    ``perm`` (length H) with learned hidden ``perm[i]`` playing true hidden ``i``.
    """
    w, v = true_weights.detach().cpu(), weights.detach().cpu()
    hidden = torch.arange(n_visible, w.shape[0])
    # cost[i, j]: true hidden i against learned hidden j, broadcast over both.
    rows = (w[hidden, :n_visible][:, None] - v[hidden, :n_visible][None]).abs().mean((-1, -2))
    cols = w[:n_visible, hidden].movedim(1, 0)[:, None] - v[:n_visible, hidden].movedim(1, 0)[None]
    cost = rows + cols.abs().mean((-1, -2))
    return linear_sum_assignment(cost.numpy())[1]


def permute_hidden(
    weights: torch.Tensor, bias: torch.Tensor, perm: Sequence[int] | np.ndarray, n_visible: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Relabel hidden neurons: new hidden i is old hidden ``perm[i]`` (rows and columns)."""
    order = torch.cat([torch.arange(n_visible), n_visible + torch.as_tensor(np.asarray(perm))])
    return weights[order][:, order], bias[order]


def connectivity_errors(
    true_weights: torch.Tensor,
    true_bias: torch.Tensor,
    weights: torch.Tensor,
    bias: torch.Tensor,
    n_visible: int,
) -> dict[str, float]:
    """Mean |W − Ŵ| over all weights and per block (:data:`BLOCKS`), and mean |b − b̂|, after
    the best permutation of hidden neurons (:func:`match_hidden`).

    ``visible_weight_error`` is the visible←visible block (kept under its earlier name).
    """
    perm = match_hidden(true_weights, weights, n_visible)
    w, b = permute_hidden(weights.detach().cpu(), bias.detach().cpu(), perm, n_visible)
    tw, tb = true_weights.detach().cpu(), true_bias.detach().cpu()
    error = (tw - w).abs()
    part = {"visible": slice(None, n_visible), "hidden": slice(n_visible, None)}
    out = {
        "weight_error": float(error.mean()),
        "visible_weight_error": float(error[:n_visible, :n_visible].mean()),
        "bias_error": float((tb - b).abs().mean()),
    }
    for key, (target, source) in BLOCKS.items():
        out[key] = float(error[part[target], part[source]].mean())
    return out
