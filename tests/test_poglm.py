"""POGLM: the simulator's ground truth, gradient agreement, permutation matching, training."""

import numpy as np
import pytest
import torch
from conftest import assert_close_se, mean_and_se

from poissongrad.data.spikes import make_network, random_weights, simulate
from poissongrad.estimators import gradient_samples
from poissongrad.metrics.connectivity import connectivity_errors, match_hidden, permute_hidden
from poissongrad.models.base import NotFittedError
from poissongrad.models.glm import (
    fit_observed_glm,
    get_link,
    glm_log_likelihood,
    glm_rates,
    lagged,
)
from poissongrad.models.poglm import POGLM, HiddenPosterior


def test_lagged_shifts_spikes_by_each_lag():
    y = torch.arange(1.0, 6.0).reshape(5, 1)  # T = 5, N = 1
    out = lagged(y, range(-1, 3))[:, 0, :]
    expected = torch.tensor(
        [[2, 1, 0, 0], [3, 2, 1, 0], [4, 3, 2, 1], [5, 4, 3, 2], [0, 5, 4, 3]], dtype=torch.float
    )
    torch.testing.assert_close(out, expected)


def test_simulation_uses_exactly_the_rates_of_the_log_likelihood():
    gen = torch.Generator().manual_seed(0)
    w, b = random_weights(2, 1, 3, gen)
    y = simulate(w, b, 2000, 30, generator=gen)
    rates = glm_rates(y, w, b)
    # Spike counts given their history are Poisson(rate): E[y − λ] = 0 and E[(y − λ)² − λ] = 0.
    resid = (y - rates).flatten()
    m, se = mean_and_se(resid)
    assert_close_se(m, se, 0.0, "mean residual")
    m2, se2 = mean_and_se(resid**2 - rates.flatten())
    assert_close_se(m2, se2, 0.0, "variance residual")


def test_fully_observed_maximum_likelihood_recovers_the_true_weights():
    gen = torch.Generator().manual_seed(1)
    w, b = random_weights(3, 0, 3, gen)
    y = simulate(w, b, 200, 200, generator=gen)  # 40,000 bins
    w_hat, b_hat = fit_observed_glm(y, 3)
    # Standard errors at this size are ~0.03; 0.08 is a generous bound on the mean |error|.
    assert float((w_hat - w).abs().mean()) < 0.08
    assert float((b_hat - b).abs().mean()) < 0.08
    assert glm_log_likelihood(y, w_hat, b_hat).sum() >= glm_log_likelihood(y, w, b).sum()


def test_matching_finds_the_permutation_of_a_relabelled_copy():
    net = make_network("large", seed=0)
    v = net.n_visible
    perm = np.array([3, 0, 4, 1, 2])
    # Relabel: hidden i of the copy is true hidden inverse[i].
    inverse = np.argsort(perm)
    w, b = permute_hidden(net.weights, net.bias, inverse, v)
    found = match_hidden(net.weights, w, v)
    w_back, b_back = permute_hidden(w, b, found, v)
    torch.testing.assert_close(w_back, net.weights)
    torch.testing.assert_close(b_back, net.bias)
    assert connectivity_errors(net.weights, net.bias, w, b, v)["weight_error"] == 0.0


def test_relaxed_and_score_function_elbo_gradients_agree_at_small_temperature():
    net = make_network("paper", seed=0)
    x = net.train[:2, :12, :3]
    model = POGLM(n_hidden=2, history=3)
    weights, bias = net.weights, net.bias
    q = HiddenPosterior(3, 2, 3).double()
    torch.manual_seed(0)
    with torch.no_grad():
        q.kernel.normal_(0, 0.3)
    log_rate = q.rate(x).log().flatten(-2).detach()

    def f(z):
        return model._negative_elbo(x, weights, bias, q.rate(x), z)

    gen = torch.Generator().manual_seed(0)
    relaxed = gradient_samples(f, log_rate, "eat_cubic", 20_000, 0.02, gen)
    score = gradient_samples(f, log_rate, "score_loo", 20_000, generator=gen)
    difference = relaxed.mean(0) - score.mean(0)
    se = (relaxed.var(0) / 20_000 + score.var(0) / 20_000).sqrt()
    # Per coordinate within 5 se, allowing the relaxation's O(τ) bias of a few percent.
    scale = score.mean(0).abs()
    assert bool((difference.abs() <= 5 * se + 0.05 * scale + 1e-3).all())


