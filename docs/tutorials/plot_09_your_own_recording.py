"""
Your own recording
==================

Spike times go into the POGLM as they come from an experiment: a list of arrays (one per
neuron, in seconds), a pynapple ``TsGroup``, neo spike trains, or an NWB file. Three lines bin
them, fit the model and give back the inferred hidden neurons on the recording's own time axis.

The recording here is an NWB file this tutorial writes (pynwb, the ``recordings`` extra) from a
simulated network, the paper's: 5 coupled neurons of which only 3 are recorded. The 2 that
are not stay hidden, so the inferred hidden trace can be checked against their true spikes.
"""

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pynwb

from poissongrad.data import bin_spikes
from poissongrad.data.spikes import make_network
from poissongrad.glm import glm_rates
from poissongrad.models import POGLM

# %%
# A session on disk
# -----------------
# 40 trials of 1 s, 10 ms bins, laid end to end: trial k spans [k, k + 1) s. Each count of the
# simulation becomes that many spike times inside its bin; only neurons 0–2 are written.

net = make_network("paper", seed=0)
counts = net.train.numpy()  # (trials, bins, neurons): 40 × 100 × 5
bin_size, (n_trials, n_bins, _) = 0.01, counts.shape
rng = np.random.default_rng(0)
start = datetime(2026, 1, 1, tzinfo=UTC)
session = pynwb.NWBFile("simulated session", "tutorial-09", start)
for neuron in range(3):
    flat = counts[:, :, neuron].reshape(-1).astype(int)  # session bins, trial after trial
    bins = np.repeat(np.arange(flat.size), flat)
    session.add_unit(spike_times=np.sort((bins + rng.uniform(0.05, 0.95, bins.size)) * bin_size))
path = Path(tempfile.mkdtemp()) / "session.nwb"
with pynwb.NWBHDF5IO(str(path), "w") as io:
    io.write(session)

# %%
# Three lines
# -----------
# ``bin_spikes`` reads the file's units and cuts one sequence per trial; the model fits the
# counts; ``posterior_rates`` of the binned spikes answers on their time axis (a pandas
# ``DataFrame`` indexed by trial and time, or a pynapple ``TsdFrame`` when the spikes came as a
# ``TsGroup``). ``POGLM(...).fit(path, bin_size=0.01, trials=trials)`` does the first two in one.

trials = np.column_stack([np.arange(n_trials), np.arange(n_trials) + 1.0])
binned = bin_spikes(path, bin_size, trials=trials)
model = POGLM(n_hidden=2, random_state=0).fit(binned)
trace = model.posterior_rates(binned)

print(trace.head(3))
np.testing.assert_array_equal(binned.counts, counts[:, :, :3])  # binning is exact

# %%
# Did it find the hidden neurons?
# -------------------------------
# Hidden neurons have no names: inferred trace j may stand for either true neuron, so each is
# paired with the true neuron it correlates with best (over all 4,000 bins). Two references
# put the correlation in scale: chance (the same correlation with the true spikes of another
# trial, trials rotated by one) and a ceiling (the true rate of the hidden neuron given every
# neuron's past, hidden ones included: no trace inferred from 3 neurons can do better, and
# Poisson noise keeps even it far from 1).

inferred = trace.to_numpy().reshape(n_trials, n_bins, 2)
truth = counts[:, :, 3:]
true_rate = glm_rates(net.train, net.weights, net.bias, net.link).numpy()[:, :, 3:]


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


pairs = [int(np.argmax([corr(inferred[..., j], truth[..., h]) for h in (0, 1)])) for j in (0, 1)]
for j, h in enumerate(pairs):
    r = corr(inferred[..., j], truth[..., h])
    chance = corr(inferred[..., j], np.roll(truth[..., h], 1, axis=0))
    ceiling = corr(true_rate[..., h], truth[..., h])
    share = (r - chance) / (ceiling - chance)
    print(f"trace {j} ~ neuron {3 + h}: r {r:+.3f} (chance {chance:+.3f}, ceiling {ceiling:+.3f})")
    print(f"    {share:.0%} of the way from chance to the ceiling")
if len(set(pairs)) < 2:
    missed = 3 + ({0, 1} - set(pairs)).pop()
    print(f"both traces pair with neuron {3 + pairs[0]}; neuron {missed} has none")

# %%
# What these numbers say is printed above, not assumed here: with the default settings
# (300 epochs, EAT-cubic at τ = 0.5) the trace's share of the way from chance to the ceiling is
# the measure of recovery. The pipeline itself (file → counts → fit → trace on the session's
# clock) is the point of this tutorial: the counts it reads back are exactly the simulation's
# (checked above), and the same three lines take a real NWB file or a pynapple ``TsGroup``.

# %%
# The first three seconds of the session: the true hidden spikes (bars) and the inferred
# rates (lines), on the recording's clock.

first = trace.loc[0:2]
times = first.index.get_level_values("time (s)")
fig, axes = plt.subplots(2, 1, figsize=(8, 4.5), sharex=True)
for j, (ax, h) in enumerate(zip(axes, pairs, strict=True)):
    ax.bar(
        times,
        truth[:3, :, h].ravel(),
        width=bin_size,
        color="0.75",
        label=f"true spikes of neuron {3 + h}",
    )
    ax.plot(times, first[f"hidden {j}"], color="C3", label=f"inferred rate, hidden {j}")
    ax.set_ylabel("spikes / bin")
    ax.legend(loc="upper right", fontsize=8)
axes[-1].set_xlabel("session time (s)")
fig.tight_layout()
