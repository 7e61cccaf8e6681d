"""A temperature per element (a tensor that broadcasts with the rates), for every relaxation."""

import pytest
import torch
from conftest import assert_close_se, mean_and_se, variance_and_se

import poissongrad as pg
from poissongrad.registry import REGISTRY

EAT = [m for m in pg.METHODS if REGISTRY[m].family == "eat"]
TAU = torch.tensor([0.05, 0.3, 0.9], dtype=torch.float64)
N, LAM = 60_000, 5.0


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("method", EAT)
def test_each_column_has_the_moments_and_mean_gradient_of_its_own_temperature(method):
    rate = torch.full((N, 3), LAM, dtype=torch.float64, requires_grad=True)
    z = pg.relaxed_poisson(rate, TAU, method, generator=_gen(0))
    z.sum().backward()
    lam = torch.full((3,), LAM, dtype=torch.float64)
    means = pg.relaxed_mean(method, lam, TAU)
    variances = pg.relaxed_variance(method, lam, TAU)
    for j in range(3):
        m, se = mean_and_se(z[:, j].detach())
        v, v_se = variance_and_se(z[:, j].detach())
        g, g_se = mean_and_se(rate.grad[:, j])
        what = f"{method} τ={float(TAU[j])}"
        assert_close_se(m, se, float(means[j]), f"{what} mean")
        assert_close_se(v, v_se, float(variances[j]), f"{what} variance")
        assert_close_se(g, g_se, float(means[j]) / LAM, f"{what} mean dz̃/dλ")


def test_gsm_with_equal_tensor_temperatures_draws_exactly_what_a_float_draws():
    rate = torch.full((1000, 3), LAM)
    a = pg.relaxed_poisson(rate, torch.full((3,), 0.2), "gsm", generator=_gen(1))
    b = pg.relaxed_poisson(rate, 0.2, "gsm", generator=_gen(1))
    torch.testing.assert_close(a, b)


def test_the_distribution_broadcasts_a_temperature_per_latent():
    d = pg.RelaxedPoisson(rate=torch.ones(4, 1), temperature=torch.tensor([0.1, 0.2, 0.3]))
    assert d.batch_shape == (4, 3) and d.rsample((2,)).shape == (2, 4, 3)
    torch.testing.assert_close(d.mean, torch.ones(4, 3))  # EAT-cubic: exact for τ ≤ 1
    assert d.expand((2, 4, 3)).temperature.shape == (2, 4, 3)


def test_bad_tensor_temperatures_are_value_errors():
    rate = torch.ones(5, 3)
    with pytest.raises(ValueError, match="finite and > 0 everywhere"):
        pg.relaxed_poisson(rate, torch.tensor([0.1, 0.0, 0.2]))
    with pytest.raises(ValueError, match="does not broadcast"):
        pg.relaxed_poisson(rate, torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="floating dtype"):
        pg.relaxed_poisson(rate, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="does not broadcast"):
        pg.RelaxedPoisson(rate=torch.ones(3), temperature=torch.tensor([0.1, 0.2]))
