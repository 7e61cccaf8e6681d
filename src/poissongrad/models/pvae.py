"""Poisson VAE (Vafaii et al., 2024): Poisson prior and posterior over spike-count latents.

:class:`PoissonVAE` is the model users fit (scikit-learn style: ``fit``, ``score``,
``transform``, ``evaluate``, ``loss_curve_``; training schedule, checkpoints and evaluation live
here). :class:`PoissonVAENet` is its ``torch.nn.Module``: the encoder, decoder, prior and losses.

Prior z_k ~ Poisson(r_k) with a learnable log r per latent; posterior z_k ~ Poisson(r_k δr_k(x))
with the encoder giving log δr (soft-clamped above at ``max_log_modulation``). The KL per latent is
r(1 − δr + δr log δr). The decoder maps counts to the observation mean: Gaussian with fixed unit
variance (loss = summed squared error, as in the paper) or Poisson (loss = −log-pmf).

Gradients through the latents use any estimator of :mod:`poissongrad.estimators`, or ``"exact"``:
the closed-form expected loss E‖x − Φz − c‖² = ‖x − c − Φλ‖² + Σ_k λ_k‖φ_k‖² (linear decoder with
Gaussian observations only).
"""

from __future__ import annotations

import hashlib
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from poissongrad.control_variates import ControlVariate, make_control
from poissongrad.estimators import ESTIMATORS, Surrogate, check_estimator_use
from poissongrad.exact import linear_decoder_loss
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
from poissongrad.models.training import Checkpoint, descend, train_epochs
from poissongrad.registry import DEFAULT_METHOD, generic_estimators, get_estimator
from poissongrad.samplers.moments import poisson_log_prob
from poissongrad.utils.hashing import seed_for, stable_key

__all__ = ["PoissonVAE", "PoissonVAENet", "VAE_ESTIMATORS"]

#: Every estimator of :mod:`poissongrad.estimators`, plus ``"exact"`` (the closed-form expected
#: loss of a linear decoder with Gaussian observations).
VAE_ESTIMATORS: tuple[str, ...] = ESTIMATORS + ("exact",)


def vae_estimators() -> tuple[str, ...]:
    """:data:`VAE_ESTIMATORS` with the estimators registered since."""
    return (*generic_estimators(), "exact")


def _net(kind: str, n_in: int, n_out: int, hidden: int) -> nn.Module:
    if kind == "linear":
        return nn.Linear(n_in, n_out)
    if kind == "mlp":
        return nn.Sequential(
            nn.Linear(n_in, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, n_out),
        )
    raise ValueError(f"unknown network {kind!r}; expected 'linear' or 'mlp'")


