"""Real spikes: does a hidden neuron help explain a grasshopper auditory receptor?

Loads the recordings that ship with nitime (2 ms bins, 0.5 s sequences), fits a stimulus-driven
GLM without and with one hidden neuron, compares their held-out log-likelihood (particle
filter, independent of the variational posterior) and asks the identifiability check whether the
hidden neuron's connectivity could be trusted.

    python examples/grasshopper.py
"""

from __future__ import annotations

from poissongrad.data.grasshopper import load_grasshopper
from poissongrad.metrics.identifiability import fitted_identifiability
from poissongrad.models.poglm import POGLM


def main() -> None:
    data = load_grasshopper()
    train, test = (data.train_counts, data.train_stimulus), (data.test_counts, data.test_stimulus)
    print(f"{len(train[0])} train / {len(test[0])} test sequences of {train[0].shape[1]} bins")
    scores = {}
    for hidden in (0, 1):
        model = POGLM(
            n_hidden=hidden,
            history=10,
            input_history=10,
            epochs=400,
            lr=0.05,
            batch_size=8,
            validation_fraction=0.2,
            random_state=0,
        ).fit(train[0], inputs=train[1])
        scores[hidden] = model.score_with_error(test[0], inputs=test[1])
        ll, se = scores[hidden]
        print(f"{hidden} hidden: held-out log p(visible) {ll:.3f} ± {se:.3f} nats/sequence")
    print(f"gain of one hidden neuron: {scores[1][0] - scores[0][0]:+.3f} nats/sequence")
    for block, check in fitted_identifiability(model, train[0], inputs=train[1]).items():
        verdict = "trusted" if check.trusted else "NOT identifiable"
        print(
            f"  {block}: share of information kept {check.share:.2f} ± {check.se:.2f} ({verdict})"
        )


if __name__ == "__main__":
    main()
