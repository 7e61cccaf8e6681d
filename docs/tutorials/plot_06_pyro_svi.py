"""
Pyro SVI with Poisson latents
=============================

Pyro's SVI needs reparameterised samples at a latent site. ``poissongrad.pyro.RelaxedPoisson``
gives them: put it at the site in the model (the prior) and in the guide, and the model scores
the guide's relaxed counts with the Poisson pmf extended to real values.
"""

import matplotlib.pyplot as plt
import pyro
import pyro.distributions as pdist
import torch
from pyro.infer import SVI, Trace_ELBO

from poissongrad.pyro import RelaxedPoisson

K, D, N, TAU = 3, 8, 300, 0.2
pyro.set_rng_seed(0)
gen = torch.Generator().manual_seed(0)
w = torch.randn(D, K, generator=gen)
counts = torch.poisson(torch.full((N, K), 2.0), generator=gen)
x = counts @ w.T + 0.3 * torch.randn(N, D, generator=gen)


def model(x):
    with pyro.plate("data", len(x)):
        prior = RelaxedPoisson(rate=torch.full((K,), 2.0), temperature=TAU)
        z = pyro.sample("z", prior.to_event(1))
        pyro.sample("x", pdist.Normal(z @ w.T, 0.3).to_event(1), obs=x)


def guide(x):
    log_rate = pyro.param("log_rate", torch.zeros(len(x), K))
    with pyro.plate("data", len(x)):
        pyro.sample("z", RelaxedPoisson(log_rate=log_rate, temperature=TAU).to_event(1))


pyro.clear_param_store()
svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), Trace_ELBO())
losses = [svi.step(x) / N for _ in range(300)]
rates = pyro.param("log_rate").exp().detach()
print(f"first item: posterior rates {rates[0].numpy().round(2)}, counts {counts[0].int().tolist()}")

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(losses)
ax.set_xlabel("SVI step")
ax.set_ylabel("ELBO loss (nats per item)")
fig.tight_layout()

# %%
# Unbiased gradients inside SVI: ``CountELBO``
# --------------------------------------------
# A relaxed site biases the ELBO (the model scores relaxed counts). With a plain
# ``pyro.distributions.Poisson`` in the guide, Pyro's ``Trace_ELBO`` falls back to the score
# function, unbiased but noisy. :class:`poissongrad.pyro.CountELBO` keeps the guide's Poisson
# site and swaps in this library's estimators: here REBAR, whose control variate (η, τ) learns
# as SVI goes. The model is small enough for the optimum to be known: a count z ~ Poisson(4)
# behind six Poisson observations with rate 0.5 + 0.3·z, a guide q = Poisson(λ), and the best λ
# found by enumerating z = 0..199.

import numpy as np  # noqa: E402
from scipy.optimize import minimize_scalar  # noqa: E402
from scipy.stats import poisson  # noqa: E402

from poissongrad.pyro import CountELBO  # noqa: E402

observed = torch.tensor([3.0, 1.0, 2.0, 4.0, 2.0, 3.0])


def count_model():
    z = pyro.sample("z", pdist.Poisson(torch.tensor(4.0)))
    with pyro.plate("obs", len(observed)):
        pyro.sample("x", pdist.Poisson(0.5 + 0.3 * z), obs=observed)


def count_guide():
    rate = pyro.param("rate", torch.tensor(1.0), constraint=pdist.constraints.positive)
    pyro.sample("z", pdist.Poisson(rate))


k = np.arange(200)
joint = poisson.logpmf(k, 4.0) + poisson.logpmf(observed.numpy()[:, None], 0.5 + 0.3 * k).sum(0)


def exact_elbo(rate: float) -> float:
    return float(np.sum(poisson.pmf(k, rate) * (joint - poisson.logpmf(k, rate))))


best = minimize_scalar(lambda r: -exact_elbo(r), bounds=(0.01, 50.0), method="bounded")
paths = {}
for name, elbo in [
    ("CountELBO, REBAR-cubic", CountELBO("rebar_cubic", num_particles=4, temperature=0.5)),
    ("Trace_ELBO (score function)", Trace_ELBO(num_particles=4)),
]:
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    svi = SVI(count_model, count_guide, pyro.optim.Adam({"lr": 0.05}), elbo)
    paths[name] = []
    for _ in range(300):
        svi.step()
        paths[name].append(float(pyro.param("rate").detach()))
    final = float(np.mean(paths[name][-100:]))
    print(f"{name}: λ = {final:.3f} (mean of the last 100 steps; λ* = {best.x:.3f})")
    print(f"    ELBO {exact_elbo(final):.4f} nats, the optimum {-best.fun:.4f}")

fig, ax = plt.subplots(figsize=(7, 3.5))
for name, path in paths.items():
    ax.plot(path, label=name)
ax.axhline(best.x, color="k", lw=0.8, ls="--", label="λ* (enumeration)")
ax.set_xlabel("SVI step")
ax.set_ylabel("guide rate λ")
ax.legend()
fig.tight_layout()