class PoissonVAENet(nn.Module):
    """The network of a VAE with Poisson latents (encoder, decoder, prior, losses).

    Args:
        n_inputs: D, the flattened input size.
        n_latents: K.
        encoder, decoder: ``"linear"`` or ``"mlp"`` (two hidden layers of ``hidden`` units).
        observation: ``"gaussian"`` (unit variance, summed squared error) or ``"poisson"``
            (decoder output is log-rate; requires count data).
        max_log_modulation: soft upper clamp on log δr.
        prior_rate: initial prior rate r for every latent.
    """

    def __init__(
        self,
        n_inputs: int,
        n_latents: int,
        encoder: Literal["linear", "mlp"] = "linear",
        decoder: Literal["linear", "mlp"] = "linear",
        observation: Literal["gaussian", "poisson"] = "gaussian",
        hidden: int = 256,
        max_log_modulation: float = 4.0,
        prior_rate: float = 1.0,
    ) -> None:
        super().__init__()
        if observation not in ("gaussian", "poisson"):
            raise ValueError(f"unknown observation {observation!r}; expected gaussian or poisson")
        self.encoder = _net(encoder, n_inputs, n_latents, hidden)
        self.decoder = _net(decoder, n_latents, n_inputs, hidden)
        self.prior_log_rate = nn.Parameter(torch.full((n_latents,), float(prior_rate)).log())
        self.observation = observation
        self.linear_decoder = decoder == "linear"
        self.max_log_modulation = max_log_modulation

    def log_modulation(self, x: torch.Tensor) -> torch.Tensor:
        """log δr of shape (B, K), soft-clamped above: c − softplus(c − raw)."""
        c = self.max_log_modulation
        return c - nn.functional.softplus(c - self.encoder(x))

    def posterior_log_rate(self, x: torch.Tensor) -> torch.Tensor:
        """log(r·δr(x)), shape (B, K)."""
        return self.prior_log_rate + self.log_modulation(x)

    def kl(self, log_modulation: torch.Tensor) -> torch.Tensor:
        """KL(q ‖ p) per latent, r(1 − δr + δr log δr), shape (B, K); differentiable."""
        dr = log_modulation.exp()
        return self.prior_log_rate.exp() * (1.0 - dr + dr * log_modulation)

    def reconstruction_loss(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """−log p(x | z) up to constants, per item: x (B, D), z (..., B, K) → (..., B)."""
        return self.observation_nll(x, self.decoder(z))

    def observation_nll(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """−log p(x | decoder output) up to constants, summed over the last axis."""
        if self.observation == "gaussian":
            return (x - out).pow(2).sum(-1)
        return -poisson_log_prob(x, out.exp()).sum(-1)

    def loss(
        self,
        x: torch.Tensor,
        estimator: str,
        temperature: float = 0.0,
        n_samples: int = 1,
        beta: float = 1.0,
        generator: torch.Generator | None = None,
        control: ControlVariate | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training objective (mean over items of recon + β·KL) and its two parts.

        Returns:
            (objective to minimise, mean reconstruction loss, mean KL), scalars. The gradient of
            the objective uses ``estimator`` for the latents (any of :data:`VAE_ESTIMATORS`);
            ``control`` is a REBAR/RELAX estimator's learned control variate.
        """
        return self.objective(
            x, self.surrogate(estimator, temperature, n_samples, control), beta, generator
        )

    def surrogate(
        self,
        estimator: str,
        temperature: float = 0.0,
        n_samples: int = 1,
        control: ControlVariate | None = None,
    ) -> Surrogate | None:
        """``estimator`` and its settings checked once for :meth:`objective`: None for the
        closed form ("exact"), else a :class:`~poissongrad.estimators.Surrogate`."""
        if get_estimator(estimator, vae_estimators()).closed_form:
            if not (self.linear_decoder and self.observation == "gaussian"):
                raise ValueError("'exact' needs a linear decoder with Gaussian observations")
            return None
        return Surrogate(estimator, n_samples, temperature, control)

    def objective(
        self,
        x: torch.Tensor,
        surrogate: Surrogate | None,
        beta: float = 1.0,
        generator: torch.Generator | None = None,
        temperature: float | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`loss` with the estimator checked already (:meth:`surrogate`), for a training
        loop; ``temperature`` overrides the surrogate's τ for this call (an annealing step).
        The log-rates are not validated: non-finite ones give a non-finite objective."""
        log_mod = self.log_modulation(x)
        log_rate = self.prior_log_rate + log_mod
        if surrogate is None:
            lin = self.decoder
            recon = linear_decoder_loss(x - lin.bias, lin.weight, log_rate.exp())
        else:
            recon = surrogate(
                lambda z: self.reconstruction_loss(x, z), log_rate, generator, temperature
            ).mean(0)
        kl = self.kl(log_mod).sum(-1)
        recon, kl = recon.mean(), kl.mean()
        return recon + beta * kl, recon, kl


def _output_container(model: PoissonVAE) -> str:
    """What ``transform`` returns: the model's ``set_output`` choice, else scikit-learn's global
    ``transform_output`` when scikit-learn is in use, else "default"."""
    chosen = getattr(model, "_sklearn_output_config", {}).get("transform", "default")
    if chosen == "default" and "sklearn" in sys.modules:
        chosen = sys.modules["sklearn"].get_config().get("transform_output", "default")
    return chosen


def _as_data(x: torch.Tensor | np.ndarray, name: str = "X", counts: bool = False) -> torch.Tensor:
    """Data as a finite tensor (n, D) of the default dtype (the networks' own: NumPy's float64
    and DataFrames are converted); ``ValueError`` for another shape or non-finite values, and
    with ``counts`` for negative ones (:func:`~poissongrad.models.base.as_table`)."""
    return as_table(x, name, torch.get_default_dtype(), counts)


class PoissonVAE(ModelMixin):
    """A Poisson VAE trained with any gradient estimator (scikit-learn style).

    Training uses Adamax; the temperature is annealed from 1 to ``temperature`` (linearly or
    exponentially) and the KL weight from 0 to ``beta`` over the first half of the steps, then
    both are held (:meth:`schedule`); gradients are clipped to norm ``clip``. Training is seeded
    by ``random_state`` and deterministic on CPU.

    Parameters
    ----------
    n_latents : int
        K, the number of Poisson latents.
    estimator : str
        Any of :data:`VAE_ESTIMATORS`; ``"exact"`` needs a linear decoder and Gaussian
        observations.
    temperature : float
        Final τ of the annealing schedule (> 0 for relaxed estimators, ignored by the others).
        For REBAR/RELAX (``rebar_*``, ``relax_cubic``) it is the initial τ of the control
        variate, which then learns τ (and η) by minimising the gradient's variance; the
        schedule does not apply to it.
    encoder, decoder : {"linear", "mlp"}
        Networks (the MLP has two hidden layers of ``hidden`` units).
    observation : {"gaussian", "poisson"}
        Unit-variance Gaussian (summed squared error) or Poisson (needs count data).
    hidden : int
        Hidden units of an MLP.
    epochs, batch_size, lr : int, int, float
        Optimisation.
    n_samples : int
        Monte-Carlo samples per item and step (the score function with a leave-one-out
        baseline needs ≥ 2).
    anneal : {"linear", "exponential"}
        Temperature schedule.
    beta : float
        Final KL weight.
    clip : float
        Gradient-norm clip.
    max_log_modulation : float
        Soft upper clamp on the encoder's log-rate modulation.
    prior_rate : float
        Initial prior rate of every latent.
    random_state : int
        Seeds initialisation, batches and sampling.

    Attributes
    ----------
    module_ : PoissonVAENet
        The trained network.
    loss_curve_ : list of float
        Mean training objective of every epoch.
    validation_curve_ : list of float
        Held-out negative ELBO after every epoch (empty unless ``fit`` got ``X_val``).
    n_inputs_ : int
        D, the number of features seen in ``fit``.
    control_ : ControlVariate or None
        The learned control variate of a REBAR/RELAX estimator (``control_.temperature``,
        ``control_.eta``); None for the other estimators.

    Examples
    --------
    >>> import torch
    >>> X = torch.rand(200, 16)
    >>> vae = PoissonVAE(n_latents=4, epochs=2, batch_size=50).fit(X)
    >>> vae.transform(X).shape, len(vae.loss_curve_)
    (torch.Size([200, 4]), 2)
    >>> vae.neg_elbo(X) > 0  # held-out negative ELBO, nats per item (lower is better)
    True
    >>> vae.score(X) == -vae.neg_elbo(X)  # scikit-learn's score: higher is better
    True
    """

    def __init__(
        self,
        n_latents: int = 64,
        estimator: str = DEFAULT_METHOD,
        temperature: float = 0.1,
        encoder: Literal["linear", "mlp"] = "linear",
        decoder: Literal["linear", "mlp"] = "linear",
        observation: Literal["gaussian", "poisson"] = "gaussian",
        hidden: int = 256,
        epochs: int = 30,
        batch_size: int = 128,
        lr: float = 5e-3,
        n_samples: int = 1,
        anneal: Literal["linear", "exponential"] = "linear",
        beta: float = 1.0,
        clip: float = 100.0,
        max_log_modulation: float = 4.0,
        prior_rate: float = 1.0,
        random_state: int = 0,
    ) -> None:
        self.n_latents, self.estimator, self.temperature = n_latents, estimator, temperature
        self.encoder, self.decoder, self.observation = encoder, decoder, observation
        self.hidden, self.epochs, self.batch_size, self.lr = hidden, epochs, batch_size, lr
        self.n_samples, self.anneal, self.beta, self.clip = n_samples, anneal, beta, clip
        self.max_log_modulation, self.prior_rate = max_log_modulation, prior_rate
        self.random_state = random_state

    _expected_failed_checks = {
        "check_methods_sample_order_invariance": "float32 networks: a row's output moves by "
        "~1e-7 relative with the rows it is batched with (BLAS blocking), above the check's "
        "1e-7 tolerance",
    }

    _parameter_constraints = {
        "n_latents": Integer(1),
        "encoder": OneOf("linear", "mlp"),
        "decoder": OneOf("linear", "mlp"),
        "observation": OneOf("gaussian", "poisson"),
        "hidden": Integer(1),
        "epochs": Integer(0),
        "batch_size": Integer(1),
        "lr": Real(0.0, low_open=True),
        "anneal": OneOf("linear", "exponential"),
        "beta": Real(0.0),
        "clip": Real(0.0, low_open=True),
        "max_log_modulation": Real(0.0, low_open=True),
        "prior_rate": Real(0.0, low_open=True),
    }

    def _check_combination(self) -> None:
        record = check_estimator_use(
            self.estimator, self.temperature, self.n_samples, vae_estimators()
        )
        if record.closed_form and (self.decoder, self.observation) != ("linear", "gaussian"):
            raise ValueError("'exact' needs a linear decoder with Gaussian observations")

    def schedule(self, step: int, total: int) -> tuple[float, float]:
        """(τ, β) at ``step`` of ``total``: annealed over the first half, then held."""
        progress = min(step / max(total / 2, 1), 1.0)
        final = self.temperature
        if self.anneal == "linear" or final == 0:
            tau = 1.0 + (final - 1.0) * progress
        else:
            tau = math.exp(math.log(final) * progress)
        return tau, self.beta * progress

    def _new_module(self, n_inputs: int) -> PoissonVAENet:
        with torch.random.fork_rng():
            torch.manual_seed(seed_for(self.random_state, "init"))
            return PoissonVAENet(
                n_inputs,
                self.n_latents,
                self.encoder,
                self.decoder,
                self.observation,
                self.hidden,
                self.max_log_modulation,
                self.prior_rate,
            )

    def fit(
        self,
        X: torch.Tensor | np.ndarray,
        y: None = None,
        *,
        X_val: torch.Tensor | np.ndarray | None = None,
        checkpoint: str | Path | None = None,
        progress: bool = False,
        stop_after_epoch: int | None = None,
    ) -> PoissonVAE:
        """Train on ``X`` (n, D); returns self.

        Parameters
        ----------
        X : array (n, D)
            Training data (non-negative integer counts for Poisson observations); a NumPy
            array of any float dtype, a DataFrame or a tensor.
        y : None or 1-D array
            Unused: labels (as a scikit-learn pipeline passes them) are ignored; anything
            else is a ``ValueError``, so that held-out data passed positionally is never
            ignored silently.
        X_val : array (m, D), optional
            Held-out data scored after every epoch (negative ELBO with hard samples, 2 per
            item): ``validation_curve_``.
        checkpoint : path, optional
            Model, optimiser and random states are saved there (atomically) after every epoch;
            a fit that finds a checkpoint of the same parameters and the same data (a hash of
            it) resumes after its last epoch; one of other parameters or data, or a file that
            is not a readable checkpoint, is refused (``ValueError``). Checkpoints are read with
            ``torch.load(weights_only=True)``: a crafted file cannot run code.
        progress : bool
            Show a progress bar over epochs.
        stop_after_epoch : int, optional
            End after this epoch (to simulate an interruption).
        """
        ignored_target(y, "PoissonVAE", "pass held-out data as X_val=")
        self._validate_params()
        x_train, x_val = self._check_data(X, X_val)
        run = self._start(x_train.shape[1])
        store = None
        if checkpoint is not None:  # a checkpoint belongs to these parameters and this data
            data_hash = hashlib.sha256(x_train.numpy().tobytes()).hexdigest()
            key = stable_key({**self.get_params(), "n_inputs": x_train.shape[1], "data": data_hash})
            store = Checkpoint(Path(checkpoint), key, "PoissonVAE", _RNG_STATES)
            store.restore(self.epochs, run.control is not None, run.resume)
        self._train(run, x_train, x_val, store, progress, stop_after_epoch)
        self.module_, self.loss_curve_, self.n_inputs_ = run.module, run.curve, x_train.shape[1]
        self.n_features_in_ = self.n_inputs_
        self.control_ = None if run.control is None else run.control.eval()
        self.validation_curve_ = run.validation
        return self

    def _check_data(self, X, X_val) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(training data, held-out data or None) as float tensors; ``ValueError`` for
        mismatched features or, with Poisson observations, data that are not counts."""
        counts = self.observation == "poisson"  # the Poisson observation model needs counts
        x_train = _as_data(X, counts=counts)
        x_val = None
        if X_val is not None:
            x_val = _as_data(X_val, "X_val", counts)
            if x_val.shape[1] != x_train.shape[1]:
                raise ValueError(f"X_val has {x_val.shape[1]} features, X has {x_train.shape[1]}")
        return x_train, x_val

    def _start(self, n_inputs: int) -> _Run:
        """A fresh run: the network, its optimiser, the control variate and the seeded
        generators of the batch order and of the estimator's noise."""
        module = self._new_module(n_inputs)
        return _Run(
            module,
            torch.optim.Adamax(module.parameters(), lr=self.lr),
            make_control(
                self.estimator,
                self.temperature,
                self.n_latents,
                seed_for(self.random_state, "control"),
            ),
            torch.Generator().manual_seed(seed_for(self.random_state, "shuffle")),
            torch.Generator().manual_seed(seed_for(self.random_state, "noise")),
        )

    def _train(
        self,
        run: _Run,
        x_train: torch.Tensor,
        x_val: torch.Tensor | None,
        store: Checkpoint | None,
        progress: bool,
        stop_after_epoch: int | None,
    ) -> None:
        """The epochs left of ``run``: annealed τ and β per step, the held-out score and a
        checkpoint after each epoch."""
        steps_per_epoch = math.ceil(len(x_train) / self.batch_size)
        total = steps_per_epoch * self.epochs

        surrogate = run.module.surrogate(
            self.estimator, self.temperature, self.n_samples, run.control
        )

        def step(index: torch.Tensor, epoch: int, batch: int) -> float:
            tau, beta = self.schedule(epoch * steps_per_epoch + batch, total)
            objective, _, _ = run.module.objective(x_train[index], surrogate, beta, run.noise, tau)
            return descend(
                run.optimiser,
                objective,
                run.module.parameters(),
                epoch,
                _DIVERGED,
                clip=self.clip,
            )

        def after_epoch(epoch: int, _curve: list[float]) -> bool:
            if x_val is not None:
                with torch.no_grad():
                    *_, recon, kl = _hard_sample_terms(run.module, x_val, 2, 0)
                run.validation.append(float((recon + kl.sum(-1)).mean()))
            if store is not None:
                store.write(run.state(epoch))
            return stop_after_epoch is not None and epoch >= stop_after_epoch

        train_epochs(  # extends run.curve in place, which the checkpoints store
            len(x_train),
            self.batch_size,
            self.epochs,
            run.shuffle,
            step,
            divisor=steps_per_epoch,
            start=run.start_epoch,
            after_epoch=after_epoch,
            curve=run.curve,
            progress=progress,
            desc=self.estimator,
        )

    def _checked(self, X: torch.Tensor | np.ndarray) -> torch.Tensor:
        self._check_fitted("module_")
        x = _as_data(X)
        check_n_features(self, x.shape[1])
        return x.to(self.module_.prior_log_rate.dtype)

    def _counts_only(self) -> bool:
        return self.observation == "poisson"

    def fit_transform(self, X: torch.Tensor | np.ndarray, y: object = None, **fit_params):
        """``fit(X, y, **fit_params).transform(X)``: posterior rates (n, K)."""
        return self.fit(X, y, **fit_params).transform(X)

    @torch.no_grad()
    def transform(self, X: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Posterior rates r·δr(x), shape (n, K), spikes per latent; no gradient.

        In the kind ``X`` came in: a tensor for a tensor, a NumPy array otherwise (as a
        scikit-learn transformer), or a pandas ``DataFrame`` (columns
        :meth:`get_feature_names_out`, ``X``'s index) after ``set_output(transform="pandas")``
        or under scikit-learn's ``set_config(transform_output="pandas")``."""
        x = self._checked(X)
        rates = self.module_.posterior_log_rate(x).exp()
        container = _output_container(self)
        if container != "pandas":
            return rates if isinstance(X, torch.Tensor) else rates.numpy()
        import pandas as pd

        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(rates.numpy(), index=index, columns=self.get_feature_names_out())

    def set_output(self, *, transform: str | None = None) -> PoissonVAE:
        """``transform="pandas"``: :meth:`transform` returns DataFrames; ``"default"``: a tensor
        for a tensor, else a NumPy array; None: unchanged (scikit-learn's set_output API,
        which pipelines call). Returns self."""
        if transform not in (None, "default", "pandas"):
            raise ValueError(f"transform must be 'default' or 'pandas', got {transform!r}")
        if transform is not None:  # scikit-learn's attribute: clone() keeps it
            self._sklearn_output_config = {"transform": transform}
        return self

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Names of the K outputs of :meth:`transform`: poissonvae0, poissonvae1, …"""
        self._check_fitted("module_")
        return np.array([f"poissonvae{k}" for k in range(self.n_latents)], dtype=object)

    def score(
        self, X: torch.Tensor | np.ndarray, y: None = None, *, n_samples: int = 8, seed: int = 0
    ) -> float:
        """Held-out ELBO per item with hard posterior samples (nats; **higher is better**, as
        scikit-learn's ``score``, so ``GridSearchCV`` and ``cross_val_score`` pick the best
        model): −:meth:`neg_elbo`. ``y`` is unused."""
        return -self.neg_elbo(X, n_samples=n_samples, seed=seed)

    def neg_elbo(self, X: torch.Tensor | np.ndarray, *, n_samples: int = 8, seed: int = 0) -> float:
        """Held-out negative ELBO per item with hard posterior samples (nats; lower is better).

        Up to the constant of the Gaussian likelihood for Gaussian observations.
        """
        return self.evaluate(X, n_samples=n_samples, seed=seed)["neg_elbo"]

    @torch.no_grad()
    def evaluate(
        self,
        X: torch.Tensor | np.ndarray,
        y: np.ndarray | None = None,
        reference: tuple[torch.Tensor | np.ndarray, np.ndarray] | None = None,
        n_samples: int = 8,
        seed: int = 0,
    ) -> dict[str, float]:
        """Held-out metrics with hard posterior samples (τ = 0).

        Parameters
        ----------
        X : array (n, D)
            Held-out data.
        y, reference : labels of ``X`` and (X_train, y_train), optional
            With both, ``knn_accuracy`` (5 neighbours on posterior rates) is added.
        n_samples : int
            Posterior samples per item.
        seed : int
            Seeds the posterior samples.

        Returns
        -------
        dict with ``neg_elbo`` (E_q[−log p(x|z)] + KL per item), ``recon`` (that first term),
        ``kl``, ``mse`` (per feature), ``r2`` (1 − SSE/SST against the feature means),
        ``zero_fraction`` of latent counts, ``sparseness`` (Treves–Rolls lifetime sparseness of
        posterior rates, averaged over latents), ``active_latents`` (mean KL > 0.01) and, with
        labels, ``knn_accuracy``.
        """
        check_int("n_samples", n_samples)
        x = self._checked(X)
        if len(x) < 2:
            raise ValueError("evaluate needs at least 2 items (R² and sparseness compare items)")
        model = self.module_
        rate, z, out, recon, kl_latent = _hard_sample_terms(model, x, n_samples, seed)
        prediction = out if model.observation == "gaussian" else out.exp()
        sse = (x - prediction).pow(2).sum(-1).mean(0)
        sst = (x - x.mean(0)).pow(2).sum(-1)
        n = rate.shape[0]
        m1, m2 = rate.mean(0), rate.pow(2).mean(0)
        sparseness = (1 - m1.pow(2) / m2.clamp_min(1e-30)) / (1 - 1 / max(n, 2))
        metrics = {
            "neg_elbo": float((recon + kl_latent.sum(-1)).mean()),
            "recon": float(recon.mean()),
            "kl": float(kl_latent.sum(-1).mean()),
            "mse": float(sse.mean() / x.shape[1]),
            "r2": float(1 - sse.sum() / sst.sum()),
            "zero_fraction": float((z == 0).double().mean()),
            "sparseness": float(sparseness.mean()),
            "active_latents": int((kl_latent.mean(0) > 0.01).sum()),
        }
        if y is not None and reference is not None:
            from sklearn.neighbors import KNeighborsClassifier

            x_ref, y_ref = reference
            ref_rate = self.module_.posterior_log_rate(self._checked(x_ref)).exp()
            knn = KNeighborsClassifier(5).fit(ref_rate.numpy(), y_ref)
            metrics["knn_accuracy"] = float(np.mean(knn.predict(rate.numpy()) == y))
        return metrics


def _hard_sample_terms(
    module: PoissonVAENet, x: torch.Tensor, n_samples: int, seed: int
) -> tuple[torch.Tensor, ...]:
    """Hard posterior samples of ``x`` (n, D) and what the held-out metrics need: posterior
    rates (n, K), counts z (S, n, K), decoder outputs (S, n, D), reconstruction loss per item
    averaged over the samples (n) and KL per latent (n, K)."""
    gen = torch.Generator().manual_seed(seed_for(seed, "evaluate"))
    log_mod = module.log_modulation(x)
    rate = (module.prior_log_rate + log_mod).exp()
    z = torch.poisson(rate.expand(n_samples, *rate.shape), generator=gen)
    out = module.decoder(z)
    return rate, z, out, module.observation_nll(x, out).mean(0), module.kl(log_mod)


_DIVERGED = "lower lr or clip, or raise the temperature"


#: The generator states a PoissonVAE checkpoint holds besides the network and the optimiser.
_RNG_STATES = ("shuffle", "noise")


@dataclass
class _Run:
    """Everything a PoissonVAE fit changes as it trains, so that a checkpoint can hold it."""

    module: PoissonVAENet
    optimiser: torch.optim.Optimizer
    control: torch.nn.Module | None
    shuffle: torch.Generator
    noise: torch.Generator
    curve: list[float] = field(default_factory=list)
    validation: list[float] = field(default_factory=list)
    start_epoch: int = 0

    def state(self, epoch: int) -> dict:
        """What a checkpoint stores after ``epoch``."""
        state = {
            "epoch": epoch,
            "model": self.module.state_dict(),
            "optimiser": self.optimiser.state_dict(),
            "shuffle": self.shuffle.get_state(),
            "noise": self.noise.get_state(),
            "history": self.curve,
            "validation": self.validation,
        }
        if self.control is not None:
            state["control"] = self.control.state_dict()
            state["control_optimiser"] = self.control.optimiser.state_dict()
        return state

    def resume(self, state: dict) -> None:
        """Continue from a checkpoint's ``state``."""
        self.module.load_state_dict(state["model"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.shuffle.set_state(state["shuffle"])
        self.noise.set_state(state["noise"])
        if self.control is not None:
            self.control.load_state_dict(state["control"])
            self.control.optimiser.load_state_dict(state["control_optimiser"])
        self.curve, self.start_epoch = state["history"], state["epoch"] + 1
        self.validation = state.get("validation", [])
