"""Partially observable Poisson GLM (POGLM) of a neural population, and its inference.

N = V visible + H hidden neurons follow the GLM of :mod:`poissongrad.glm` (spikes
(..., T, N), visible neurons first). Inference is variational: q(z | x) is Poisson over hidden
spikes z (..., T, H) with rates from a convolution of the visible spikes x, causal
(``"forward"``: lags 1..D) or non-causal (``"forward_backward"``: lags −D..D). The ELBO
E_q[log p(x, z) − log q(z | x)] is maximised jointly over (W, b) and q, with hidden spikes drawn
through any estimator of :mod:`poissongrad.estimators`. Relaxed (real-valued) hidden counts enter
log p and log q through the Poisson log-pmf extended with lgamma, as in the paper's code (their
log z! cancel between the two, so training leaves them out).

Spike times (a list of arrays, a pynapple ``TsGroup``, an NWB file, …) go in through
``fit(spikes, bin_size=…)`` or :func:`poissongrad.data.binning.bin_spikes`, whose time axis the
posterior's hidden trace keeps.

The simulator and random networks live in :mod:`poissongrad.data.spikes`, the connectivity
errors in :mod:`poissongrad.metrics.connectivity`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from poissongrad.control_variates import make_control
from poissongrad.data.binning import BinnedSpikes, bin_spikes
from poissongrad.data.spikes import simulate
from poissongrad.estimators import Surrogate, check_estimator_use
from poissongrad.glm import GLM, LINKS, get_link, glm_rates, input_drive, lagged
from poissongrad.models.base import (
    Integer,
    ModelMixin,
    OneOf,
    Real,
    as_table,
    check_int,
    check_n_features,
    ignored_target,
)
from poissongrad.models.training import descend, train_epochs
from poissongrad.particle_filter import particle_log_likelihood
from poissongrad.registry import DEFAULT_METHOD
from poissongrad.samplers.moments import poisson_log_kernel
from poissongrad.utils.hashing import seed_for

__all__ = ["GLMParams", "POGLM", "HiddenPosterior", "exponential_basis", "external_drive"]


def exponential_basis(depth: int, n_basis: int) -> torch.Tensor:
    """Exponential filter basis (n_basis, depth), float64: row k is e^{−(d − 1)/s_k} at lags
    d = 1..depth, with time constants s_k log-spaced from 1 bin to ``depth`` bins."""
    check_int("n_basis", n_basis)
    scales = torch.logspace(0.0, math.log10(depth), n_basis, dtype=torch.float64)
    lags = torch.arange(depth, dtype=torch.float64)
    return torch.exp(-lags / scales.unsqueeze(-1))


class HiddenPosterior(nn.Module):
    """q(z | x): independent Poisson hidden spikes with rates softplus(c + A ⋆ x).

    Args:
        n_visible: V; n_hidden: H; depth: D.
        kind: ``"forward"`` (visible lags 1..D, causal) or ``"forward_backward"`` (lags −D..D,
            so the future visible activity a hidden spike drives informs it).
    """

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        depth: int,
        kind: Literal["forward", "forward_backward"] = "forward_backward",
    ) -> None:
        super().__init__()
        if kind == "forward":
            self.lags = range(1, depth + 1)
        elif kind == "forward_backward":
            self.lags = range(-depth, depth + 1)
        else:
            raise ValueError(f"unknown posterior {kind!r}; expected forward or forward_backward")
        self.kernel = nn.Parameter(torch.zeros(n_hidden, n_visible, len(self.lags)))
        self.offset = nn.Parameter(torch.zeros(n_hidden))

    def rate(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden rates (..., T, H) given visible spikes x (..., T, V)."""
        drive = torch.einsum("...tvl,hvl->...th", lagged(x, self.lags), self.kernel)
        return nn.functional.softplus(self.offset + drive) + 1e-6


