"""A small VAE with non-Poisson count latents (negative binomial or COM-Poisson).

Latents z ∈ ℕ^K follow a count law with a learned dispersion shared by prior and posterior
(negative binomial: ``total_count`` r_k; COM-Poisson: ν_k), the prior has a learned mean per
latent, the posterior's mean comes from a linear encoder of x, and an MLP decoder maps z to the
log-rates of Poisson observations x ∈ ℕ^D. The negative ELBO
E_q[−log p(x|z) + log q(z|x) − log p(z)] is estimated with samples of z drawn through any estimator
that can express the law (pathwise relaxations through ``rsample``, score functions through
:func:`poissongrad.estimators.law_surrogate_loss`). Relaxed counts enter the log-pmfs through
their continuous (lgamma) extensions.

Examples
--------
>>> import torch
>>> x = torch.poisson(torch.full((64, 6), 2.0))
>>> vae = CountVAE("negative_binomial", n_latents=2, estimator="eat_cubic", epochs=2).fit(x)
>>> vae.neg_elbo(x) > 0, vae.dispersion_.shape
(True, torch.Size([2]))
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from poissongrad.com_poisson import RelaxedCOMPoisson, com_poisson_log_pmf
from poissongrad.control_variates import ControlVariate, make_control
from poissongrad.estimators import check_estimator_use, law_surrogate_loss
from poissongrad.models.base import (
    Integer,
    ModelMixin,
    OneOf,
    Real,
    as_table,
    check_n_features,
    ignored_target,
)
from poissongrad.models.training import descend, train_epochs
from poissongrad.negative_binomial import RelaxedNegativeBinomial
from poissongrad.registry import REGISTRY, get_estimator
from poissongrad.samplers.moments import poisson_log_prob
from poissongrad.utils.hashing import seed_for

__all__ = ["LAWS", "CountVAE"]

LAWS = ("negative_binomial", "com_poisson")


class _Net(nn.Module):
    def __init__(self, law: str, n_inputs: int, n_latents: int, hidden: int) -> None:
        super().__init__()
        self.law = law
        self.encoder = nn.Linear(n_inputs, n_latents)
        self.decoder = nn.Sequential(
            nn.Linear(n_latents, hidden), nn.SiLU(), nn.Linear(hidden, n_inputs)
        )
        self.prior_mean = nn.Parameter(torch.zeros(n_latents))  # log of a mean-like parameter
        self.log_dispersion = nn.Parameter(torch.zeros(n_latents))

    def dispersion(self) -> torch.Tensor:
        """NB total_count r or COM-Poisson ν per latent, kept in [0.4, 10]."""
        return self.log_dispersion.clamp(math.log(0.4), math.log(10.0)).exp()

    def law_of(self, log_mean: torch.Tensor, estimator: str, tau: float, gen) -> object:
        """The latent law with location ``log_mean`` (…, K) relaxed for ``estimator``."""
        record = REGISTRY[estimator]
        relaxed = record.relaxation or "gsm"
        kw = {"temperature": tau, "method": relaxed, "straight_through": record.straight_through}
        if self.law == "negative_binomial":
            r = self.dispersion().expand_as(log_mean)
            # mean = r·p/(1 − p) = exp(log_mean): logits = log_mean − log r.
            return RelaxedNegativeBinomial(
                r,
                logits=log_mean.clamp(max=1.5) - r.log(),
                generator=gen,
                validate_args=False,
                **kw,
                **({"support_size": 60} if REGISTRY[relaxed].softmax else {}),
            )
        nu = self.dispersion().expand_as(log_mean)
        return RelaxedCOMPoisson(
            log_mean.clamp(max=1.5).exp(), nu, support_size=40, generator=gen, **kw
        )

    def observation_nll(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return -poisson_log_prob(x, self.decoder(z).clamp(max=10.0).exp()).sum(-1)


def _com_log_prob(d: RelaxedCOMPoisson, z: torch.Tensor) -> torch.Tensor:
    """COM-Poisson log-pmf extended to real z ≥ 0 (k log λ − ν log Γ(k + 1) − log Z)."""
    table = com_poisson_log_pmf(d.rate, d.nu, 1)  # log p(0) = −log Z
    return z * d.rate.log() - d.nu * torch.lgamma(z + 1.0) + table[..., 0]


def _log_prob(d, z: torch.Tensor) -> torch.Tensor:
    if isinstance(d, RelaxedCOMPoisson):
        return _com_log_prob(d, z)
    return d.log_prob(z)


def _as_counts(X) -> torch.Tensor:
    return as_table(X, "X", torch.float64, counts=True)


class CountVAE(ModelMixin):
    """Count VAE with negative-binomial or COM-Poisson latents (scikit-learn style).

    Parameters
    ----------
    law : {"negative_binomial", "com_poisson"}
    n_latents, hidden : int
        K latents; hidden units of the decoder MLP.
    estimator : str
        Any registry estimator that can express the law (EAT relaxations and REBAR/RELAX:
        negative binomial only, through its Gamma–Poisson mixture; GSM and score functions:
        both).
    temperature : float
        τ > 0 for relaxed estimators; REBAR/RELAX: the control variate's initial τ.
    epochs, batch_size, lr, n_samples : training settings (Adam).
    random_state : int

    Attributes
    ----------
    module_, loss_curve_, dispersion_ (learned r or ν per latent), n_inputs_, control_ (the
    learned control variate of REBAR/RELAX, else None)
    """

    def __init__(
        self,
        law: str = "negative_binomial",
        n_latents: int = 8,
        hidden: int = 64,
        estimator: str = "gsm",
        temperature: float = 0.1,
        epochs: int = 40,
        batch_size: int = 100,
        lr: float = 0.01,
        n_samples: int = 1,
        random_state: int = 0,
    ) -> None:
        self.law, self.n_latents, self.hidden = law, n_latents, hidden
        self.estimator, self.temperature = estimator, temperature
        self.epochs, self.batch_size, self.lr, self.n_samples = epochs, batch_size, lr, n_samples
        self.random_state = random_state

    _parameter_constraints = {
        "law": OneOf(*LAWS),
        "n_latents": Integer(1),
        "hidden": Integer(1),
        "epochs": Integer(0),
        "batch_size": Integer(1),
        "lr": Real(0.0, low_open=True),
    }

    def _check_combination(self) -> None:
        record = get_estimator(self.estimator)
        if self.law not in record.count_laws or record.difference_identity:
            raise ValueError(f"estimator {self.estimator!r} cannot express a {self.law} latent")
        check_estimator_use(self.estimator, self.temperature, self.n_samples)

    def _negative_elbo(
        self,
        net: _Net,
        x: torch.Tensor,
        gen,
        estimator: str,
        tau: float,
        n: int,
        control: ControlVariate | None = None,
    ):
        """Per-sample negative ELBO (n, B) whose gradient is the chosen estimator."""
        q = net.law_of(net.encoder(x).clamp(-6.0, 6.0), estimator, tau, gen)
        prior = net.law_of(net.prior_mean.expand(x.shape[0], -1), estimator, tau, gen)

        def f(z: torch.Tensor) -> torch.Tensor:
            return net.observation_nll(x, z) + (_log_prob(q, z) - _log_prob(prior, z)).sum(-1)

        record = REGISTRY[estimator]
        if record.score_function or record.learns_control:
            return law_surrogate_loss(f, q, estimator, n, control)
        return f(q.rsample((n,)))

    def fit(self, X: torch.Tensor | np.ndarray, y: None = None) -> CountVAE:
        """Train on counts X (n, D) (array, DataFrame or tensor); returns self. ``y`` unused."""
        ignored_target(y, "CountVAE", "fit takes counts X only")
        self._validate_params()
        x = _as_counts(X)
        with torch.random.fork_rng():
            torch.manual_seed(seed_for(self.random_state, "init"))
            net = _Net(self.law, x.shape[1], self.n_latents, self.hidden).double()
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        gen = torch.Generator().manual_seed(seed_for(self.random_state, "noise"))
        control = make_control(
            self.estimator, self.temperature, self.n_latents, seed_for(self.random_state, "control")
        )

        def step(index: torch.Tensor, epoch: int, _batch: int) -> float:
            loss = self._negative_elbo(
                net, x[index], gen, self.estimator, self.temperature, self.n_samples, control
            ).mean()
            return descend(opt, loss, net.parameters(), epoch, clip=100.0) * len(index)

        self.loss_curve_ = train_epochs(
            len(x), self.batch_size, self.epochs, gen, step, divisor=len(x)
        )
        self.module_, self.n_inputs_ = net, x.shape[1]
        self.n_features_in_ = self.n_inputs_
        self.dispersion_ = net.dispersion().detach()
        self.control_ = None if control is None else control.eval()
        return self

    @torch.no_grad()
    def _hard_log_weights(self, X, n_samples: int, seed: int) -> torch.Tensor:
        self._check_fitted("module_")
        x = _as_counts(X)
        check_n_features(self, x.shape[1])
        gen = torch.Generator().manual_seed(seed)
        net = self.module_
        q = net.law_of(net.encoder(x).clamp(-6.0, 6.0), "score", 0.0, gen)
        prior = net.law_of(net.prior_mean.expand(x.shape[0], -1), "score", 0.0, gen)
        z = q.sample((n_samples,))
        log_joint = -net.observation_nll(x, z) + _log_prob(prior, z).sum(-1)
        return log_joint - _log_prob(q, z).sum(-1)

    def score(self, X, y: None = None, *, n_samples: int = 16, seed: int = 0) -> float:
        """Held-out ELBO per item with hard latent samples (nats; higher is better, as
        scikit-learn's ``score``): −:meth:`neg_elbo`. ``y`` is unused."""
        return -self.neg_elbo(X, n_samples=n_samples, seed=seed)

    def neg_elbo(self, X, *, n_samples: int = 16, seed: int = 0) -> float:
        """Held-out negative ELBO per item with hard latent samples (nats; lower is better)."""
        return float(-self._hard_log_weights(X, n_samples, seed).mean())

    def log_likelihood(self, X, n_samples: int = 64, seed: int = 0) -> float:
        """Importance-weighted estimate of log p(x) per item (nats; a lower bound)."""
        log_w = self._hard_log_weights(X, n_samples, seed)
        return float((torch.logsumexp(log_w, 0) - math.log(n_samples)).mean())
