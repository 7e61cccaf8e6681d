"""Fidelity and gradient-quality metrics on hand-made inputs and exact draws."""

import math

import numpy as np
import pytest
import torch
from conftest import assert_close_se, mean_and_se
from scipy import stats

import poissongrad as pg
from poissongrad.experiments.grids import PAPER_RATES, PAPER_TAUS
from poissongrad.metrics import (
    discretised_kl,
    gradient_quality,
    moment_ratios,
    wasserstein_to_poisson,
)
from poissongrad.metrics.gradients import GradientMoments


def test_w1_of_a_point_mass_is_the_mean_absolute_deviation():
    lam = 3.0
    k = np.arange(60)
    expected = float((stats.poisson.pmf(k, lam) * np.abs(k - 3)).sum())
    assert wasserstein_to_poisson(np.full(7, 3.0), lam) == pytest.approx(expected, rel=1e-9)
    expected2 = float((stats.poisson.pmf(k, lam) * (k - 3.0) ** 2).sum()) ** 0.5
    assert wasserstein_to_poisson(np.full(7, 3.0), lam, p=2) == pytest.approx(expected2)


def test_w1_of_a_shift_by_one_is_one():
    # Exact quantiles shifted by one: the sample at the Poisson quantiles i/n, plus 1.
    lam, n = 4.0, 100_000
    x = stats.poisson.ppf((np.arange(n) + 0.5) / n, lam) + 1
    # Each Poisson CDF jump splits one quantile cell of width 1/n: error ≤ (number of jumps)/n.
    assert wasserstein_to_poisson(x, lam) == pytest.approx(1.0, abs=30 / n)


def test_w1_of_exact_draws_shrinks_with_sample_size():
    rng = np.random.default_rng(0)
    w = [
        np.mean([wasserstein_to_poisson(rng.poisson(5.0, n), 5.0) for _ in range(5)])
        for n in (100, 1_000, 10_000, 100_000)
    ]
    assert all(a > b for a, b in zip(w, w[1:], strict=False)) and w[-1] < 0.02


def test_moment_ratios_and_kl_on_hand_made_samples():
    assert moment_ratios(np.array([1.0, 3.0]), 2.0) == (1.0, 1.0)
    rng = np.random.default_rng(1)
    exact = rng.poisson(6.0, 200_000)
    assert discretised_kl(exact, 6.0) < 1e-3
    assert discretised_kl(exact + 2, 6.0) > 0.2
    with pytest.raises(ValueError, match="finite"):
        moment_ratios(np.array([1.0, np.nan]), 1.0)


def test_gradient_quality_on_hand_made_samples():
    exact = torch.tensor([[3.0, 4.0]])  # ‖g*‖ = 5
    samples = torch.tensor([[[3.0, 5.0]], [[3.0, 7.0]]])  # mean (3, 6): bias (0, 2)
    hessian = torch.eye(2).unsqueeze(0)
    q = gradient_quality(samples, exact, hessian)
    assert q["rel_bias_naive"] == pytest.approx(2 / 5)
    assert q["rel_var"] == pytest.approx(2 / 25)  # unbiased variance of (5, 7) is 2
    assert q["snr"] == pytest.approx(math.hypot(3, 6) / math.sqrt(2))
    assert q["cosine"] == pytest.approx((9 + 24) / (5 * math.hypot(3, 6)))
    cos_a, cos_b = (9 + 20) / (5 * math.hypot(3, 5)), (9 + 28) / (5 * math.hypot(3, 7))
    assert q["sample_cosine"] == pytest.approx((cos_a + cos_b) / 2)
    assert q["bias_energy"] == pytest.approx(4 / 25)
    assert q["noise_energy"] == pytest.approx(2 / 25)
    assert q["rel_bias_mc"] == pytest.approx(math.sqrt((4 - 2 / 2) / 25))
    assert q["rel_bias"] == q["rel_bias_mc"] and q["rel_bias_se"] == q["rel_bias_mc_se"] > 0
    closed = gradient_quality(samples, exact, hessian, expected=torch.tensor([[3.0, 5.0]]))
    assert closed["rel_bias"] == pytest.approx(1 / 5) and closed["rel_bias_se"] == 0.0


def test_streamed_chunks_give_the_same_metrics_as_one_batch():
    gen = torch.Generator().manual_seed(0)
    exact = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    samples = exact + 0.3 + torch.randn(500, 4, 3, generator=gen, dtype=torch.float64)
    whole = gradient_quality(samples, exact)
    moments = GradientMoments()
    for chunk in samples.split(100):
        moments.update(chunk, exact)
    assert moments.quality(exact) == pytest.approx(whole)


def test_the_bias_standard_error_covers_the_truth():
    # Bias 0.3 per coordinate on unit-variance noise: the estimate lands within 5 standard errors.
    gen = torch.Generator().manual_seed(1)
    exact = torch.ones(50, 4, dtype=torch.float64)
    samples = exact + 0.3 + torch.randn(400, 50, 4, generator=gen, dtype=torch.float64)
    q = gradient_quality(samples, exact)
    truth = 0.3  # ‖b‖/‖g*‖ = 0.3·2 / 2
    assert abs(q["rel_bias_mc"] - truth) < 5 * q["rel_bias_mc_se"]
    assert q["rel_bias_mc_se"] < 0.02


def test_gradient_quality_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="expected samples"):
        gradient_quality(torch.zeros(3, 2, 2), torch.zeros(2, 3))


def test_eat_cubic_mean_ratio_is_one_at_every_paper_grid_point():
    n = 4000
    for lam in PAPER_RATES:
        for tau in PAPER_TAUS + (1.0,):
            gen = torch.Generator().manual_seed(int(lam * 1000 + tau * 100))
            z = pg.relaxed_poisson(torch.full((n,), float(lam)), tau, generator=gen)
            m, se = mean_and_se(z / lam)
            assert_close_se(m, se, 1.0, f"mean ratio at λ={lam}, τ={tau}")