@dataclass
class GLMParams:
    """The trainable parameters of a POGLM, as one object.

    Attributes:
        coefficients: coupling filters (N, N, width), float64: ``width`` lags, or basis
            weights when ``basis`` is given; W[i, j] is the effect of neuron j on neuron i.
        bias: baseline drive (N,) in the link's domain.
        input_weights: stimulus filters (N, C, L) over lags 0..L − 1 (C = 0 without inputs).
        posterior: q(z | x), the hidden neurons' variational posterior.
        basis: the filter basis (n_basis, depth) or None (filters are the coefficients).
    All tensors except ``basis`` are differentiable (``requires_grad``).
    """

    coefficients: torch.Tensor
    bias: torch.Tensor
    input_weights: torch.Tensor
    posterior: HiddenPosterior
    basis: torch.Tensor | None = None
    input_mask: torch.Tensor | None = None

    def filters(self) -> torch.Tensor:
        """Coupling filters W (N, N, depth) at lags 1..depth."""
        return self.coefficients if self.basis is None else self.coefficients @ self.basis

    def stimulus_filters(self) -> torch.Tensor:
        """Stimulus filters (N, C, L), zero for the neurons the stimulus does not reach."""
        return (
            self.input_weights if self.input_mask is None else self.input_weights * self.input_mask
        )

    def drive(
        self, stimulus: torch.Tensor | None, offsets: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """External drive (..., T, N) of ``stimulus`` (..., T, C) and the visible neurons'
        ``offsets`` (..., T, V), or None without either (:func:`external_drive`)."""
        n_hidden = self.posterior.offset.shape[0]
        return external_drive(stimulus, self.stimulus_filters(), offsets, n_hidden)

    def tensors(self) -> list[torch.Tensor]:
        """Everything the optimiser updates, in a fixed order."""
        return [self.coefficients, self.bias, *self.posterior.parameters(), self.input_weights]


def external_drive(
    stimulus: torch.Tensor | None,
    input_weights: torch.Tensor | None,
    offsets: torch.Tensor | None,
    n_hidden: int,
) -> torch.Tensor | None:
    """Drive (..., T, N) added before the link: the stimulus (..., T, C) through the filters
    (N, C, L), plus fixed per-bin offsets (..., T, V) of the visible neurons (the hidden ones
    get none); None without either. Differentiable in every tensor."""
    drive = None if stimulus is None else input_drive(stimulus, input_weights)
    if offsets is not None:
        padded = nn.functional.pad(offsets, (0, n_hidden))
        drive = padded if drive is None else drive + padded
    return drive


class POGLM(ModelMixin):
    """Partially observable Poisson GLM, fitted by variational inference (scikit-learn style).

    Parameters
    ----------
    n_hidden : int
        H ≥ 0 hidden neurons (0: a fully observed GLM, fitted and scored by the same code, so
        that models with and without hidden neurons compare on one likelihood).
    history : int
        D ≥ 1, the history/coupling filter length in bins.
    link : {"softplus", "sigmoid"}
        Softplus capped at 10 spikes per bin, or sigmoid (at most 1).
    estimator : str
        Gradient estimator for the hidden spikes, any of
        :data:`poissongrad.estimators.ESTIMATORS` (e.g. ``"eat_cubic"``, ``"gsm"``,
        ``"score_loo"``).
    temperature : float
        τ > 0 for relaxed estimators (ignored by the others); for REBAR/RELAX the control
        variate's initial τ (then learned, with η, by minimising the gradient's variance).
    n_samples : int
        Monte-Carlo samples of the hidden spikes per step (≥ the estimator's minimum).
    posterior : {"forward_backward", "forward"}
        The family of q (see :class:`HiddenPosterior`).
    basis : {None, "exponential"}
        None: free filters (N·N·D weights). ``"exponential"``: every history and coupling
        filter is a combination of ``n_basis`` decaying exponentials
        (:func:`exponential_basis`), W = A ⊗ basis, N·N·n_basis coefficients.
    n_basis : int
        Basis functions per filter (with ``basis``).
    input_history : int
        L ≥ 1: lags 0..L − 1 of the stimulus filters (used when ``fit`` gets ``inputs``).
    input_targets : {"all", "hidden"}
        The neurons the stimulus filters reach: every neuron, or the hidden ones only (with
        ``offsets`` giving the visible neurons a fixed stimulus drive, e.g. their own PSTH).
    epochs : int
        Passes over the data.
    batch_size : int or None
        Sequences per step (None: all).
    lr : float
        Adam learning rate.
    l2 : float
        Strength of a Gaussian prior on W, l2·‖W‖² added to the negative ELBO of the whole data
        set (0: maximum likelihood).
    validation_fraction : float
        Early stopping: this share of the sequences (at least one) is held out, its ELBO (hard
        samples) is measured after every epoch, training stops after ``patience`` epochs
        without improvement and the parameters of the best epoch are kept. 0: off.
    patience : int
        Epochs without a better held-out ELBO before stopping.
    random_state : int
        Seeds initialisation and sampling.

    Attributes
    ----------
    weights_ : Tensor (N, N, D)
        W, visible neurons first, float64.
    bias_ : Tensor (N,)
        b.
    input_weights_ : Tensor (N, C, L) or None
        Stimulus filters (None when fitted without ``inputs``; zero rows for the neurons
        ``input_targets`` leaves out).
    has_offsets_ : bool
        Fitted with ``offsets`` (then every scoring method needs them too).
    posterior_ : HiddenPosterior
        The fitted q.
    loss_curve_ : list of float
        Negative ELBO per sequence (nats) of every epoch.
    validation_curve_ : list of float
        Held-out ELBO per sequence after every epoch (empty without early stopping).
    best_epoch_ : int
        The epoch whose parameters were kept (the last one without early stopping).
    n_visible_ : int
        V, the number of visible neurons seen in ``fit`` (also ``n_features_in_``, its
        scikit-learn name).
    bin_size_ : float or None
        The bin width (seconds) of spike times fitted through ``bin_size`` or a
        :class:`~poissongrad.data.binning.BinnedSpikes`; None for counts.
    control_ : ControlVariate or None
        The learned control variate of a REBAR/RELAX estimator, None otherwise.

    Examples
    --------
    >>> import torch
    >>> from poissongrad.data.spikes import make_network
    >>> net = make_network("paper", seed=0)
    >>> model = POGLM(n_hidden=2, history=3, epochs=5).fit(net.train[..., :3])
    >>> model.weights_.shape, len(model.loss_curve_)
    (torch.Size([5, 5, 3]), 5)
    >>> model
    POGLM(epochs=5)
    """

    def __init__(
        self,
        n_hidden: int = 2,
        history: int = 3,
        link: str = "softplus",
        estimator: str = DEFAULT_METHOD,
        temperature: float = 0.5,
        n_samples: int = 5,
        posterior: Literal["forward", "forward_backward"] = "forward_backward",
        basis: Literal["exponential"] | None = None,
        n_basis: int = 2,
        input_history: int = 5,
        input_targets: Literal["all", "hidden"] = "all",
        epochs: int = 300,
        batch_size: int | None = None,
        lr: float = 0.02,
        l2: float = 0.0,
        validation_fraction: float = 0.0,
        patience: int = 20,
        random_state: int = 0,
    ) -> None:
        self.n_hidden, self.history, self.link, self.estimator = n_hidden, history, link, estimator
        self.temperature, self.n_samples, self.posterior = temperature, n_samples, posterior
        self.basis, self.n_basis, self.input_history = basis, n_basis, input_history
        self.input_targets = input_targets
        self.epochs, self.batch_size, self.lr, self.l2 = epochs, batch_size, lr, l2
        self.validation_fraction, self.patience = validation_fraction, patience
        self.random_state = random_state

    _expected_failed_checks = {
        name: "rows are the time bins of one sequence, not exchangeable samples: the spike "
        "history couples them, so reordering or subsetting rows changes the data"
        for name in ("check_methods_sample_order_invariance", "check_methods_subset_invariance")
    }

    _parameter_constraints = {
        "n_hidden": Integer(0),
        "history": Integer(1),
        "link": OneOf(*LINKS),
        "n_samples": Integer(1),
        "posterior": OneOf("forward", "forward_backward"),
        "basis": OneOf(None, "exponential"),
        "n_basis": Integer(1),
        "input_history": Integer(1),
        "input_targets": OneOf("all", "hidden"),
        "epochs": Integer(0),
        "batch_size": Integer(1, optional=True),
        "lr": Real(0.0, low_open=True),
        "l2": Real(0.0),
        "validation_fraction": Real(0.0, 1.0, high_open=True),
        "patience": Integer(1),
    }

    def _check_combination(self) -> None:
        check_estimator_use(self.estimator, self.temperature, self.n_samples)

    # -- helpers ---------------------------------------------------------------------------
    def _as_sequences(self, counts: torch.Tensor | np.ndarray, fitted: bool = True) -> torch.Tensor:
        """Counts (or a :class:`~poissongrad.data.binning.BinnedSpikes`) as float64
        (sequences, T, V), after checking shape and values."""
        if isinstance(counts, BinnedSpikes):
            counts = counts.counts
        y = as_table(counts, "counts", torch.float64, counts=True, sequences=True)
        if y.dim() == 2:
            y = y.unsqueeze(0)
        bins, neurons = y.shape[-2:]
        if neurons > bins:
            raise ValueError(
                f"counts of shape {tuple(y.shape)} have more neurons ({neurons}) than time bins "
                f"({bins} sample(s)); spikes are (sequences, time bins, neurons): transpose the "
                "last two axes"
            )
        if fitted:
            check_n_features(self, neurons, "visible neurons")
        return y

    def _as_inputs(
        self, inputs: torch.Tensor | np.ndarray | None, x: torch.Tensor, fitted: bool = True
    ) -> torch.Tensor | None:
        """Stimulus as float64 (sequences, T, C) matching the counts ``x``, or None."""
        expected = getattr(self, "input_weights_", None) if fitted else None
        if inputs is None:
            if expected is not None:
                raise ValueError("the model was fitted with inputs: pass inputs= as well")
            return None
        if fitted and expected is None:
            raise ValueError("the model was fitted without inputs; do not pass inputs=")
        u = _per_sequence(inputs, x, "inputs", "C")
        if fitted and u.shape[-1] != expected.shape[1]:
            raise ValueError(
                f"inputs have {u.shape[-1]} channels but the model was fitted to "
                f"{expected.shape[1]}"
            )
        return u

    def _as_offsets(
        self, offsets: torch.Tensor | np.ndarray | None, x: torch.Tensor, fitted: bool = True
    ) -> torch.Tensor | None:
        """Offsets as float64 (sequences, T, V) matching the counts ``x``, or None."""
        if fitted and getattr(self, "has_offsets_", False) != (offsets is not None):
            raise ValueError(
                "the model was fitted with offsets: pass offsets= as well"
                if offsets is None
                else "the model was fitted without offsets; do not pass offsets="
            )
        if offsets is None:
            return None
        return _per_sequence(offsets, x, "offsets", "V", x.shape[-1])

    def _negative_elbo(
        self,
        x: torch.Tensor,
        weights: torch.Tensor,
        bias: torch.Tensor,
        rate_q: torch.Tensor,
        z_flat: torch.Tensor,
        drive: torch.Tensor | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> torch.Tensor:
        """−(log p(x, z) − log q(z | x)) per sample and sequence, float64.

        ``rate_q`` is q's hidden rates (B, T, H) for ``x``; ``z_flat`` is (S, B, T·H);
        ``drive`` the external drive (B, T, N) or None. ``dtype``: that of the GLM likelihood
        (training uses float32, as the published POGLM: its history term and backward are
        the bulk of a step; scores stay float64). The hidden spikes' −log z! of q and of p
        cancel and are left out; the visible spikes' −log x! is a constant, added in float64.
        """
        z = z_flat.to(x.dtype).reshape(*z_flat.shape[:-1], *rate_q.shape[-2:])
        y = torch.cat([x.expand(*z.shape[:-1], x.shape[-1]), z], dim=-1).to(dtype)
        cast = None if drive is None else drive.to(dtype)
        rate_p = glm_rates(y, weights.to(dtype), bias.to(dtype), self.link, cast)
        log_q = poisson_log_kernel(z, rate_q).sum((-1, -2))
        log_p = poisson_log_kernel(y, rate_p).sum((-1, -2)).to(log_q.dtype)
        return log_q - log_p + torch.lgamma(x + 1.0).sum((-1, -2))

    # -- scikit-learn style API ---------------------------------------------------------------
    def fit(
        self,
        counts: torch.Tensor | np.ndarray | BinnedSpikes | Any,
        y: None = None,
        *,
        bin_size: float | None = None,
        support: tuple[float, float] | None = None,
        trials: np.ndarray | None = None,
        inputs: torch.Tensor | np.ndarray | None = None,
        offsets: torch.Tensor | np.ndarray | None = None,
    ) -> POGLM:
        """Fit to visible spike counts (T, V) or (sequences, T, V); returns self.

        ``counts`` may also be a :class:`~poissongrad.data.binning.BinnedSpikes`, or, with
        ``bin_size`` (seconds), spike times in any form
        :func:`~poissongrad.data.binning.bin_spikes` reads (a list of arrays, a pynapple
        ``TsGroup``, neo ``SpikeTrain`` objects, an NWB ``Units`` table or file path), binned
        over ``support`` or one sequence per row of ``trials`` (start, stop), as
        ``bin_spikes`` does::

            model = POGLM(n_hidden=1).fit("session.nwb", bin_size=0.01)

        ``y`` is unused (scikit-learn's signature); anything else is a ``ValueError``.

        ``inputs``: an optional stimulus (T, C) (the same in every sequence) or
        (sequences, T, C) driving the neurons of
        ``input_targets`` through learned filters (lags 0..``input_history`` − 1) and
        informing q. ``offsets``: an optional fixed drive (T, V) or (sequences, T, V) of each
        visible neuron, added before the link and not learned (e.g. the link's inverse of the
        neuron's PSTH: a stimulus model that is not misspecified); the visible biases then
        start at 0. ``ValueError`` for counts with more neurons than time bins (a transposed
        array), negative or non-finite counts, inputs or offsets of the wrong shape, or
        invalid hyper-parameters.
        """
        ignored_target(y, "POGLM", "pass a stimulus as inputs=")
        self._validate_params()
        if bin_size is not None:
            counts = bin_spikes(counts, bin_size, support, trials)
        elif support is not None or trials is not None:
            raise ValueError("support= and trials= bin spike times: pass bin_size= as well")
        x = self._as_sequences(counts, fitted=False)
        u = self._as_inputs(inputs, x, fitted=False)
        o = self._as_offsets(offsets, x, fitted=False)
        gen = torch.Generator().manual_seed(self.random_state)
        (x, u, o), held_out = self._hold_out(x, u, o, gen)
        params = self._initial_params(x, u, o, gen)
        control = make_control(
            self.estimator,
            self.temperature,
            x.shape[-2] * self.n_hidden,
            seed_for(self.random_state, "control"),
        )
        self._train(params, x, u, o, held_out, gen, control)
        self.weights_, self.bias_ = params.filters().detach(), params.bias.detach()
        self.input_weights_ = None if u is None else params.stimulus_filters().detach()
        self.has_offsets_ = o is not None
        self.posterior_ = params.posterior.requires_grad_(False)
        self.n_visible_ = self.n_features_in_ = x.shape[-1]
        self.bin_size_ = counts.bin_size if isinstance(counts, BinnedSpikes) else None
        self.control_ = None if control is None else control.eval()
        return self

    def _hold_out(
        self,
        x: torch.Tensor,
        u: torch.Tensor | None,
        o: torch.Tensor | None,
        gen: torch.Generator,
    ):
        """((training counts, inputs, offsets), held-out (counts, inputs, offsets) or None):
        the sequences early stopping holds out, drawn from ``gen``."""
        if self.validation_fraction == 0:
            return (x, u, o), None
        if len(x) < 2:
            raise ValueError("early stopping needs at least 2 sequences (one is held out)")
        n_val = max(1, round(self.validation_fraction * len(x)))
        if n_val >= len(x):
            raise ValueError(
                f"validation_fraction={self.validation_fraction} holds out all {len(x)} "
                "sequences; lower it or pass more sequences"
            )
        order = torch.randperm(len(x), generator=gen)
        kept, held = order[n_val:], order[:n_val]

        def part(index: torch.Tensor) -> tuple:
            return tuple(None if t is None else t[index] for t in (x, u, o))

        return part(kept), part(held)

    def _initial_params(
        self,
        x: torch.Tensor,
        u: torch.Tensor | None,
        o: torch.Tensor | None,
        gen: torch.Generator,
    ) -> GLMParams:
        """Small random couplings and posterior kernel (from ``gen``), zero input filters,
        biases and posterior offset at the mean count (visible biases at 0 with offsets)."""
        v, n = x.shape[-1], x.shape[-1] + self.n_hidden
        channels = 0 if u is None else u.shape[-1]
        basis = None if self.basis is None else exponential_basis(self.history, self.n_basis)
        width = self.history if basis is None else self.n_basis
        coefficients = 0.01 * torch.randn(n, n, width, generator=gen, dtype=torch.float64)
        input_weights = torch.zeros(n, channels, self.input_history, dtype=torch.float64)
        link = get_link(self.link)
        bias = link.inverse(float(x.mean())).expand(n).clone()
        if o is not None:
            bias[:v] = 0.0  # the offsets carry each visible neuron's level
        q = HiddenPosterior(v + channels, self.n_hidden, self.history, self.posterior).double()
        with torch.no_grad():
            q.kernel.normal_(0.0, 0.01, generator=gen)
            q.offset.copy_(get_link("softplus").inverse(float(x.mean())))
        for t in (coefficients, input_weights, bias):
            t.requires_grad_(True)
        mask = None
        if self.input_targets == "hidden":
            mask = torch.zeros(n, 1, 1, dtype=torch.float64)
            mask[v:] = 1.0
        return GLMParams(coefficients, bias, input_weights, q, basis, mask)

    def _train(
        self,
        params: GLMParams,
        x: torch.Tensor,
        u: torch.Tensor | None,
        o: torch.Tensor | None,
        held_out,
        gen: torch.Generator,
        control,
    ) -> None:
        """Maximise the ELBO with Adam over minibatches of sequences, keeping the parameters
        of the best held-out ELBO (early stopping); sets ``loss_curve_``,
        ``validation_curve_`` and ``best_epoch_``."""
        tensors = params.tensors()
        # fused: one kernel for all tensors (a third of the per-tensor loop's time here)
        opt = torch.optim.Adam(tensors, lr=self.lr, fused=True)
        surrogate = Surrogate(self.estimator, self.n_samples, self.temperature, control)
        self.validation_curve_: list[float] = []
        best = (-math.inf, 0, None)  # (held-out ELBO, epoch, parameters)

        def step(index: torch.Tensor, epoch: int, _batch: int) -> float:
            batch, stimulus = x[index], None if u is None else u[index]
            rate_q = params.posterior.rate(_with_inputs(batch, stimulus))
            weights = params.filters()
            drive = params.drive(stimulus, None if o is None else o[index])
            loss = surrogate(
                lambda z, b=batch, r=rate_q, w=weights, d=drive: self._negative_elbo(
                    b, w, params.bias, r, z, d, torch.float32
                ),
                rate_q.log().flatten(-2).float(),  # samples in float32: half the cost
                gen,
            )
            # Per-bin objective; the L2 term is a Gaussian prior on W (MAP), per sequence.
            penalty = self.l2 * params.filters().pow(2).sum() * len(batch) / len(x)
            objective = (loss.mean(0).sum() + penalty) / x.shape[-2]
            return descend(
                opt, objective, tensors, epoch, "lower lr or raise l2", recorded=loss.mean(0).sum()
            )

        def after_epoch(epoch: int, curve: list[float]) -> bool:
            nonlocal best
            if held_out is None:
                return False
            with torch.no_grad():
                # Held-out ELBO with 8 hard posterior samples (fixed seed).
                held_x, held_u, held_o = held_out
                log_w = self._hard_log_weights(
                    held_x,
                    held_u,
                    params.filters(),
                    params.bias,
                    params.posterior,
                    params.drive(held_u, held_o),
                    8,
                    self.random_state,
                )
                score = float(log_w.mean())
            self.validation_curve_.append(score)
            if score > best[0]:
                best = (score, epoch, [p.detach().clone() for p in tensors])
                return False
            return epoch - best[1] >= self.patience  # early stopping

        self.loss_curve_ = train_epochs(
            len(x),
            self.batch_size or len(x),
            self.epochs,
            gen,
            step,
            divisor=len(x),
            after_epoch=after_epoch,
        )
        if best[2] is not None:
            with torch.no_grad():
                for p, kept in zip(tensors, best[2], strict=True):
                    p.copy_(kept)
        self.best_epoch_ = best[1] if best[2] is not None else len(self.loss_curve_) - 1

    def _hard_log_weights(
        self,
        x: torch.Tensor,
        u: torch.Tensor | None,
        weights: torch.Tensor,
        bias: torch.Tensor,
        q: HiddenPosterior,
        drive: torch.Tensor | None,
        n_samples: int,
        seed: int,
    ) -> torch.Tensor:
        """log p(x, z) − log q(z | x) for hard z ~ q: (n_samples, sequences)."""
        rate = q.rate(_with_inputs(x, u))
        gen = torch.Generator().manual_seed(seed)
        z = torch.poisson(rate.expand(n_samples, *rate.shape), generator=gen)
        return -self._negative_elbo(x, weights, bias, rate, z.flatten(-2), drive)

    def design(
        self,
        counts: torch.Tensor | np.ndarray,
        inputs: torch.Tensor | np.ndarray | None = None,
        offsets: torch.Tensor | np.ndarray | None = None,
    ) -> tuple[torch.Tensor, GLM]:
        """What the fitted model sees of ``counts``: (visible counts (sequences, T, V) float64,
        the fitted :class:`~poissongrad.glm.GLM` with the drive (sequences, T, N) of
        ``inputs`` and ``offsets``), checked like ``score``'s input. Metrics that evaluate
        the fitted model (e.g.
        :func:`poissongrad.metrics.identifiability.fitted_identifiability`) start here."""
        x, _, drive = self._data(counts, inputs, offsets)
        return x, GLM(self.weights_, self.bias_, self.link, drive)

    def _data(
        self,
        counts: torch.Tensor | np.ndarray,
        inputs: torch.Tensor | np.ndarray | None,
        offsets: torch.Tensor | np.ndarray | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Checked (counts, inputs, external drive) for a fitted model."""
        self._check_fitted("weights_")
        x = self._as_sequences(counts)
        u = self._as_inputs(inputs, x)
        o = self._as_offsets(offsets, x)
        return x, u, external_drive(u, self.input_weights_, o, self.n_hidden)

    @torch.no_grad()
    def posterior_rates(
        self,
        counts: torch.Tensor | np.ndarray | BinnedSpikes,
        inputs: torch.Tensor | np.ndarray | None = None,
        offsets: torch.Tensor | np.ndarray | None = None,
    ) -> torch.Tensor | Any:
        """q's rates of the hidden spikes given the visible ones, (sequences, T, H): the
        posterior expected hidden counts E_q[z] (spikes per bin) under the variational
        posterior.

        For a :class:`~poissongrad.data.binning.BinnedSpikes`, on its time axis instead
        (:meth:`~poissongrad.data.binning.BinnedSpikes.series`: a pynapple ``TsdFrame`` when
        the spikes came from pynapple, else a pandas ``DataFrame``; columns "hidden 0", …)."""
        x, u, _ = self._data(counts, inputs, offsets)
        rates = self.posterior_.rate(_with_inputs(x, u))
        if isinstance(counts, BinnedSpikes):
            return counts.series(rates.numpy(), [f"hidden {h}" for h in range(self.n_hidden)])
        return rates

    @torch.no_grad()
    def sample_hidden(
        self,
        counts: torch.Tensor | np.ndarray,
        n_samples: int = 1,
        generator: torch.Generator | None = None,
        inputs: torch.Tensor | np.ndarray | None = None,
        offsets: torch.Tensor | np.ndarray | None = None,
    ) -> torch.Tensor:
        """Hard draws from q(hidden | visible): (n_samples, sequences, T, H)."""
        check_int("n_samples", n_samples)
        x, u, _ = self._data(counts, inputs, offsets)
        rate = self.posterior_.rate(_with_inputs(x, u))
        return torch.poisson(rate.expand(n_samples, *rate.shape), generator=generator)

    @torch.no_grad()
    def _log_weights(
        self,
        counts: torch.Tensor | np.ndarray,
        n_samples: int,
        seed: int,
        inputs: torch.Tensor | np.ndarray | None,
        offsets: torch.Tensor | np.ndarray | None = None,
    ) -> torch.Tensor:
        """log p(x, z) − log q(z | x) for hard z ~ q: (n_samples, sequences)."""
        check_int("n_samples", n_samples)
        x, u, drive = self._data(counts, inputs, offsets)
        return self._hard_log_weights(
            x, u, self.weights_, self.bias_, self.posterior_, drive, n_samples, seed
        )

    def elbo(
        self,
        counts: torch.Tensor | np.ndarray,
        n_samples: int = 64,
        seed: int = 0,
        inputs: torch.Tensor | np.ndarray | None = None,
        offsets: torch.Tensor | np.ndarray | None = None,
    ) -> float:
        """ELBO per sequence with hard posterior samples (nats), averaged over sequences."""
        return float(self._log_weights(counts, n_samples, seed, inputs, offsets).mean())

    def score(
        self,
        counts: torch.Tensor | np.ndarray,
        y: None = None,
        *,
        n_particles: int = 500,
        n_repeats: int = 4,
        seed: int = 0,
        inputs: torch.Tensor | np.ndarray | None = None,
        offsets: torch.Tensor | np.ndarray | None = None,
    ) -> float:
        """log p(visible) per sequence (nats), averaged over sequences; higher is better
        (``y`` is unused: scikit-learn's signature).

        Estimated by a bootstrap particle filter over the hidden spikes of the fitted GLM
        (:func:`poissongrad.particle_filter.particle_log_likelihood`), so it does not depend
        on the variational posterior; :meth:`score_with_error` also gives the Monte-Carlo error.
        """
        return self.score_with_error(counts, n_particles, n_repeats, seed, inputs, offsets)[0]

    def score_with_error(
        self,
        counts: torch.Tensor | np.ndarray,
        n_particles: int = 500,
        n_repeats: int = 4,
        seed: int = 0,
        inputs: torch.Tensor | np.ndarray | None = None,
        offsets: torch.Tensor | np.ndarray | None = None,
    ) -> tuple[float, float]:
        """(mean log p(visible) per sequence, its Monte-Carlo standard error), nats."""
        ll, se = self.score_samples(counts, n_particles, n_repeats, seed, inputs, offsets)
        return float(ll.mean()), float(se.pow(2).sum().sqrt() / len(se))

    def score_samples(
        self,
        counts: torch.Tensor | np.ndarray,
        n_particles: int = 500,
        n_repeats: int = 4,
        seed: int = 0,
        inputs: torch.Tensor | np.ndarray | None = None,
        offsets: torch.Tensor | np.ndarray | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per sequence: log p(visible) by the particle filter and its Monte-Carlo standard
        error, two tensors of shape (sequences,), nats."""
        x, glm = self.design(counts, inputs, offsets)
        gen = torch.Generator().manual_seed(seed)
        return particle_log_likelihood(x, glm, n_particles, n_repeats, gen)

    def iw_bound(
        self,
        counts: torch.Tensor | np.ndarray,
        n_samples: int = 256,
        seed: int = 0,
        inputs: torch.Tensor | np.ndarray | None = None,
        offsets: torch.Tensor | np.ndarray | None = None,
    ) -> float:
        """Importance-weighted lower bound on log p(visible) per sequence (nats), averaged.

        log mean_k exp(log p(x, z_k) − log q(z_k | x)), z_k ~ q: a bound that depends on q and
        tightens as ``n_samples`` grows.
        """
        log_w = self._log_weights(counts, n_samples, seed, inputs, offsets)
        return float((torch.logsumexp(log_w, 0) - math.log(n_samples)).mean())

    @torch.no_grad()
    def sample(self, n_sequences: int, n_bins: int, seed: int = 0) -> torch.Tensor:
        """Simulate the fitted network: counts (n_sequences, n_bins, N), visible first.

        Without a stimulus: a model fitted with ``inputs`` raises ``ValueError``.
        """
        self._check_fitted("weights_")
        if self.input_weights_ is not None or self.has_offsets_:
            raise ValueError(
                "sample() simulates without a stimulus; this model has inputs or offsets"
            )
        check_int("n_sequences", n_sequences)
        check_int("n_bins", n_bins)
        gen = torch.Generator().manual_seed(seed)
        return simulate(self.weights_, self.bias_, n_sequences, n_bins, self.link, gen)


def _per_sequence(
    value: torch.Tensor | np.ndarray,
    x: torch.Tensor,
    name: str,
    axis: str,
    width: int | None = None,
) -> torch.Tensor:
    """``value`` as float64 (sequences, T, ``width``) for the counts ``x`` (a (T, ·) value is
    shared by every sequence); ``ValueError`` for another shape or a non-finite value."""
    v = torch.as_tensor(value, dtype=torch.float64)
    if v.dim() == 2:
        v = v.unsqueeze(0).expand(len(x), -1, -1)
    if v.dim() != 3 or v.shape[:2] != x.shape[:2] or width not in (None, v.shape[-1]):
        raise ValueError(
            f"{name} must be (T, {axis}) or (sequences, T, {axis}) with the counts' sequences "
            f"and bins {tuple(x.shape[:2])}"
            + (f" and {axis} = {width}" if width else "")
            + f", got shape {tuple(v.shape)}"
        )
    if not bool(torch.isfinite(v).all()):
        raise ValueError(f"{name} must be finite")
    return v


def _with_inputs(x: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
    """What q sees: the visible spikes, and the stimulus channels when there are any."""
    return x if u is None else torch.cat([x, u], dim=-1)
