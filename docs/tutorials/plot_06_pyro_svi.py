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
