"""POGLM: the simulator's ground truth, gradient agreement, permutation matching, training."""

import math

import numpy as np
import pytest
import torch
from conftest import assert_close_se, mean_and_se
from torch import nn

from poissongrad.data.spikes import make_network, random_weights, simulate
from poissongrad.estimators import gradient_samples
from poissongrad.glm import (
    fit_observed_glm,
    get_link,
    glm_log_likelihood,
    glm_rates,
    history_drive,
    input_drive,
    lagged,
)
from poissongrad.metrics.connectivity import connectivity_errors, match_hidden, permute_hidden
from poissongrad.models.base import NotFittedError
from poissongrad.models.poglm import POGLM, HiddenPosterior, exponential_basis
from poissongrad.samplers.moments import poisson_log_prob


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
    assert glm_log_likelihood(y, w_hat, b_hat).sum() >= glm_log_likelihood(y, w, b).sum()
    # Standard errors of the maximum-likelihood estimate from the observed Fisher information.
    theta = torch.cat([w_hat.flatten(), b_hat])

    def nll(t):
        return -glm_log_likelihood(y, t[: w.numel()].reshape(w.shape), t[w.numel() :]).sum()

    se = torch.linalg.inv(torch.autograd.functional.hessian(nll, theta)).diagonal().sqrt()
    z = (theta - torch.cat([w.flatten(), b])) / se
    assert float(z.abs().max()) < 5.0, z  # every parameter within 5 standard errors


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
    errors = connectivity_errors(net.weights, net.bias, w, b, v)
    assert errors["weight_error"] == 0.0 and errors["hh_weight_error"] == 0.0
    # Against the zero guess each block's error is the mean |W| of that block.
    zero = connectivity_errors(net.weights, net.bias, 0 * w, 0 * b, v)
    blocks = {
        "vv_weight_error": net.weights[:v, :v],
        "vh_weight_error": net.weights[:v, v:],
        "hv_weight_error": net.weights[v:, :v],
        "hh_weight_error": net.weights[v:, v:],
    }
    for key, block in blocks.items():
        assert zero[key] == pytest.approx(float(block.abs().mean()))
    assert zero["visible_weight_error"] == zero["vv_weight_error"]


def test_score_function_and_difference_elbo_gradients_agree():
    # Two unbiased estimators of the same ELBO gradient (in q's log-rates): 5 standard errors.
    net = make_network("paper", seed=0)
    x = net.train[:2, :6, :3]
    model = POGLM(n_hidden=2, history=3)
    q = HiddenPosterior(3, 2, 3).double()
    torch.manual_seed(0)
    with torch.no_grad():
        q.kernel.normal_(0, 0.3)
    rate_q = q.rate(x).detach()
    log_rate = rate_q.log().flatten(-2)

    def f(z):
        return model._negative_elbo(x, net.weights, net.bias, rate_q, z)

    gen = torch.Generator().manual_seed(0)
    n = 10_000
    score = gradient_samples(f, log_rate, "score_loo", n, generator=gen)
    difference = gradient_samples(f, log_rate, "difference", n, generator=gen)
    # The difference identity gives ∂/∂s of E_z[f(z)] with q's rate held fixed inside f, as
    # does the score function here (rate_q is a constant in f).
    gap = score.mean(0) - difference.mean(0)
    se = (score.var(0) / n + difference.var(0) / n).sqrt()
    assert bool((gap.abs() <= 5 * se).all()), float((gap.abs() / se).max())


@pytest.mark.parametrize(
    "estimator",
    ["eat_cubic", "eat_sigmoid", "gsm", "eat_cubic_st", "score_loo", "rebar_cubic", "stein"],
)
def test_a_short_fit_improves_the_test_elbo(estimator):
    net = make_network("paper", seed=1)
    x, test = net.train[..., :3], net.test[..., :3]
    before = POGLM(estimator=estimator, epochs=1, lr=1e-9).fit(x).elbo(test)
    model = POGLM(estimator=estimator, epochs=40, temperature=0.5).fit(x)
    assert model.elbo(test) > before + 1.0, (before, model.elbo(test))
    assert len(model.loss_curve_) == 40 and model.loss_curve_[-1] < model.loss_curve_[0]
    assert (model.control_ is None) == (estimator != "rebar_cubic")


def test_estimator_api_shapes():
    net = make_network("paper", seed=2)
    model = POGLM(epochs=3).fit(net.train[..., :3])
    assert model.weights_.shape == (5, 5, 3) and model.bias_.shape == (5,)
    assert model.sample_hidden(net.test[..., :3], 4).shape == (4, 20, 100, 2)
    assert model.sample(2, 50).shape == (2, 50, 5)
    single = model.score(net.test[0, :, :3])  # a single (T, V) sequence works
    assert single == pytest.approx(model.score(net.test[:1, :, :3]))
    # The particle-filter likelihood is above the importance-weighted bound (up to its error).
    ll, se = model.score_with_error(net.test[..., :3])
    assert ll > model.iw_bound(net.test[..., :3]) - 5 * se


