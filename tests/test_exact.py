"""Exact-gradient oracles against autograd, enumeration and Monte Carlo with exact draws."""

import pytest
import torch
from conftest import assert_close_se, mean_and_se

from poissongrad.exact import (
    difference_identity,
    enumerate_expectation,
    linear_decoder_grad_hessian,
    linear_decoder_loss,
)
from poissongrad.experiments.gradients import linear_problem


def test_linear_decoder_gradient_and_hessian_match_autograd_of_the_closed_form():
    x, phi, log_rate = linear_problem(3.0, n_latents=4, n_obs=6, batch=3, seed=0)
    grad, hess = linear_decoder_grad_hessian(x, phi, log_rate)
    for b in range(3):

        def loss(s, b=b):
            return linear_decoder_loss(x[b], phi, s.exp())

        torch.testing.assert_close(grad[b], torch.func.grad(loss)(log_rate[b]))
        torch.testing.assert_close(hess[b], torch.autograd.functional.hessian(loss, log_rate[b]))


def test_linear_decoder_loss_and_gradient_match_monte_carlo_with_exact_draws():
    x, phi, log_rate = linear_problem(2.0, n_latents=3, n_obs=5, batch=1, seed=1)
    rate = log_rate.exp()[0]
    gen = torch.Generator().manual_seed(0)
    z = torch.poisson(rate.expand(200_000, 3), generator=gen)

    def f(counts):
        return (x[0] - counts @ phi.T).pow(2).sum(-1)

    mean, se = mean_and_se(f(z))
    assert_close_se(mean, se, float(linear_decoder_loss(x[0], phi, rate)), "E loss")
    grad, _ = linear_decoder_grad_hessian(x, phi, log_rate)
    per_draw = difference_identity(f, z) * rate  # d/d log λ
    for k in range(3):
        m, s = mean_and_se(per_draw[:, k])
        assert_close_se(m, s, float(grad[0, k]), f"gradient {k}")


@pytest.mark.parametrize("lam", [0.3, 4.0, 25.0])
def test_enumeration_matches_closed_form_moments(lam):
    rate = torch.tensor([lam], dtype=torch.float64)
    mean, tail = enumerate_expectation(lambda z: z[..., 0], rate)
    second, _ = enumerate_expectation(lambda z: z[..., 0] ** 2, rate)
    assert tail < 1e-9
    assert float(mean) == pytest.approx(lam, rel=1e-8)
    assert float(second) == pytest.approx(lam + lam**2, rel=1e-8)


def test_enumeration_gradient_of_a_product_is_exact():
    rate = torch.tensor([1.5, 0.7, 3.0], dtype=torch.float64, requires_grad=True)
    value, _ = enumerate_expectation(lambda z: z.prod(-1), rate)
    (grad,) = torch.autograd.grad(value, rate)
    torch.testing.assert_close(grad, torch.tensor([0.7 * 3.0, 1.5 * 3.0, 1.5 * 0.7]).double())


def test_enumeration_rejects_too_many_latents():
    with pytest.raises(ValueError, match="1 to 3 latents"):
        enumerate_expectation(lambda z: z.sum(-1), torch.ones(4))


def test_the_difference_identity_in_batches_of_latents_equals_one_batch():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))

    def f(z):
        return net(z).squeeze(-1)

    counts = torch.poisson(torch.full((3, 7, 5), 2.0))
    whole = difference_identity(f, counts)
    in_ones = difference_identity(f, counts, max_elements=1)  # one latent per batch
    in_twos = difference_identity(f, counts, max_elements=2 * counts.numel())
    assert whole.shape == counts.shape
    torch.testing.assert_close(in_ones, whole)
    torch.testing.assert_close(in_twos, whole)
