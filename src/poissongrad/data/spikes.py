"""Synthetic spike data with ground truth for the partially observable GLM.

:func:`simulate` samples spike trains from the GLM of :mod:`poissongrad.glm`;
:func:`make_network` draws a seeded network and simulates it (the same weights the returned
object holds):

* each neuron has a refractory self-filter W[n, n, d] = −s·e^{−(d−1)/2}, s ~ U(0.5, 1.5);
* couplings W[n, m, d] = a·e^{−(d−1)/2} with a ~ N(0, 0.6²) on a random 60% of pairs; every
  hidden→visible coupling has |a| ≥ 0.6 (a weak or absent one is set to ±0.6), so hidden activity
  leaves a trace in the visible spikes;
* baselines b chosen so that base rates are 0.1–0.4 spikes per bin (softplus link).

Settings (:data:`SETTINGS`): ``"paper"`` (3 visible + 2 hidden, D = 3, T = 100, 40 train / 20
test sequences, as in the paper's code), ``"large"`` (20 visible + 5 hidden, D = 3, T = 500,
40 / 20 sequences) and ``"identifiable"`` (12 visible + 1 hidden, D = 3, T = 100, 40 / 20
sequences; the hidden neuron fires at a base rate of 1 spike per bin and drives every visible
neuron with |a| ≥ 1.5). In the paper's setting the visible spikes keep under a quarter of the
information about the hidden blocks of W (:mod:`poissongrad.metrics.identifiability`); the
identifiable setting is one where that check finds most of it kept, so that hidden connectivity
can be recovered at all.

Examples
--------
>>> net = make_network("paper", seed=0)
>>> net.train.shape, net.n_visible, net.n_hidden
(torch.Size([40, 100, 5]), 3, 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from poissongrad.glm import get_link

__all__ = ["SETTINGS", "Setting", "SpikeNetwork", "make_network", "random_weights", "simulate"]


@dataclass(frozen=True)
class Setting:
    """Size of a simulated network and its data, and how its hidden neurons are drawn.

    hidden_rate: base rate of every hidden neuron (spikes per bin; None: U(0.1, 0.4) like the
    visible ones); hidden_coupling: lower bound on |a| of every hidden→visible coupling (None:
    only the rule of the module docstring).
    """

    n_visible: int
    n_hidden: int
    history: int
    bins: int
    n_train: int
    n_test: int
    hidden_rate: float | None = None
    hidden_coupling: float | None = None


SETTINGS: dict[str, Setting] = {
    "paper": Setting(3, 2, 3, 100, 40, 20),
    "large": Setting(20, 5, 3, 500, 40, 20),
    "identifiable": Setting(12, 1, 3, 100, 40, 20, hidden_rate=1.0, hidden_coupling=1.5),
}


@dataclass(frozen=True)
class SpikeNetwork:
    """A ground-truth network and spike trains simulated from it.

    Attributes:
        weights: W (N, N, D), visible neurons first; bias: b (N,); link: the GLM link.
        n_visible: V. train, test: counts (sequences, T, N) of every neuron (the first V are
            the visible ones; the rest are the hidden truth).
    """

    weights: torch.Tensor
    bias: torch.Tensor
    link: str
    n_visible: int
    train: torch.Tensor
    test: torch.Tensor

    @property
    def n_hidden(self) -> int:
        return self.weights.shape[0] - self.n_visible


@torch.no_grad()
def simulate(
    weights: torch.Tensor,
    bias: torch.Tensor,
    n_sequences: int,
    n_bins: int,
    link: str = "softplus",
    generator: torch.Generator | None = None,
    drive: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sample spike trains from the GLM, vectorised over sequences (a loop over time bins).

    Parameters
    ----------
    weights : Tensor (N, N, D)
    bias : Tensor (N,)
    n_sequences, n_bins : int
    link : str
        A key of :data:`poissongrad.glm.LINKS`.
    drive : Tensor (n_sequences, n_bins, N), optional
        External drive (e.g. a filtered stimulus, :func:`poissongrad.glm.input_drive`).

    Returns
    -------
    Counts (n_sequences, n_bins, N), in the dtype of ``weights``.
    """
    n, _, depth = weights.shape
    f = get_link(link).forward
    y = torch.zeros(n_sequences, n_bins + depth, n, dtype=weights.dtype)
    flipped = weights.flip(-1)  # flipped[..., j] is lag depth − j
    for t in range(n_bins):
        window = y[:, t : t + depth, :]  # bins t − depth … t − 1 of the output, (S, D, N)
        total = bias + torch.einsum("sdm,nmd->sn", window, flipped)
        if drive is not None:
            total = total + drive[:, t]
        y[:, t + depth] = torch.poisson(f(total), generator=generator)
    return y[:, depth:]


def random_weights(
    n_visible: int,
    n_hidden: int,
    depth: int,
    generator: torch.Generator,
    hidden_rate: float | None = None,
    hidden_coupling: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded (W, b) as described in the module docstring, float64 (see :class:`Setting` for
    ``hidden_rate`` and ``hidden_coupling``; neither changes the random draws)."""
    n = n_visible + n_hidden
    kw = {"generator": generator, "dtype": torch.float64}
    decay = torch.exp(-torch.arange(depth, dtype=torch.float64) / 2.0)
    strength = 0.6 * torch.randn(n, n, **kw) * (torch.rand(n, n, **kw) < 0.6)
    hidden_to_visible = strength[:n_visible, n_visible:]
    weak = hidden_to_visible.abs() < 0.3
    signs = torch.where(torch.rand(n_visible, n_hidden, **kw) < 0.5, -1.0, 1.0)
    hidden_to_visible = torch.where(weak, 0.6 * signs, hidden_to_visible)
    if hidden_coupling is not None:
        magnitude = hidden_to_visible.abs().clamp_min(hidden_coupling)
        hidden_to_visible = hidden_to_visible.sign() * magnitude
    strength[:n_visible, n_visible:] = hidden_to_visible
    self_inhibition = 0.5 + torch.rand(n, **kw)
    strength[torch.arange(n), torch.arange(n)] = -self_inhibition
    base = 0.1 + 0.3 * torch.rand(n, **kw)
    if hidden_rate is not None:
        base[n_visible:] = hidden_rate
    bias = torch.log(torch.expm1(base))
    return strength.unsqueeze(-1) * decay, bias


def make_network(setting: str = "paper", seed: int = 0, link: str = "softplus") -> SpikeNetwork:
    """Draw a network for ``setting`` (see :data:`SETTINGS`) and simulate train/test spikes."""
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; expected one of {sorted(SETTINGS)}")
    spec = SETTINGS[setting]
    v, n_train = spec.n_visible, spec.n_train
    gen = torch.Generator().manual_seed(seed)
    weights, bias = random_weights(
        v, spec.n_hidden, spec.history, gen, spec.hidden_rate, spec.hidden_coupling
    )
    if link != "softplus":  # same base rates under another link
        bias = get_link(link).inverse(torch.nn.functional.softplus(bias))
    spikes = simulate(weights, bias, n_train + spec.n_test, spec.bins, link, gen)
    return SpikeNetwork(weights, bias, link, v, spikes[:n_train], spikes[n_train:])
