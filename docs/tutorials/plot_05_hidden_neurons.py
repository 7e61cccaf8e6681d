"""
Inferring hidden neurons with the POGLM
=======================================

A partially observable GLM explains the recorded neurons' spikes by their couplings and by
hidden neurons whose spikes are inferred. On the salamander retina recording that ships with
the package (Onken et al. 2016, CC0), one recorded cell is hidden from the fit and the
inferred hidden activity is compared with that cell's real spikes, posed as the guide's retina
experiment poses it: duplicate units removed, every cell's own PSTH as its stimulus drive, and
a ceiling that says how much of the hidden cell the other cells' spikes can reveal at all. A
second fit on the grasshopper receptor (nitime's example data, shipped in the package)
compares zero and one hidden neuron by held-out likelihood.
"""

import matplotlib.pyplot as plt
import numpy as np

from poissongrad.data.grasshopper import load_grasshopper
from poissongrad.data.retina import load_retina
from poissongrad.experiments.retina import ceilings, chosen_cells, screened_cells, test_bar
from poissongrad.glm import get_link
from poissongrad.metrics.readout import lagged_features, residuals, ridge_readout
from poissongrad.models.poglm import POGLM

# %%
# Which cell to hide, and how much of it could be found
# -----------------------------------------------------
# Units that share most spikes within ±1 ms are one cell sorted twice; the less active one is
# dropped. Each remaining cell's *ceiling* is a readout of its trial-to-trial residual
# (spikes minus its PSTH) from all other cells' residuals: no model of the visible spikes can
# be expected to recover more of the hidden cell. We hide the cell with the best ceiling on
# the training trials.
key = ("recording2", "movie2", 10)
data = load_retina(*key)
cells = screened_cells(*key[:2])
hidden = chosen_cells(*key)[0]
ceiling = ceilings(*key).loc[hidden]
bar = test_bar(*key)
print(f"{len(cells)} cells after screening; hiding cell {hidden}")
print(
    f"ceiling: a readout from the other cells reaches r = {ceiling.corr_coarse:+.3f} at 100 ms "
    f"on the test trials;\ncorrelations below 2/sqrt(n) = {bar:.3f} are noise"
)

# %%
# Fit a POGLM of the visible cells, with and without one hidden neuron
# --------------------------------------------------------------------
# Every visible cell's drive is its own PSTH (leave-one-trial-out on training trials), fixed;
# the hidden neuron's stimulus drive is a learned filter of those PSTHs. The reference
# without a hidden neuron is then "PSTH + coupling", so whatever the hidden neuron adds is
# shared trial-to-trial variability.
visible = cells[cells != hidden]
train, test = data.train_counts[..., visible], data.test_counts[..., visible]
_, _, loo, psth = residuals(train, test, smooth=5)
off_train, off_test = (get_link("softplus").inverse(p).numpy() for p in (loo, psth))
settings = dict(history=5, input_history=1, input_targets="hidden", epochs=15, batch_size=8,
                validation_fraction=0.2, patience=5, random_state=0)
model = POGLM(n_hidden=1, estimator="eat_cubic", temperature=0.5, n_samples=1, **settings)
model.fit(train, inputs=off_train, offsets=off_train)
reference = POGLM(n_hidden=0, estimator="score_loo", **settings).fit(train, offsets=off_train)

# %%
# Is the hidden cell recovered?
# -----------------------------
# The inferred trace (q's expected hidden counts) has no sign or scale of its own, so it is
# read out: a ridge regression of the hidden cell's residual on the trace's residual at lags
# ±30 ms, fitted on training trials and scored on test trials.
trace_train = model.posterior_rates(train, off_train, off_train).numpy()
trace_test = model.posterior_rates(test, off_test, off_test).numpy()
t_train, t_test, _, _ = residuals(trace_train, trace_test, smooth=5)
real = data.train_counts[..., [hidden]], data.test_counts[..., [hidden]]
r_train, r_test, _, _ = residuals(*real, smooth=5)
score = ridge_readout(lagged_features(t_train), r_train[..., 0], lagged_features(t_test),
                      r_test[..., 0], coarse=10)
