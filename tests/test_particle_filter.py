"""The particle-filter likelihood against exact values: enumeration and decoupled hidden units."""

import itertools
import math

import pytest
import torch
from conftest import assert_close_se

from poissongrad.data.spikes import make_network, random_weights, simulate
from poissongrad.glm import GLM, glm_log_likelihood
from poissongrad.particle_filter import particle_log_likelihood


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_hidden_neurons_that_drive_nobody_leave_the_exact_visible_likelihood():
    w, b = random_weights(3, 2, 3, _gen(0))
    w[:3, 3:] = 0.0  # hidden → visible couplings removed: p(x) is the visible GLM alone
    y = simulate(w, b, 5, 40, generator=_gen(1))
    exact = glm_log_likelihood(y[..., :3], w[:3, :3], b[:3])
    estimate, _ = particle_log_likelihood(y[..., :3], GLM(w, b), n_particles=50, generator=_gen(2))
    torch.testing.assert_close(estimate, exact)


def test_a_short_sequence_matches_the_likelihood_summed_over_every_hidden_path():
    w, b = random_weights(2, 1, 2, _gen(3))
    w[:2, 2:] *= 3.0  # a strong hidden drive, so the hidden path matters
    y = simulate(w, b, 1, 4, generator=_gen(4))
    x = y[..., :2]
    # Exact p(x) = Σ over hidden counts (0..K)^T of p(x, z), K far in the Poisson tail.
    logs = []
    for path in itertools.product(range(9), repeat=4):
        z = torch.tensor(path, dtype=w.dtype).reshape(1, 4, 1)
        logs.append(glm_log_likelihood(torch.cat([x, z], -1), w, b))
    exact = float(torch.logsumexp(torch.stack(logs), 0))
    estimate, se = particle_log_likelihood(
        x, GLM(w, b), n_particles=5000, n_repeats=8, generator=_gen(5)
    )
    assert_close_se(float(estimate), float(se), exact, "particle filter log p(x)")
    assert float(se) < 0.05


def test_forty_paper_sequences_have_a_small_error_and_bad_input_is_refused():
    net = make_network("paper", seed=0)
    ll, se = particle_log_likelihood(
        net.test[..., :3].expand(2, -1, -1, -1).reshape(40, 100, 3),
        GLM(net.weights, net.bias),
        n_particles=1000,
        generator=_gen(6),
    )
    assert ll.shape == (40,) and bool((se < 0.2).all()) and bool(torch.isfinite(ll).all())
    with pytest.raises(ValueError, match="sequences, T, V"):
        particle_log_likelihood(net.test[0, :, :3], GLM(net.weights, net.bias))
    with pytest.raises(ValueError, match="n_particles must be"):
        particle_log_likelihood(net.test[..., :3], GLM(net.weights, net.bias), n_particles=0)
    assert not math.isnan(float(ll.mean()))
