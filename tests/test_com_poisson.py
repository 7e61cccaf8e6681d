"""RelaxedCOMPoisson: the exact law, truncation error, GSM moments at 5 SE, EAT refused."""

import math

import pytest
import torch
from conftest import assert_close_se, mean_and_se, variance_and_se
from scipy import stats

import poissongrad as pg
from poissongrad.com_poisson import com_poisson_log_pmf, com_poisson_support_size

N = 100_000


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_nu_one_is_the_poisson_law():
    rate = torch.tensor([0.7, 12.0], dtype=torch.float64)
    table = com_poisson_log_pmf(rate, torch.ones(2, dtype=torch.float64), 40)
    k = torch.arange(40, dtype=torch.float64)
    expected = torch.tensor(stats.poisson.logpmf(k.numpy()[None], rate.numpy()[:, None]))
    torch.testing.assert_close(table, expected)


@pytest.mark.parametrize("nu", [0.5, 2.0])
def test_the_auto_support_leaves_out_less_than_the_tail_mass(nu):
    rate = torch.tensor([3.0, 30.0], dtype=torch.float64)
    nu_t = torch.full((2,), nu, dtype=torch.float64)
    size = com_poisson_support_size(rate, nu_t, 1e-6)
    kept = com_poisson_log_pmf(rate, nu_t, size).exp().sum(-1)
    assert bool((1 - kept <= 1e-6).all()) and bool((1 - kept >= -1e-12).all())
    shorter = com_poisson_log_pmf(rate, nu_t, size - 1).exp().sum(-1)
    assert bool((1 - shorter > 1e-6).any())  # K is the smallest that does it


@pytest.mark.parametrize("nu", [0.6, 1.0, 2.5])
def test_straight_through_gsm_forwards_exact_counts_of_the_law(nu):
    d = pg.RelaxedCOMPoisson(
        torch.full((N,), 4.0, dtype=torch.float64),
        torch.full((N,), nu, dtype=torch.float64),
        temperature=0.2,
        straight_through=True,
        generator=_gen(0),
    )
    z = d.rsample()
    assert torch.equal(z, z.round())
    m, se = mean_and_se(z)
    v, v_se = variance_and_se(z)
    assert_close_se(m, se, float(d.mean_exact[0]), f"ν={nu} mean")
    assert_close_se(v, v_se, float(d.variance_exact[0]), f"ν={nu} variance")
    # Under-dispersed for ν > 1, over-dispersed for ν < 1.
    ratio = float(d.variance_exact[0] / d.mean_exact[0])
    assert (
        (ratio < 1) if nu > 1 else (ratio > 1) if nu < 1 else math.isclose(ratio, 1, rel_tol=1e-9)
    )


def test_gradients_reach_rate_and_nu_and_eat_is_refused_with_the_reason():
    rate = torch.tensor([2.0, 9.0], requires_grad=True)
    nu = torch.tensor([0.8, 1.5], requires_grad=True)
    pg.RelaxedCOMPoisson(rate, nu, temperature=0.3, generator=_gen(1)).rsample(
        (1000,)
    ).sum().backward()
    # d/dν of the mean is negative (larger ν concentrates the law), so the summed gradient is too.
    assert bool((nu.grad < 0).all()) and bool((rate.grad > 0).all())
    with pytest.raises(ValueError, match="EAT simulates the arrivals of a Poisson process"):
        pg.RelaxedCOMPoisson(2.0, 0.5, method="eat_cubic")
    d = pg.RelaxedCOMPoisson(torch.tensor([2.0]), torch.tensor([0.5]), temperature=0.1)
    torch.testing.assert_close(
        d.log_prob(torch.tensor([3.0])), com_poisson_log_pmf(d.rate, d.nu, 4)[..., 3]
    )
    with pytest.raises(ValueError, match="finite values >= 0"):
        d.log_prob(torch.tensor([-1.5]))
    between = d.log_prob(torch.tensor([1.5]))  # a relaxed value: interpolated, not floored
    assert d.log_prob(torch.tensor([2.0])) < between < d.log_prob(torch.tensor([1.0])) or (
        d.log_prob(torch.tensor([1.0])) < between < d.log_prob(torch.tensor([2.0]))
    )


def test_soft_gsm_at_small_temperature_has_the_law_s_moments():
    d = pg.RelaxedCOMPoisson(
        torch.full((N,), 3.0, dtype=torch.float64),
        torch.full((N,), 1.5, dtype=torch.float64),
        temperature=0.02,
        generator=_gen(2),
    )
    z = d.rsample()
    m, se = mean_and_se(z)
    v, v_se = variance_and_se(z)
    assert_close_se(m, se, float(d.mean_exact[0]), "soft GSM mean at τ = 0.02")
    assert_close_se(v, v_se, float(d.variance_exact[0]), "soft GSM variance at τ = 0.02")


def test_any_count_law_from_its_logits():
    # A zero-inflated Poisson, which neither EAT nor the named laws cover.
    k = torch.arange(30, dtype=torch.float64)
    pmf = 0.7 * torch.tensor(stats.poisson.pmf(k.numpy(), 4.0))
    pmf[0] += 0.3
    d = pg.RelaxedCount(
        pmf.log().expand(N, 30), temperature=0.3, straight_through=True, generator=_gen(3)
    )
    z = d.rsample()
    assert torch.equal(z, z.round())
    m, se = mean_and_se(z)
    v, v_se = variance_and_se(z)
    assert_close_se(m, se, float(d.mean[0]), "zero-inflated mean")
    assert_close_se(v, v_se, float(d.variance[0]), "zero-inflated variance")
    assert float(d.mean[0]) == pytest.approx(0.7 * 4.0)
    torch.testing.assert_close(d.log_prob(torch.zeros(N)), pmf[0].log().expand(N))
    with pytest.raises(ValueError, match="expects values in"):
        pg.RelaxedCount(pmf.log(), validate_args=True).log_prob(torch.tensor(31.0))
