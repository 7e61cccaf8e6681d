"""RelaxedNegativeBinomial: moments of every relaxation at 5 SE, gradients, torch's conventions."""

import pytest
import torch
from conftest import assert_close_se, mean_and_se, variance_and_se
from torch.distributions import NegativeBinomial

import poissongrad as pg
from poissongrad.registry import REGISTRY

EAT = [m for m in pg.METHODS if REGISTRY[m].family == "eat"]
N = 100_000


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _law(**kwargs) -> pg.RelaxedNegativeBinomial:
    r = torch.tensor(3.0, dtype=torch.float64)
    p = torch.tensor(0.6, dtype=torch.float64)
    return pg.RelaxedNegativeBinomial(r, probs=p, generator=_gen(0), **kwargs).expand((N,))


@pytest.mark.parametrize("method", EAT)
@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_eat_relaxations_have_the_closed_form_mixture_moments(method, tau):
    d = _law(temperature=tau, method=method)
    z = d.rsample()
    m, se = mean_and_se(z)
    v, v_se = variance_and_se(z)
    assert_close_se(m, se, float(d.mean[0]), f"{method} τ={tau} mean")
    assert_close_se(v, v_se, float(d.variance[0]), f"{method} τ={tau} variance")


def test_eat_cubic_keeps_the_mean_and_adds_the_gamma_variance():
    d = _law(temperature=0.35, method="eat_cubic")
    exact = NegativeBinomial(torch.tensor(3.0), probs=torch.tensor(0.6))
    mean = float(exact.mean)  # r p/(1 − p) = 4.5
    assert float(d.mean[0]) == pytest.approx(mean)
    gamma_var = 3.0 * 0.6**2 / 0.4**2
    assert float(d.variance[0]) == pytest.approx(mean * (1 - 9 * 0.35 / 35) + gamma_var)


@pytest.mark.parametrize(
    "method, variant",
    [("eat_cubic", "pmf"), ("eat_sigmoid", "pmf"), ("gsm", "pmf"), ("gsm", "mixture")],
)
def test_straight_through_forwards_exact_negative_binomial_counts(method, variant):
    z = _law(temperature=0.3, method=method, straight_through=True, gsm_variant=variant).rsample()
    assert torch.equal(z, z.round())
    m, se = mean_and_se(z)
    v, v_se = variance_and_se(z)
    assert_close_se(m, se, 4.5, f"{method}/{variant} straight-through mean")
    assert_close_se(v, v_se, 4.5 / 0.4, f"{method}/{variant} straight-through variance")


@pytest.mark.parametrize("variant", ["pmf", "mixture"])
def test_gsm_at_small_temperature_approaches_the_law(variant):
    z = _law(temperature=0.02, method="gsm", gsm_variant=variant).rsample()
    m, se = mean_and_se(z)
    # Soft weights leave O(e^{-1/τ}) mass off the argmax: negligible at τ = 0.02 (5 SE).
    assert_close_se(m, se, 4.5, f"gsm/{variant} mean at small τ")


def test_pathwise_gradients_through_the_gamma_rate_are_unbiased():
    # d/dr E z̃ = p/(1 − p)·∫g for EAT (∫g = 1 for cubic): per-draw gradients average to 1.5.
    r = torch.full((N,), 3.0, dtype=torch.float64, requires_grad=True)
    d = pg.RelaxedNegativeBinomial(
        r, probs=torch.tensor(0.6, dtype=torch.float64), temperature=0.2, generator=_gen(1)
    )
    d.rsample().sum().backward()
    m, se = mean_and_se(r.grad)
    assert_close_se(m, se, 0.6 / 0.4, "d E z̃ / d total_count")


def test_conventions_match_torch_and_bad_input_is_a_value_error():
    r, logits = torch.tensor([2.0, 7.0]), torch.tensor([-0.5, 1.0])
    d = pg.RelaxedNegativeBinomial(r, logits=logits, temperature=0.1, straight_through=True)
    ref = NegativeBinomial(r, logits=logits)
    torch.testing.assert_close(d.mean, ref.mean)
    torch.testing.assert_close(d.variance, ref.variance)
    k = torch.tensor([[0.0, 3.0], [5.0, 11.0]])
    torch.testing.assert_close(d.log_prob(k), ref.log_prob(k))
    assert d.sample((4,)).shape == (4, 2) and d.expand((3, 2)).batch_shape == (3, 2)
    with pytest.raises(ValueError):
        pg.RelaxedNegativeBinomial(torch.tensor([-1.0]), probs=torch.tensor([0.5]))
    with pytest.raises(ValueError, match="gsm_variant"):
        pg.RelaxedNegativeBinomial(2.0, probs=0.5, gsm_variant="tail")
    with pytest.raises(ValueError, match="not broadcastable"):
        d.log_prob(torch.ones(3))
    with pytest.raises(NotImplementedError):
        _ = pg.RelaxedNegativeBinomial(2.0, probs=0.5, method="gsm").mean