@pytest.fixture(scope="module")
def fitted():
    net = make_network("paper", seed=2)
    return net, POGLM(epochs=2).fit(net.train[..., :3])


@pytest.mark.parametrize(
    "counts, message",
    [
        (torch.zeros(3), r"\(T, V\) or \(sequences, T, V\)"),
        (-torch.ones(10, 3), ">= 0"),
        (torch.zeros(3, 51), r"more neurons \(51\) than time bins \(3 .*transpose"),
    ],
)
def test_fit_rejects_bad_counts_naming_the_shape(counts, message):
    with pytest.raises(ValueError, match=message):
        POGLM(epochs=1).fit(counts)


def test_scoring_or_sampling_other_neurons_than_fitted_is_an_error(fitted):
    net, model = fitted
    for call in (model.score, model.iw_bound, model.elbo, model.sample_hidden):
        with pytest.raises(ValueError, match=r"X has 4 features, but POGLM is expecting 3 "):
            call(net.test[..., :4])
    with pytest.raises(ValueError, match="n_samples must be an int >= 1"):
        model.iw_bound(net.test[..., :3], n_samples=0)
    with pytest.raises(ValueError, match="n_particles must be an int >= 1"):
        model.score(net.test[..., :3], n_particles=0)
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
    model = POGLM(**params)  # stored as given, checked by fit (scikit-learn's habit)
    with pytest.raises(ValueError, match=message):
        model.fit(np.zeros((2, 20, 3)))


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


def test_early_stopping_keeps_the_best_held_out_epoch():
    net = make_network("paper", seed=3)
    model = POGLM(epochs=60, lr=0.05, validation_fraction=0.25, patience=5).fit(net.train[..., :3])
    curve = model.validation_curve_
    assert len(curve) == len(model.loss_curve_) <= 60
    assert model.best_epoch_ == int(np.argmax(curve))
    # Stopped within `patience` epochs of the best one, unless the budget ran out first.
    assert len(curve) == 60 or len(curve) - 1 - model.best_epoch_ == 5
    without = POGLM(epochs=3).fit(net.train[..., :3])
    assert without.validation_curve_ == [] and without.best_epoch_ == 2
    with pytest.raises(ValueError, match=r"validation_fraction must be a number in \[0.0, 1.0\)"):
        POGLM(validation_fraction=1.0).fit(net.train[..., :3])


def test_zero_hidden_neurons_is_a_fully_observed_glm_scored_exactly():
    net = make_network("paper", seed=4)
    x, test = net.train[..., :3], net.test[..., :3]
    model = POGLM(n_hidden=0, epochs=150).fit(x)
    assert model.weights_.shape == (3, 3, 3)
    exact = float(glm_log_likelihood(test, model.weights_, model.bias_).mean())
    assert model.score(test) == pytest.approx(exact)  # nothing hidden: the filter is exact
    assert model.elbo(test) == pytest.approx(exact)
    # It approaches the maximum-likelihood fit of the visible neurons.
    w, b = fit_observed_glm(x, 3)
    assert exact == pytest.approx(float(glm_log_likelihood(test, w, b).mean()), abs=1.0)


def _stimulus_data(seed: int = 0):
    """2 visible neurons driven by a white-noise stimulus through filters of lags 0 and 1."""
    gen = torch.Generator().manual_seed(seed)
    w, b = random_weights(2, 0, 2, gen)
    filters = torch.tensor([[[0.8, 0.4]], [[-0.6, 0.3]]], dtype=torch.float64)  # (N, C, L)
    stimulus = torch.randn(20, 400, 1, generator=gen, dtype=torch.float64)
    drive = input_drive(stimulus, filters)
    y = simulate(w, b, 20, 400, generator=gen, drive=drive)
    return y, stimulus, filters, w, b


def test_stimulus_filters_are_recovered_and_scored_through_the_drive():
    y, stimulus, filters, w, b = _stimulus_data()
    model = POGLM(n_hidden=0, history=2, input_history=2, epochs=300, lr=0.05)
    model.fit(y, inputs=stimulus)
    # 8,000 bins at ~0.3 spikes: each coefficient's SE is ≈ 0.02; allow 5 of them.
    torch.testing.assert_close(model.input_weights_, filters, atol=0.1, rtol=0.0)
    exact = float(
        glm_log_likelihood(
            y, model.weights_, model.bias_, drive=input_drive(stimulus, model.input_weights_)
        ).mean()
    )
    assert model.score(y, inputs=stimulus) == pytest.approx(exact)  # nothing hidden: exact
    with pytest.raises(ValueError, match="fitted with inputs"):
        model.score(y)
    with pytest.raises(ValueError, match=r"inputs must be \(T, C\) or \(sequences, T, C\)"):
        model.score(y, inputs=stimulus[:, :10])
    with pytest.raises(ValueError, match="fitted without inputs"):
        POGLM(n_hidden=0, epochs=1).fit(y).score(y, inputs=stimulus)


