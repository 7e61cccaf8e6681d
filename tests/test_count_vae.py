"""The count VAE of the generalisability experiment: laws, estimators, schema rows."""

import math

import pytest
import torch

from poissongrad.data.counts import make_count_data
from poissongrad.experiments import generalisability
from poissongrad.experiments.registry import EXPERIMENTS
from poissongrad.models.count_vae import CountVAE


@pytest.mark.parametrize(
    "law, estimator",
    [
        ("negative_binomial", "eat_cubic"),
        ("com_poisson", "gsm"),
        ("negative_binomial", "score_loo"),
        ("negative_binomial", "rebar_cubic"),
    ],
)
def test_training_lowers_the_held_out_negative_elbo(law, estimator):
    data = make_count_data(law, 2.0, seed=0, n_train=400, n_test=100)
    n = 2 if estimator == "score_loo" else 1
    before = CountVAE(law, estimator=estimator, epochs=0, n_samples=n).fit(data.x_train)
    after = CountVAE(law, estimator=estimator, epochs=15, n_samples=n).fit(data.x_train)
    assert after.neg_elbo(data.x_test) < before.neg_elbo(data.x_test)
    assert after.log_likelihood(data.x_test) > before.log_likelihood(data.x_test)


def test_laws_and_estimators_that_cannot_meet_are_refused():
    x = torch.ones(4, 3)  # parameters are checked by fit, before the data
    with pytest.raises(ValueError, match="cannot express a com_poisson latent"):
        CountVAE("com_poisson", estimator="eat_cubic").fit(x)
    with pytest.raises(ValueError, match="cannot express a com_poisson latent"):
        CountVAE("com_poisson", estimator="rebar_cubic").fit(x)
    with pytest.raises(ValueError, match="cannot express a negative_binomial latent"):
        CountVAE("negative_binomial", estimator="stein", n_samples=2).fit(x)
    with pytest.raises(ValueError, match="unknown law"):
        CountVAE("zipf").fit(x)
    with pytest.raises(ValueError, match="Negative values"):
        CountVAE(epochs=0).fit(torch.full((4, 3), -1.0))
    with pytest.warns(UserWarning, match="not whole numbers"):  # allowed, as PoissonRegressor
        CountVAE(epochs=0).fit(torch.full((4, 3), 0.5))


def test_the_experiment_gives_one_schema_row_and_skips_inexpressible_pairs():
    config = generalisability.GeneralisabilityConfig(epochs=1, hidden=8)
    (row,) = EXPERIMENTS["generalisability"].check_rows(generalisability.run(config))
    # the error is |log learned − log true| of the dispersion the row reports
    expected = abs(math.log(row["learned_dispersion"]) - math.log(config.dispersion))
    assert row["dispersion_error"] == pytest.approx(expected, abs=0.7)  # mean of logs vs log mean
    assert 0.4 <= row["learned_dispersion"] <= 10.0  # the clamp of the learned dispersion
    assert row["uses_temperature"] and row["estimator"] == config.estimator
    configs = generalisability.grid_configs("quick")
    assert not any(c.law == "com_poisson" and c.estimator == "eat_cubic" for c in configs)
    assert {c.seed for c in configs} == {0, 1, 2}
