"""CUDA paths: the samplers, distribution and estimators on a GPU (skipped without one)."""

import pytest
import torch
from conftest import assert_close_se, mean_and_se

import poissongrad as pg
from poissongrad.estimators import gradient_samples
from poissongrad.registry import REGISTRY

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator(device="cuda").manual_seed(seed)


@pytest.mark.parametrize("method", pg.METHODS)
@pytest.mark.parametrize("straight_through", [False, True])
def test_samplers_run_on_the_gpu_with_the_right_moments_and_gradients(method, straight_through):
    lam, tau, n = 5.0, 0.2, 200_000
    rate = torch.full((n,), lam, device="cuda", dtype=torch.float64, requires_grad=True)
    z = pg.relaxed_poisson(rate, tau, method, (), straight_through, _gen(0))
    assert z.device.type == "cuda" and z.dtype == torch.float64
    z.sum().backward()
    m, se = mean_and_se(z.detach().cpu())
    if straight_through:
        assert torch.equal(z, z.round())
        assert_close_se(m, se, lam, f"{method} straight-through mean")
    if REGISTRY[method].family == "eat":
        expected = float(pg.relaxed_mean(method, torch.tensor(lam), tau))
        if not straight_through:
            assert_close_se(m, se, expected, f"{method} relaxed mean")
        g, g_se = mean_and_se(rate.grad.cpu())
        assert_close_se(g, g_se, expected / lam, f"{method} mean dz̃/dλ")


def test_the_distribution_and_estimators_keep_the_device():
    rate = torch.tensor([0.5, 3.0, 20.0], device="cuda")
    d = pg.RelaxedPoisson(rate=rate, temperature=0.1, generator=_gen(1))
    assert d.rsample((4,)).device.type == "cuda" and d.sample((2,)).device.type == "cuda"
    assert d.log_prob(d.sample()).device.type == "cuda"
    per_latent = pg.relaxed_poisson(rate, torch.tensor([0.1, 0.2, 0.3]), generator=_gen(3))
    assert per_latent.device.type == "cuda"  # a CPU temperature follows the rates
    log_rate = rate.log().expand(8, 3)
    for estimator in ("eat_cubic", "gsm_st", "score_loo", "difference"):
        g = gradient_samples(lambda z: z.pow(2).sum(-1), log_rate, estimator, 4, 0.2, _gen(2))
        assert g.device.type == "cuda" and g.shape == (4, 8, 3)
        assert torch.isfinite(g).all()
