"""
Inferring hidden neurons with the POGLM
=======================================

A partially observable GLM explains the recorded neurons' spikes by their couplings and by
hidden neurons whose spikes are inferred. On the salamander retina recording that ships with
the package (Onken et al. 2016, CC0), one cell is hidden from the fit; the model's inferred
hidden activity is then compared with that cell's real spikes. (The guide's retina experiment
does this over cell choices, estimators and seeds: the inferred neuron raises the visible cells'
likelihood but is a shared latent, not the hidden cell.) A second fit on the grasshopper
receptor that ships with nitime compares zero and one hidden neuron by held-out likelihood.
"""

import matplotlib.pyplot as plt
import numpy as np

from poissongrad.data.grasshopper import load_grasshopper
from poissongrad.data.retina import load_retina
from poissongrad.models.poglm import POGLM

data = load_retina(bin_ms=50)
active = np.argsort(data.train_counts.sum((0, 1)))[::-1][:6]  # the six most active cells
visible, hidden = active[1:], active[0]
train = data.train_counts[:, :, visible]
model = POGLM(n_hidden=1, history=3, epochs=60, estimator="eat_cubic", random_state=0)
model.fit(train)
inferred = model.posterior_rates(data.test_counts[:, :, visible]).mean(0)[:, 0].numpy()
real = data.test_counts[:, :, hidden].mean(0)
print(f"correlation of the inferred rate with the hidden cell's PSTH: "
      f"{np.corrcoef(inferred, real)[0, 1]:+.2f}")

fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5))
seconds = np.arange(len(real)) * data.bin_ms / 1000
top.plot(seconds, real, color="k", label="hidden cell, test trials' mean")
top.plot(seconds, inferred, color="C3", label="inferred hidden rate (q)")
top.set_xlabel("time in the movie (s)")
top.set_ylabel("spikes per bin")
top.legend(fontsize=8)
fig.tight_layout()

# %%
# The grasshopper receptor: does one hidden neuron raise the held-out likelihood?
hopper = load_grasshopper()
scores = []
for n_hidden in (0, 1):
    fitted = POGLM(n_hidden=n_hidden, history=10, input_history=10, epochs=60, lr=0.05,
                   batch_size=8, random_state=0)
    fitted.fit(hopper.train_counts, inputs=hopper.train_stimulus)
    scores.append(fitted.score_with_error(hopper.test_counts, inputs=hopper.test_stimulus))
    print(f"{n_hidden} hidden: held-out log p(visible) {scores[-1][0]:.3f} ± {scores[-1][1]:.3f}")
bottom.errorbar([0, 1], [s[0] for s in scores], yerr=[s[1] for s in scores], fmt="o")
bottom.set_xticks([0, 1], ["no hidden neuron", "one hidden neuron"])
bottom.set_ylabel("held-out log p (nats/seq.)")
fig.tight_layout()