@pytest.mark.parametrize(
    "estimator", ["eat_cubic", "eat_sigmoid", "gsm", "eat_cubic_st", "score_loo"]
)
def test_a_short_fit_improves_the_test_elbo(estimator):
    net = make_network("paper", seed=1)
    x, test = net.train[..., :3], net.test[..., :3]
    before = POGLM(estimator=estimator, epochs=1, lr=1e-9).fit(x).elbo(test)
    model = POGLM(estimator=estimator, epochs=40, temperature=0.5).fit(x)
    assert model.elbo(test) > before + 1.0, (before, model.elbo(test))
    assert len(model.loss_curve_) == 40 and model.loss_curve_[-1] < model.loss_curve_[0]


def test_estimator_api_shapes():
    net = make_network("paper", seed=2)
    model = POGLM(epochs=3).fit(net.train[..., :3])
    assert model.weights_.shape == (5, 5, 3) and model.bias_.shape == (5,)
    assert model.sample_hidden(net.test[..., :3], 4).shape == (4, 20, 100, 2)
    assert model.sample(2, 50).shape == (2, 50, 5)
    single = model.score(net.test[0, :, :3])  # a single (T, V) sequence works
    assert single == pytest.approx(model.score(net.test[:1, :, :3]))


@pytest.fixture(scope="module")
def fitted():
    net = make_network("paper", seed=2)
    return net, POGLM(epochs=2).fit(net.train[..., :3])


@pytest.mark.parametrize(
    "counts, message",
    [
        (torch.zeros(3), r"\(T, V\) or \(sequences, T, V\)"),
        (-torch.ones(10, 3), ">= 0"),
        (torch.zeros(3, 51), r"more neurons \(51\) than time bins \(3\).*transpose"),
    ],
)
def test_fit_rejects_bad_counts_naming_the_shape(counts, message):
    with pytest.raises(ValueError, match=message):
        POGLM(epochs=1).fit(counts)


def test_scoring_or_sampling_other_neurons_than_fitted_is_an_error(fitted):
    net, model = fitted
    for call in (model.score, model.elbo, model.sample_hidden):
        with pytest.raises(ValueError, match=r"4 visible neurons .* fitted to 3"):
            call(net.test[..., :4])
    with pytest.raises(ValueError, match="n_samples must be an int >= 1"):
        model.score(net.test[..., :3], n_samples=0)
    with pytest.raises(ValueError, match="n_sequences must be an int >= 1"):
        model.sample(0, 10)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"history": 0}, "history must be an int >= 1"),
        ({"n_samples": 0}, "n_samples must be an int >= 1"),
        ({"estimator": "score_loo", "n_samples": 1}, "needs n_samples >= 2"),
        ({"estimator": "eat_cubic", "temperature": 0.0}, "needs a temperature > 0"),
        ({"estimator": "vimco"}, "unknown estimator 'vimco'"),
        ({"link": "exp"}, "unknown link 'exp'"),
    ],
)
def test_bad_hyper_parameters_are_value_errors(params, message):
    with pytest.raises(ValueError, match=message):
        POGLM(**params)


def test_the_model_follows_scikit_learn_habits(fitted):
    from sklearn.base import clone

    net, model = fitted
    assert repr(model) == "POGLM(epochs=2)"
    assert model.get_params()["random_state"] == 0 and "history" in model.get_params()
    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "weights_")
    with pytest.raises(NotFittedError, match="not fitted"):
        copy.sample(1, 5)
    with pytest.raises(NotFittedError, match="not fitted"):
        POGLM().score(net.test[..., :3])


def test_sigmoid_link_handles_a_mean_count_of_one_or_more():
    # The sigmoid's rates are < 1; a mean count >= 1 once failed with "math domain error".
    counts = torch.ones(2, 20, 3) * 2.0
    model = POGLM(link="sigmoid", epochs=1).fit(counts)
    assert torch.isfinite(model.bias_).all()
    assert float(get_link("sigmoid").forward(model.bias_[0])) == pytest.approx(0.999, abs=1e-2)
