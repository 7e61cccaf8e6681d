"""Binomial and beta-binomial laws through RelaxedCount: closed-form moments, exact draws, and
relaxed gradients of the mean in the law's parameters."""

import pytest
import torch
from conftest import assert_close_se, mean_and_se, variance_and_se

from poissongrad import RelaxedCount

N = 40_000


def _binomial_moments(n, p):
    return n * p, n * p * (1 - p)


def _beta_binomial_moments(n, a, b):
    s = a + b
    return n * a / s, n * a * b * (s + n) / (s * s * (s + 1))


LAWS = {
    "binomial": (
        lambda n, t, tau=0.1, **kw: RelaxedCount.binomial(n, t[0], tau, **kw),
        (torch.tensor(0.3, dtype=torch.float64),),
        _binomial_moments,
    ),
    "beta_binomial": (
        lambda n, t, tau=0.1, **kw: RelaxedCount.beta_binomial(n, t[0], t[1], tau, **kw),
        (torch.tensor(2.0, dtype=torch.float64), torch.tensor(3.0, dtype=torch.float64)),
        _beta_binomial_moments,
    ),
}


@pytest.mark.parametrize("law", LAWS)
def test_moments_are_the_closed_forms_and_exact_draws_match_them(law):
    make, params, moments = LAWS[law]
    mean, var = moments(12, *(float(p) for p in params))
    d = make(12, params, straight_through=True, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(d.mean, torch.tensor(mean, dtype=torch.float64))
    torch.testing.assert_close(d.variance, torch.tensor(var, dtype=torch.float64))
    z = d.rsample((N,))  # straight-through: exact Gumbel-max draws forward
    assert bool((z == z.round()).all()) and float(z.max()) <= 12
    assert_close_se(*mean_and_se(z), mean, f"{law} mean")
    assert_close_se(*variance_and_se(z), var, f"{law} variance")


@pytest.mark.parametrize("law", LAWS)
def test_the_relaxed_mean_moves_with_the_parameters_as_the_law_does(law):
    make, params, moments = LAWS[law]
    leaves = [p.clone().requires_grad_(True) for p in params]
    z = make(12, leaves, 0.05, generator=torch.Generator().manual_seed(1)).rsample((N,))
    estimate = torch.autograd.grad(z.mean(), leaves)
    per_sample = [
        torch.autograd.grad(v, leaves, retain_graph=True)[0]
        for v in make(12, leaves, 0.05, generator=torch.Generator().manual_seed(2)).rsample((200,))
    ]
    se = float(torch.stack(per_sample).std() / N**0.5)
    exact = torch.autograd.grad(torch.as_tensor(moments(12, *leaves)[0]), leaves)
    # τ = 0.05: the relaxation's bias in the gradient is a few percent; 5 SE plus 5 % of it
    for got, want in zip(estimate, exact, strict=True):
        assert abs(float(got) - float(want)) <= 5 * se + 0.05 * abs(float(want))


def test_counts_above_n_never_occur_and_edge_probabilities_give_finite_gradients():
    n = torch.tensor([0.0, 3.0, 10.0])
    p = torch.tensor([0.5, 0.0, 1.0], requires_grad=True)
    z = RelaxedCount.binomial(n, p, 0.2, generator=torch.Generator().manual_seed(3)).rsample((500,))
    assert bool((z <= n + 1e-4).all())
    (grad,) = torch.autograd.grad(z.sum(), p)
    assert bool(torch.isfinite(grad).all())


def test_bad_parameters_are_value_errors():
    with pytest.raises(ValueError, match="whole numbers"):
        RelaxedCount.binomial(2.5, torch.tensor(0.5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        RelaxedCount.binomial(3, torch.tensor(1.5))
    with pytest.raises(ValueError, match="> 0"):
        RelaxedCount.beta_binomial(3, torch.tensor(0.0), torch.tensor(1.0))


@pytest.mark.slow
def test_the_compartment_example_fits_beta_where_a_grid_search_finds_it():
    import runpy
    from pathlib import Path

    example = Path(__file__).parent.parent / "examples" / "compartment_model.py"
    fitted, best = runpy.run_path(str(example))["main"]()
    assert abs(fitted - best) <= 0.04  # two steps of the grid (0.02 apart)
