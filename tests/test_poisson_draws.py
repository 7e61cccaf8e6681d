"""The CPU Poisson draws of the samplers' hot path against the Poisson pmf."""

import math

import pytest
import torch
from conftest import N_SE
from scipy import stats

from poissongrad.samplers.fused import INVERSION_MEAN as INVERSION_MAX_MEAN
from poissongrad.samplers.poisson_draws import poisson_counts


@pytest.mark.parametrize("mean", [0.0, 0.05, 0.9, 4.5, 9.99, 11.9, 30.0, 150.0])
def test_every_count_has_its_poisson_probability(mean):
    n = 200_000
    mu = torch.full((n,), mean)
    mu[::2] = mean / 2  # a mix of means in one call (both halves checked)
    counts = poisson_counts(mu, torch.Generator().manual_seed(1))
    assert counts.dtype == mu.dtype and bool((counts == counts.round()).all())
    for m, part in ((mean, counts[1::2]), (mean / 2, counts[::2])):
        top = int(stats.poisson.ppf(1 - 1e-6, m)) + 1
        freq = torch.bincount(part.long(), minlength=top + 1)[: top + 1].double() / len(part)
        pmf = torch.as_tensor(stats.poisson.pmf(range(top + 1), m))
        se = (pmf * (1 - pmf) / len(part)).sqrt()
        assert bool(((freq - pmf).abs() <= N_SE * se + 1e-12).all()), (m, freq, pmf)


def test_means_above_the_inversion_range_are_drawn_exactly_beside_small_ones():
    n = 100_000
    mu = torch.full((n,), 0.5)
    mu[::2] = INVERSION_MAX_MEAN + 8.0
    counts = poisson_counts(mu, torch.Generator().manual_seed(2))
    for m, part in ((0.5, counts[1::2]), (INVERSION_MAX_MEAN + 8.0, counts[::2])):
        # SEs of the sample mean and variance of Poisson(m): √(m/n) and √((m + 2m²)/n).
        assert abs(float(part.mean()) - m) < N_SE * math.sqrt(m / len(part))
        assert abs(float(part.var()) - m) < N_SE * math.sqrt((m + 2 * m * m) / len(part))
