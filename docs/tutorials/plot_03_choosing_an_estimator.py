"""
Choosing an estimator
=====================

Relaxations are biased and low-variance; the score function is unbiased and noisy; the control
variates in between are unbiased with a variance close to a relaxation's. This tutorial
measures all of them on the gradient experiment's linear decoder, where the exact gradient is
closed form, at equal cost in evaluations of the loss (REBAR and RELAX spend two per sample).
The guide runs the same measurement over the whole grid and turns it, with the task results,
into advice: see :doc:`/report/index` (quick run, "Which method to use").
"""

import matplotlib.pyplot as plt
import torch

from poissongrad.estimators import gradient_samples, learn_control
from poissongrad.exact import linear_decoder_grad_hessian
from poissongrad.experiments.gradients import linear_problem
from poissongrad.registry import REGISTRY

x, phi, log_rate = linear_problem(5.0, n_latents=8, n_obs=16, batch=64, seed=0)
exact, _ = linear_decoder_grad_hessian(x, phi, log_rate)
norm = exact.pow(2).sum(-1).mean()


def loss(z):
    return (x - z @ phi.T).pow(2).sum(-1)


points = {}
for name, tau in [
    ("eat_cubic", 0.1), ("eat_cubic", 0.5), ("eat_sigmoid", 0.1), ("eat_sigmoid", 0.5),
    ("gsm", 0.1), ("gsm", 0.5), ("score_loo", 0.0), ("rebar_cubic", 0.3), ("relax_cubic", 0.3),
    ("stein", 0.0),
]:
    gen = torch.Generator().manual_seed(0)
    control = learn_control(loss, log_rate, name, tau, steps=100, generator=gen)
    draws = [gradient_samples(loss, log_rate, name, 100, tau, gen, control) for _ in range(10)]
    g = torch.cat(draws)
    cost = REGISTRY[name].cost.evaluations(100, 8) / 100
    variance = float(g.var(0).sum(-1).mean() / norm) * cost
    bias = float(((g.mean(0) - exact).pow(2).sum(-1).mean() / norm).sqrt())
    points[f"{name} τ={tau:g}" if tau else name] = (variance, bias)
    print(f"{name:<12} τ={tau:<4g} variance at equal cost {variance:6.2f}   bias ≈ {bias:.3f}")

# %%
# The Monte-Carlo absolute bias of 1,000 samples includes their sampling error (≈ √(variance/1000)):
# the unbiased estimators sit at that floor, the relaxations above it at large τ.
fig, ax = plt.subplots(figsize=(7, 4.5))
for label, (variance, bias) in points.items():
    ax.scatter(variance, bias)
    ax.annotate(label, (variance, bias), fontsize=7)
ax.set_xscale("log")
ax.set_xlabel("relative variance at equal cost")
ax.set_ylabel("relative |mean − exact| of 1,000 samples")
fig.tight_layout()
