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


def test_the_static_path_draws_like_the_exact_one_and_compiles_on_the_gpu():
    from poissongrad.samplers.eat import eat_windowed, window_capacity
    from poissongrad.samplers.indicators import get_indicator

    indicator = get_indicator("cubic")
    rate = torch.rand(4096, device="cuda", generator=_gen(2)).mul(8).requires_grad_()
    capacity = window_capacity(8.0, 0.3, indicator, numel=4096)
    draws = [
        eat_windowed(rate, 0.3, indicator, generator=_gen(3), capacity=c) for c in (None, capacity)
    ]
    torch.testing.assert_close(draws[0], draws[1])
    # (An overflow is a device-side assert, which ends the CUDA context: tested on CPU only.)


def test_fullgraph_compile_and_cuda_graph_replay_of_the_static_path(keep_validation):
    from poissongrad.samplers.eat import window_capacity
    from poissongrad.samplers.indicators import get_indicator

    n, lam, tau = 100_000, 4.0, 0.5
    capacity = window_capacity(lam, tau, get_indicator("cubic"), numel=n)

    def draw(rate):
        return pg.relaxed_poisson(rate, tau, "eat_cubic", validate_args=False, capacity=capacity)

    rate = torch.full((n,), lam, device="cuda", requires_grad=True)
    z = torch.compile(draw, fullgraph=True)(rate)
    z.sum().backward()
    m, se = mean_and_se(z.detach().cpu())
    assert_close_se(m, se, lam, "compiled E z̃ on CUDA")
    g, g_se = mean_and_se(rate.grad.cpu())
    assert_close_se(g, g_se, 1.0, "compiled E ∂z̃/∂λ on CUDA")
    # CUDA graph: capture the forward once, replay it for fresh draws with the right mean.
    static_rate = torch.full((n,), lam, device="cuda")
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        draw(static_rate)  # warm-up outside the capture
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.no_grad(), torch.cuda.graph(graph):
        out = draw(static_rate)
    replays = []
    for _ in range(3):
        graph.replay()
        replays.append(out.clone())
    assert not torch.equal(replays[0], replays[1])  # fresh random numbers on each replay
    m, se = mean_and_se(torch.cat(replays).cpu())
    assert_close_se(m, se, lam, "CUDA-graph replay E z̃")
