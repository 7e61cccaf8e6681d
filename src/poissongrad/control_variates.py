"""Unbiased Poisson gradients with relaxation-based control variates (REBAR, RELAX, Stein).

All three estimate ∇_s E[f(z)], z ~ Poisson(λ), s = log λ, without bias, with far less variance
than the plain score function f(z)(z − λ).

**REBAR / RELAX** (Tucker et al. 2017; Grathwohl et al. 2018) with an EAT relaxation as the
control variate. With b ~ Poisson(λ) the hard count, z̃ its relaxation drawn *given* b
(:func:`poissongrad.samplers.eat_conditional.conditional_relaxation`: the same draw serves as the
unconditional relaxation), and a control variate c(z̃) = η f(z̃) + r_ρ(z̃, s):

    ĝ = [f(b) − c(z̃)] (b − λ) + λ c'(z̃) ⊙ (∂z̃/∂λ − ∂z̃/∂λ|_b)

per latent. The first term is the score function of the residual; the second is the pathwise
gradient of the unconditional relaxation minus that of the conditional one (same value,
different derivatives in λ). Unbiased for every η, τ and ρ, because
E[∂c(z)] = E[c(z̃)(b − λ)] + E[∂c(z̃)|_b] (the score of b plus the pathwise derivative of the
conditional expectation). REBAR has r = 0; RELAX adds a small network r_ρ. The control-variate
parameters (η, log τ, ρ) are learned by minimising the estimator's variance, Σ‖ĝ‖² per batch
(its expectation is free of them), with their own Adam optimiser (:class:`ControlVariate`,
:func:`poissongrad.estimators.learn_control`);
the temperature is differentiable because the arrival times do not depend on it.

**Stein** (a first-order Taylor control variate, as in MuProp, justified by the Poisson Stein
identity E[z h(z) − λ h(z + e_k)] = 0): with the surrogate c(y) = f(λ) + ∇f(λ)·(y − λ), anchored
at the (detached) rates,

    ĝ = [f(z) − c(z) − B] (z − λ) + λ ⊙ ∇f(λ),

where B is the leave-one-out mean of f − c over the item's other samples (so S ≥ 2). The Stein
identity makes E[c(z)(z_k − λ_k)] = λ_k E[c(z + e_k) − c(z)] = λ_k ∂_k f(λ), exactly.

Costs, in evaluations of f per sample: REBAR/RELAX 2 (f(b) and f(z̃), plus one backward of f
in z̃ and, while learning, a double backward); Stein 1 per sample plus 1 per item (f and its
gradient at λ). Every function here validates nothing itself: go through
:func:`poissongrad.estimators.surrogate_loss` (or the models), which check the inputs.

Examples
--------
>>> import torch
>>> from poissongrad.estimators import surrogate_loss
>>> log_rate = torch.zeros(4, 3, requires_grad=True)
>>> control = ControlVariate(temperature=0.5)  # learns η and τ while training
>>> loss = surrogate_loss(lambda z: (z - 2.0).pow(2).sum(-1), log_rate, "rebar_cubic", 8,
...                       temperature=0.5, control=control)
>>> loss.sum().backward()  # an unbiased gradient in log_rate; control took one variance step
>>> log_rate.grad.shape, control.temperature != 0.5
(torch.Size([4, 3]), True)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from poissongrad.registry import REGISTRY, Estimator
from poissongrad.samplers.eat_conditional import conditional_relaxation
from poissongrad.samplers.indicators import get_indicator

__all__ = ["ControlVariate", "make_control", "rebar_surrogate", "stein_surrogate"]

CountFn = Callable[[torch.Tensor], torch.Tensor]


class ControlVariate(nn.Module):
    """The learned part of a REBAR or RELAX control variate: η, τ and (RELAX) a network r_ρ.

    Parameters
    ----------
    temperature : float
        Initial τ > 0 of the EAT relaxation inside the control variate.
    eta : float
        Initial scale η of f(z̃).
    n_latents : int, optional
        K, the size of the latent axis: given, a network r_ρ(z̃, log λ) of one hidden layer
        (2K → ``hidden`` → 1, last layer zero so it starts as REBAR) is added (RELAX).
    hidden : int
        Hidden units of the network.
    learn_temperature : bool
        Learn log τ (needs a double backward through f); else τ stays fixed.
    lr : float
        Adam learning rate of the control variate's own optimiser.
    seed : int
        Seed of the network's initial weights (RELAX), drawn from a generator of its own: no
        global random state reaches them.

    While ``training`` (the default; ``eval()`` freezes it), every estimator call takes one Adam
    step on the gradient of Σ‖ĝ‖² in (η, log τ, ρ). Nothing else receives that gradient.
    """

    def __init__(
        self,
        temperature: float = 0.5,
        eta: float = 1.0,
        n_latents: int | None = None,
        hidden: int = 32,
        learn_temperature: bool = True,
        lr: float = 1e-2,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        dtype = torch.float64
        self.eta = nn.Parameter(torch.tensor(float(eta), dtype=dtype))
        self.log_temperature = nn.Parameter(
            torch.tensor(float(temperature), dtype=dtype).log(), requires_grad=learn_temperature
        )
        self.network: nn.Module | None = None
        if n_latents is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self.network = nn.Sequential(
                    nn.Linear(2 * n_latents, hidden, dtype=dtype),
                    nn.Tanh(),
                    nn.Linear(hidden, 1, dtype=dtype),
                )
            nn.init.zeros_(self.network[-1].weight)
            nn.init.zeros_(self.network[-1].bias)
        self.optimiser = torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=lr)

    @property
    def temperature(self) -> float:
        """The current τ."""
        return float(self.log_temperature.detach().exp())

    def residual(self, z: torch.Tensor, log_rate: torch.Tensor) -> torch.Tensor:
        """r_ρ(z̃, log λ) per item, shape z.shape[:-1] (zero without a network)."""
        if self.network is None:
            return z.new_zeros(z.shape[:-1])
        p = next(self.network.parameters())
        inputs = torch.cat((z, log_rate.detach()), -1).to(p)
        return self.network(inputs).squeeze(-1).to(z.dtype)

    def learn(self, variance: torch.Tensor) -> None:
        """One Adam step on ∂variance/∂(η, log τ, ρ); ``variance`` must depend on them.

        ``ValueError`` (parameters unchanged) when that gradient is not finite: a NaN η or τ
        would poison every later draw.
        """
        params = [p for p in self.parameters() if p.requires_grad]
        grads = torch.autograd.grad(variance, params, allow_unused=True)
        if not all(g is None or bool(torch.isfinite(g).all()) for g in grads):
            raise ValueError(
                "the control variate's variance gradient is not finite (a NaN or inf in f or "
                "its gradient?); its η, τ and network are left unchanged"
            )
        for p, g in zip(params, grads, strict=True):
            p.grad = None if g is None else g.detach()
        self.optimiser.step()
        self.optimiser.zero_grad(set_to_none=True)


def make_control(
    estimator: str | Estimator,
    temperature: float,
    n_latents: int | None = None,
    seed: int = 0,
) -> ControlVariate | None:
    """A fresh :class:`ControlVariate` for a REBAR (η, τ) or RELAX (η, τ, network over
    ``n_latents``, initialised from ``seed``) estimator, None for any other estimator."""
    record = REGISTRY[estimator] if isinstance(estimator, str) else estimator
    if not record.learns_control:
        return None
    if not record.learns_network:
        return ControlVariate(temperature)
    if n_latents is None:
        raise ValueError("a RELAX control variate needs n_latents (the latent axis' size)")
    return ControlVariate(temperature, n_latents=n_latents, seed=seed)


def rebar_surrogate(
    f: CountFn,
    log_rate: torch.Tensor,
    record: Estimator,
    temperature: float,
    generator: torch.Generator | None,
    control: ControlVariate | None,
) -> torch.Tensor:
    """Per-sample surrogate (S, *B) with value f(b) and gradient in ``log_rate`` the REBAR/RELAX
    estimator; ``log_rate`` (S, *B, K) already carries the sample axis.

    Without ``control``: η = 1, τ = ``temperature``, no network (plain REBAR, fixed). f's own
    parameters receive ∇f(b) only (the control-variate terms carry no gradient to them).
    """
    indicator = get_indicator(REGISTRY[record.relaxation].indicator)
    learning = control is not None and control.training and torch.is_grad_enabled()
    rate = log_rate.detach().exp()
    with torch.no_grad():
        b = torch.poisson(rate, generator=generator)
    if control is None:
        tau, eta = temperature, 1.0
    else:
        tau = control.log_temperature.exp()
        eta = control.eta.to(log_rate.dtype)
        if not learning:
            tau, eta = tau.detach(), eta.detach()
    draw = conditional_relaxation(b, rate, tau, indicator, generator)
    z = draw.relaxed
    if not z.requires_grad:  # τ fixed: z̃ is a leaf for c's slope
        z = z.detach().requires_grad_(True)
    with torch.enable_grad():
        c = eta * f(z)
        if control is not None:
            c = c + control.residual(z, log_rate)
        (c_slope,) = torch.autograd.grad(c.sum(), z, create_graph=learning)
    shift = rate * (draw.slope - draw.conditional_slope)  # λ(∂z̃/∂λ − ∂z̃/∂λ|_b)
    values = f(b)
    centred = b - rate
    if learning:
        estimate = (values.detach() - c).unsqueeze(-1) * centred + c_slope * shift
        control.learn(estimate.pow(2).sum())
    score = (centred * log_rate).sum(-1)
    pathwise = ((c_slope * shift).detach() * log_rate).sum(-1)
    residual = (values - c).detach()
    return values + residual * (score - score.detach()) + pathwise - pathwise.detach()


def stein_surrogate(f: CountFn, log_rate: torch.Tensor, generator: torch.Generator | None):
    """Per-sample surrogate (S, *B) with value f(z) and gradient in ``log_rate`` the Stein
    (first-order Taylor) control-variate estimator with a leave-one-out baseline; S ≥ 2."""
    rate = log_rate.detach().exp()
    with torch.no_grad():
        z = torch.poisson(rate, generator=generator)
    anchor = rate[:1].clone().requires_grad_(True)  # λ is the same for every sample
    with torch.enable_grad():
        f_anchor = f(anchor)
        (slope,) = torch.autograd.grad(f_anchor.sum(), anchor)
    values = f(z)
    with torch.no_grad():
        residual = values - f_anchor.detach() - ((z - rate) * slope).sum(-1)
        n = residual.shape[0]
        residual = residual - (residual.sum(0, keepdim=True) - residual) / (n - 1)
    score = ((z - rate) * log_rate).sum(-1)
    pathwise = ((rate * slope) * log_rate).sum(-1)
    return values + residual * (score - score.detach()) + pathwise - pathwise.detach()
