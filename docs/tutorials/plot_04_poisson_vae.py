"""
Training a Poisson VAE
======================

A Poisson VAE has Poisson latents: the encoder gives posterior rates, a linear decoder maps the
counts to the image. With a linear decoder and Gaussian observations the expected loss is
closed form, so training with exact gradients (``"exact"``) is the reference every estimator is
compared with. Here: the 8×8 digits that ship with scikit-learn, 16 latents, a few epochs.
"""

import matplotlib.pyplot as plt

from poissongrad.data.images import load_dataset
from poissongrad.models import PoissonVAE

data = load_dataset("digits", seed=0)
fig, ax = plt.subplots(figsize=(7, 4))
for estimator, tau, n in (("exact", 0.0, 1), ("eat_cubic", 0.1, 1), ("relax_cubic", 0.3, 1),
                          ("score_loo", 0.0, 4)):
    vae = PoissonVAE(
        n_latents=16, estimator=estimator, temperature=tau, n_samples=n, epochs=8,
        batch_size=128, random_state=0,
    ).fit(data.x_train, X_val=data.x_val)
    ax.plot(range(1, 9), vae.validation_curve_, marker="o", label=estimator)
    print(f"{estimator:<12} held-out negative ELBO {vae.neg_elbo(data.x_val):8.2f} nats/image")
ax.set_xlabel("epoch")
ax.set_ylabel("held-out negative ELBO (nats per image)")
ax.legend()
fig.tight_layout()
