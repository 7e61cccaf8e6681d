"""The identifiability check: exact posterior draws, Louis' identity and the block shares."""

import itertools
import math

import pytest
import torch
from conftest import N_SE, assert_close_se

from poissongrad.data.spikes import make_network, random_weights, simulate
from poissongrad.glm import GLM, glm_log_likelihood
from poissongrad.metrics.identifiability import (
    gibbs_hidden,
    identifiability,
    louis_information,
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _tiny_model():
    """1 visible + 1 hidden neuron, D = 1, 3 bins, sigmoid link (counts 0..K enumerable)."""
    w, b = random_weights(1, 1, 1, _gen(0))
    w[0, 1] = 2.0  # a strong hidden → visible coupling
    b = torch.logit(torch.tensor([0.4, 0.5], dtype=torch.float64))
    x = torch.tensor([[[1.0], [0.0], [1.0]]], dtype=torch.float64)
    return x, w, b


K = 6  # largest hidden count considered, in the enumeration and the sampler alike


def _paths():
    return torch.tensor(list(itertools.product(range(K + 1), repeat=3)), dtype=torch.float64)


def _log_joint(x, w, b):
    """log p(x, z) for every hidden path z ∈ {0..K}³: (paths,)."""
    z = _paths().unsqueeze(-1)  # (P, 3, 1)
    return glm_log_likelihood(torch.cat([x.expand(len(z), -1, -1), z], -1), w, b, "sigmoid")


def test_gibbs_draws_have_the_exact_posterior_means():
    x, w, b = _tiny_model()
    posterior = torch.softmax(_log_joint(x, w, b), 0)
    exact = posterior @ _paths()  # E[z_t | x], (3,)
    draws = gibbs_hidden(x, GLM(w, b, "sigmoid"), 4000, 50, _gen(1), max_count=K)[:, 0, :, 0]
    # Standard errors by batch means (20 batches of 200 sweeps absorb the autocorrelation).
    batches = draws.reshape(20, 200, 3).mean(1)
    se = batches.std(0) / math.sqrt(20)
    for t in range(3):
        assert_close_se(float(draws[:, t].mean()), float(se[t]), float(exact[t]), f"E z_{t}")


def test_louis_identity_gives_the_hessian_of_the_exact_log_likelihood():
    x, w, b = _tiny_model()

    def exact_log_lik(theta):
        return torch.logsumexp(_log_joint(x, theta[:4].reshape(2, 2, 1), theta[4:]), 0)

    theta = torch.cat([w.reshape(-1), b])
    hessian = torch.autograd.functional.hessian(exact_log_lik, theta)
    order = torch.tensor([0, 1, 4, 2, 3, 5])  # Louis' order: per target n, W[n, m, d] then b_n
    exact = -hessian[order][:, order]
    # I.i.d. draws from the exact (enumerated) posterior: Louis' estimate is unbiased up to
    # the (n − 1)/n of the covariance; its error is measured over 10 batches.
    probs = torch.softmax(_log_joint(x, w, b), 0)
    picks = torch.multinomial(probs, 20_000, replacement=True, generator=_gen(2))
    hidden = _paths()[picks].reshape(20_000, 1, 3, 1)
    direction = torch.tensor([0.3, 1.0, -0.5, 0.2, 0.8, 0.4], dtype=torch.float64)
    per_batch = torch.stack(
        [
            direction @ louis_information(x, part, GLM(w, b, "sigmoid"))[1] @ direction
            for part in hidden.chunk(10)
        ]
    )
    estimate = float(direction @ louis_information(x, hidden, GLM(w, b, "sigmoid"))[1] @ direction)
    se = float(per_batch.std() / math.sqrt(10))
    assert_close_se(estimate, se, float(direction @ exact @ direction), "observed information")


def test_complete_information_with_nothing_hidden_is_the_glm_fisher_information():
    w, b = random_weights(2, 0, 2, _gen(3))
    y = simulate(w, b, 4, 50, generator=_gen(4))

    def log_lik(theta):
        return glm_log_likelihood(y, theta[:8].reshape(2, 2, 2), theta[8:]).sum()

    theta = torch.cat([w.reshape(-1), b])
    exact = -torch.autograd.functional.hessian(log_lik, theta)
    order = torch.tensor([0, 1, 2, 3, 8, 4, 5, 6, 7, 9])
    none = torch.zeros(2, 4, 50, 0, dtype=torch.float64)
    complete, observed = louis_information(y, none, GLM(w, b))
    torch.testing.assert_close(complete, exact[order][:, order])
    torch.testing.assert_close(observed, complete)  # no missing information
    assert identifiability(y, GLM(w, b))["vv"].share == 1.0


def test_the_check_separates_the_paper_setting_from_the_identifiable_one():
    shares = {}
    for setting in ("paper", "identifiable"):
        net = make_network(setting, seed=0)
        check = identifiability(
            net.train[:20, :, : net.n_visible],
            GLM(net.weights, net.bias),
            n_samples=48,
            burn_in=24,
            generator=_gen(5),
        )
        shares[setting] = check
        assert check["vv"].trusted
    paper, ident = shares["paper"], shares["identifiable"]
    for block in ("vh", "hv", "hh"):
        assert not paper[block].trusted
        assert paper[block].share + N_SE * paper[block].se < 0.5
    assert ident["vh"].trusted and ident["hv"].trusted
    assert ident["vh"].share > paper["vh"].share + N_SE * (ident["vh"].se + paper["vh"].se)


def test_bad_sample_counts_are_refused():
    net = make_network("paper", seed=0)
    with pytest.raises(ValueError, match="n_samples must be >= 2·n_batches"):
        identifiability(net.train[:2, :, :3], GLM(net.weights, net.bias), n_samples=4)
