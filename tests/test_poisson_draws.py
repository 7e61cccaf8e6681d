"""The CPU Poisson draws of the samplers' hot path against the Poisson pmf."""

import math

import pytest
import torch
from conftest import N_SE
from scipy import stats

from poissongrad.poisson_draws import INVERSION_MAX_MEAN, poisson_counts


@pytest.mark.parametrize("mean", [0.0, 0.05, 0.9, 4.5, 11.9, 30.0])
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


def test_one_large_mean_sends_the_whole_call_to_torch_poisson_and_stays_exact():
    mu = torch.tensor([INVERSION_MAX_MEAN + 1.0] + [0.5] * 99_999)
    counts = poisson_counts(mu, torch.Generator().manual_seed(2))
    small = counts[1:]
    assert abs(float(small.mean()) - 0.5) < N_SE * math.sqrt(0.5 / len(small))
