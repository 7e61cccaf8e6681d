"""
How the windowed EAT sampler works
==================================

A Poisson(λ) count is the number of arrivals of a rate-λ process in [0, 1]. EAT replaces the
hard indicator 1[t < 1] of each arrival time by a soft one, g_τ(t). A compact indicator is
exactly 1 before 1 − τ and 0 after 1 + τ, so only the arrivals inside that window need to be
simulated: z̃ = N₀ + Σ g_τ(U_j), N₀ ~ Poisson(λ(1 − τ)), and M ~ Poisson(2τλ) uniform arrivals
U_j in the window. By Campbell's theorem E z̃ = λ∫g and Var z̃ = λ∫g²: for the cubic indicator
the mean is λ exactly and the variance λ(1 − 9τ/35).
"""

import matplotlib.pyplot as plt
import torch

import poissongrad as pg

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
t = torch.linspace(0.0, 2.0, 401)
for name in ("sigmoid", "linear", "cubic", "quintic", "cosine"):
    left.plot(t, pg.get_indicator(name).value(t, 0.3), label=name)
left.axvspan(0.7, 1.3, color="0.92")
left.set_xlabel("arrival time t (τ = 0.3; shaded: the cubic's window)")
left.set_ylabel("g_τ(t)")
left.legend(fontsize=8)
fig.tight_layout()

# %%
# Closed-form moments against samples (λ = 5): mean/λ and variance/λ over τ.
taus = torch.linspace(0.05, 0.9, 12)
rate = torch.full((40_000,), 5.0, dtype=torch.float64)
for method, colour in (("eat_cubic", "C2"), ("eat_sigmoid", "C0")):
    closed_mean = [float(pg.relaxed_mean(method, rate[:1], float(t))) / 5 for t in taus]
    closed_var = [float(pg.relaxed_variance(method, rate[:1], float(t))) / 5 for t in taus]
    draws = [pg.relaxed_poisson(rate, float(t), method) for t in taus]
    right.plot(taus, closed_mean, color=colour, label=f"{method} mean/λ")
    right.plot(taus, closed_var, color=colour, ls="--", label=f"{method} var/λ")
    right.plot(taus, [float(d.mean()) / 5 for d in draws], "o", color=colour, ms=3)
    right.plot(taus, [float(d.var()) / 5 for d in draws], "s", color=colour, ms=3)
right.axhline(1.0, color="k", lw=0.5)
right.set_xlabel("τ")
right.set_ylabel("moment / λ (lines: closed form, dots: samples)")
right.legend(fontsize=7)
fig.tight_layout()