def test_basis_filters_stay_in_the_span_of_the_basis():
    basis = exponential_basis(4, 2)
    assert basis.shape == (2, 4) and torch.allclose(basis[:, 0], torch.ones(2, dtype=basis.dtype))
    net = make_network("paper", seed=1)
    model = POGLM(history=4, basis="exponential", n_basis=2, epochs=3).fit(net.train[..., :3])
    flat = model.weights_.reshape(-1, 4)
    coef = torch.linalg.lstsq(basis.T, flat.T).solution
    torch.testing.assert_close(coef.T @ basis, flat)
    with pytest.raises(ValueError, match="unknown basis 'cosine'"):
        POGLM(basis="cosine").fit(net.train[..., :3])


def test_offsets_are_a_fixed_drive_and_inputs_can_reach_the_hidden_neurons_only():
    # A fully observed GLM whose rates follow a known stimulus offset: with that offset given,
    # the fit leaves the biases near 0 and scores better than the same fit without it.
    gen = torch.Generator().manual_seed(0)
    bins, v = 400, 3
    t = torch.arange(bins, dtype=torch.float64)
    offset = (0.8 * torch.sin(2 * math.pi * t / 50)).unsqueeze(-1).expand(bins, v)
    counts = torch.poisson(nn.functional.softplus(offset - 1.0).expand(8, bins, v), generator=gen)
    kwargs = {"n_hidden": 0, "history": 2, "epochs": 150, "lr": 0.05, "estimator": "score_loo"}
    with_offsets = POGLM(**kwargs).fit(counts, offsets=offset)
    without = POGLM(**kwargs).fit(counts)
    assert with_offsets.has_offsets_ and not without.has_offsets_
    torch.testing.assert_close(
        with_offsets.bias_, torch.full((v,), -1.0, dtype=torch.float64), atol=0.15, rtol=0
    )
    assert with_offsets.score(counts, offsets=offset) > without.score(counts) + 10.0
    with pytest.raises(ValueError, match="fitted with offsets"):
        with_offsets.score(counts)
    with pytest.raises(ValueError, match="offsets must be"):
        with_offsets.score(counts, offsets=offset[:, :2])
    hidden_only = POGLM(n_hidden=1, history=2, epochs=2, input_targets="hidden").fit(
        counts, inputs=offset[:, :1], offsets=offset
    )
    assert bool((hidden_only.input_weights_[:v] == 0).all())
    rates = hidden_only.posterior_rates(counts, inputs=offset[:, :1], offsets=offset)
    assert rates.shape == (8, bins, 1)


@pytest.mark.parametrize("n, depth", [(5, 3), (5, 10)])  # matrix product; convolution
def test_the_history_drive_is_the_sum_over_lagged_copies(n, depth):
    gen = torch.Generator().manual_seed(0)
    y = torch.poisson(
        2 * torch.rand(3, 4, 50, n, generator=gen, dtype=torch.float64), generator=gen
    )
    w = torch.randn(n, n, depth, generator=gen, dtype=torch.float64)
    direct = torch.einsum("...tmd,nmd->...tn", lagged(y, range(1, depth + 1)), w)
    torch.testing.assert_close(history_drive(y, w), direct, rtol=0, atol=1e-12)
    assert history_drive(y.float(), w).dtype == torch.float32  # computed in y's dtype


def test_the_training_elbo_without_log_factorials_is_the_exact_one():
    # The hidden spikes' −log z! cancel between q and p and the visible ones' is a constant:
    # the training objective drops them; its value is the complete −(log p(x, z) − log q(z | x)).
    gen = torch.Generator().manual_seed(1)
    x = torch.poisson(torch.full((4, 30, 3), 0.7, dtype=torch.float64), generator=gen)
    z = 1.5 * torch.rand(2, 4, 30, 2, generator=gen, dtype=torch.float64)  # relaxed counts
    rate_q = torch.rand(4, 30, 2, generator=gen, dtype=torch.float64) + 0.1
    w = 0.3 * torch.randn(5, 5, 3, generator=gen, dtype=torch.float64)
    b = torch.randn(5, generator=gen, dtype=torch.float64)
    y = torch.cat([x.expand(2, 4, 30, 3), z], dim=-1)
    exact = poisson_log_prob(z, rate_q).sum((-1, -2)) - glm_log_likelihood(y, w, b, "softplus")
    fast = POGLM()._negative_elbo(x, w, b, rate_q, z.flatten(-2))
    torch.testing.assert_close(fast, exact, rtol=1e-12, atol=1e-9)
