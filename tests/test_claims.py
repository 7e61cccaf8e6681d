"""Each claim's verdict follows its stated rule on hand-made measurements."""

import pandas as pd
import pytest

from poissongrad.report.claims import check_claims
from poissongrad.report.rating import rate_methods


def _fidelity(cubic_var: float, sigmoid_var: float, cubic_mean: float = 1.0) -> pd.DataFrame:
    rows = [
        {
            "estimator": "poisson",
            "temperature": 0.0,
            "rate": 5.0,
            "uses_temperature": False,
            "mean_ratio": 1.0,
            "var_ratio": 1.0,
            "w1": 0.01,
            "n_samples": 10_000,
        }
    ]
    for tau in (0.1, 0.5):
        for est, mean, var, w1 in (
            ("eat_cubic", cubic_mean, cubic_var, 0.05),
            ("eat_sigmoid", 1.05, sigmoid_var, 0.15),
            ("gsm", 1.0, 0.9, 0.10),
        ):
            rows.append(
                {
                    "estimator": est,
                    "temperature": tau,
                    "rate": 5.0,
                    "uses_temperature": True,
                    "mean_ratio": mean,
                    "var_ratio": var,
                    "w1": w1,
                    "n_samples": 10_000,
                }
            )
    return pd.DataFrame(rows)


def _claims(results) -> dict:
    return {c.claim: c for c in check_claims(results, rate_methods(results))}


def test_fidelity_claims_are_reproduced_when_the_numbers_say_so():
    by = _claims({"fidelity": _fidelity(0.95, 0.8)})
    assert by["EAT-cubic's mean equals λ exactly for τ ≤ 1"].verdict == "reproduced"
    second = by["EAT-cubic's second-moment (variance) bias is smaller than EAT-sigmoid's"]
    assert second.verdict == "reproduced" and "cubic smaller in 100%" in second.evidence
    assert by["EAT-cubic has the best Wasserstein fidelity"].verdict == "reproduced"
    # Task and generalisability claims have no data here: said so, never guessed.
    assert by["EAT-cubic is the best default overall"].verdict == "not checked"
    assert any(c.verdict == "not checked" and "GSM generalises" in k for k, c in by.items())


def test_fidelity_claims_fail_when_the_numbers_disagree():
    # A mean off by 3% at n = 10,000 is ~50 standard errors; a variance bias larger than sigmoid's.
    by = _claims({"fidelity": _fidelity(0.7, 0.9, cubic_mean=1.03)})
    assert by["EAT-cubic's mean equals λ exactly for τ ≤ 1"].verdict == "not reproduced"
    assert (
        by["EAT-cubic's second-moment (variance) bias is smaller than EAT-sigmoid's"].verdict
        == "not reproduced"
    )


@pytest.mark.parametrize(
    "cubic_gap, verdict", [(0.5, "reproduced"), (2.0, "partly"), (5.0, "not reproduced")]
)
def test_the_elbo_claim_uses_the_stated_thresholds(cubic_gap, verdict):
    # Exact at 100 nats: within 1% reproduced, within 3% partly, else not.
    vae = pd.DataFrame(
        [
            {
                "estimator": e,
                "temperature": t,
                "uses_temperature": t > 0,
                "dataset": "d",
                "seed": s,
                "neg_elbo": 100.0 + g,
            }
            for e, t, g in (("exact", 0.0, 0.0), ("eat_cubic", 0.05, cubic_gap))
            for s in (0, 1)
        ]
    )
    claims = check_claims({"vae": vae}, rate_methods({"vae": vae}))
    (elbo,) = [c for c in claims if c.claim.startswith("EAT-cubic's ELBO")]
    assert elbo.verdict == verdict and "final τ = 0.05" in elbo.evidence


def _generalisability_rows(gsm_gap: float) -> pd.DataFrame:
    rows = []
    for seed, noise in ((0, 0.0), (1, 0.1), (2, -0.1)):
        for est, tau, gap in (("gsm", 0.2, gsm_gap), ("score_loo", 0.0, 0.0)):
            rows.append(
                {
                    "law": "com_poisson",
                    "dispersion": 2.0,
                    "estimator": est,
                    "temperature": tau,
                    "uses_temperature": tau > 0,
                    "seed": seed,
                    "neg_elbo": 50.0 + 5 * seed + gap + noise * (est == "gsm"),
                    "dispersion_error": 0.1,
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("gap, verdict", [(0.05, "reproduced"), (3.0, "not reproduced")])
def test_the_generalisation_claim_compares_paired_gaps_with_their_error(gap, verdict):
    rows = _generalisability_rows(gap)
    results = {"generalisability": rows}
    claim = _claims(results)[
        "GSM generalises beyond Poisson (negative binomial, COM-Poisson latents)"
    ]
    assert claim.verdict == verdict and "paired by seed" in claim.evidence
    ratings = rate_methods(results)
    assert not bool(ratings.loc["gsm", "generalisability_stated"])
    assert ratings.loc["gsm", "generalisability_laws"] == "com_poisson"