share = score["corr_coarse"] / ceiling.corr_coarse
verdict = "above" if score["corr_coarse"] > bar else "not above"
print(
    f"readout of the inferred trace: r = {score['corr_coarse']:+.3f} at 100 ms, {share:.0%} of "
    f"the ceiling,\n{verdict} the noise level {bar:.3f} (one short fit; the guide runs 3 seeds "
    "and 4 estimators)"
)

# %%
# Does the hidden neuron explain the visible cells better?
# --------------------------------------------------------
# Held-out log-likelihood of the visible cells per visible spike (bits), by a particle filter
# for the POGLM and exactly for the reference: the number the POGLM literature reports.
spikes = test.sum() / len(test) * np.log(2)
ll, se = model.score_with_error(test, n_particles=100, n_repeats=2, inputs=off_test,
                                offsets=off_test)
ll_ref = reference.score(test, n_particles=1, n_repeats=1, offsets=off_test)
gain, gain_se = (ll - ll_ref) / spikes, se / spikes
print(f"POGLM {ll / spikes:+.3f} ± {gain_se:.3f} bits/spike; PSTH + coupling "
      f"{ll_ref / spikes:+.3f} (exact);\ngain {gain:+.4f} bits/spike: "
      + ("the hidden neuron helps" if gain > 2 * gain_se else
         "the hidden neuron fits the visible cells worse" if gain < -2 * gain_se else
         "within two Monte-Carlo standard errors of zero"))

fig, ax = plt.subplots(figsize=(8, 2.6))
window = slice(0, 600)  # the first 6 s of the first test trial
seconds = np.arange(600) * data.bin_ms / 1000
spike_bins = data.test_counts[0, window, hidden] > 0
ax.vlines(seconds[spike_bins], 0, 1, color="k", lw=0.7, label="hidden cell's spikes")
ax.plot(seconds, trace_test[0, window, 0] / trace_test[0, window, 0].max(), color="C3",
        lw=0.9, label="inferred hidden rate (scaled)")
ax.set_xlabel("time in the trial (s)")
ax.set_yticks([])
ax.legend(fontsize=9, loc="upper right")
fig.tight_layout()

# %%
# The grasshopper receptor: does one hidden neuron raise the held-out likelihood?
# -------------------------------------------------------------------------------
hopper = load_grasshopper()
scores = []
for n_hidden in (0, 1):
    fitted = POGLM(n_hidden=n_hidden, history=10, input_history=10, epochs=60, lr=0.05,
                   batch_size=8, random_state=0)
    fitted.fit(hopper.train_counts, inputs=hopper.train_stimulus)
    scores.append(fitted.score_with_error(hopper.test_counts, inputs=hopper.test_stimulus))
    print(f"{n_hidden} hidden: held-out log p(visible) {scores[-1][0]:.3f} ± {scores[-1][1]:.3f} "
          "nats per sequence")
difference = scores[1][0] - scores[0][0]
error = float(np.hypot(scores[0][1], scores[1][1]))
print(f"difference {difference:+.3f} ± {error:.3f} nats: "
      + ("one hidden neuron helps" if difference > 2 * error else
         "within two standard errors of zero: no measurable help" if abs(difference) <= 2 * error
         else "one hidden neuron fits worse"))

fig, ax = plt.subplots(figsize=(5, 3))
ax.errorbar([0, 1], [s[0] for s in scores], yerr=[s[1] for s in scores], fmt="o")
ax.set_xticks([0, 1], ["no hidden neuron", "one hidden neuron"])
ax.set_xlim(-0.5, 1.5)
ax.set_ylabel("held-out log p (nats/seq.)")
fig.tight_layout()
