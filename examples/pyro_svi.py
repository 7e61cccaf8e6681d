"""Pyro SVI with Poisson latents: a linear-Gaussian decoder over relaxed spike counts.

Run with ``python examples/pyro_svi.py`` (needs ``pip install 'poissongrad[pyro]'``). The model
and the guide both put a relaxed Poisson at the latent site (the documented pairing: its
``log_prob`` is the Poisson pmf extended to real counts, so the model can score the guide's
relaxed samples). Prints the ELBO loss as it falls and the posterior rates against the true
counts of the first items.
"""

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
        z = pyro.sample(
            "z", RelaxedPoisson(rate=torch.full((K,), 2.0), temperature=TAU).to_event(1)
        )
        pyro.sample("x", pdist.Normal(z @ w.T, 0.3).to_event(1), obs=x)


def guide(x):
    log_rate = pyro.param("log_rate", torch.zeros(len(x), K))
    with pyro.plate("data", len(x)):
        pyro.sample("z", RelaxedPoisson(log_rate=log_rate, temperature=TAU).to_event(1))


svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), Trace_ELBO())
for step in range(301):
    loss = svi.step(x)
    if step % 50 == 0:
        print(f"step {step:3d}  ELBO loss {loss / N:9.2f} nats per item")
rates = pyro.param("log_rate").exp().detach()
for i in range(3):
    shown = ", ".join(f"{r:.2f}" for r in rates[i].tolist())
    print(f"item {i}: posterior rates [{shown}], true counts {counts[i].int().tolist()}")
