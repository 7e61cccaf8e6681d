"""The fused CPU kernels against the tensor-operation samplers they replace by default.

Equality in law: two-sample Kolmogorov–Smirnov tests (fixed seeds, p > 1e-4: a 1-in-10⁴ false
alarm per test) on z̃ and on ∂z̃/∂λ, closed-form moments at 5 standard errors, and for GSM the
saved derivatives against finite differences of the same draw (the noise is counter-based, so
a seed reproduces it at another rate)."""

from __future__ import annotations

import multiprocessing

import numba
import pytest
import torch
from conftest import assert_close_se, mean_and_se
from scipy import stats

import poissongrad as pg
from poissongrad.samplers import fused, poisson_draws
from poissongrad.samplers.indicators import INDICATORS, get_indicator

N = 40_000


def _draws(method, sampler, lam, tau, seed, straight=False):
    rate = torch.full((N,), lam, dtype=torch.float64, requires_grad=True)
    gen = torch.Generator().manual_seed(seed)
    options = {"sampler": sampler}
    if method == "gsm":
        options["support_size"] = 40
    z = pg.relaxed_poisson(rate, tau, method, straight_through=straight, generator=gen, **options)
    (slope,) = torch.autograd.grad(z.sum(), rate)
    return z.detach().numpy(), slope.numpy()


@pytest.mark.parametrize("name", sorted(INDICATORS))
@pytest.mark.parametrize(("lam", "tau"), [(0.8, 0.3), (6.0, 0.1), (25.0, 0.5)])
def test_fused_eat_has_the_law_of_the_windowed_sampler(name, lam, tau):
    z_f, s_f = _draws(f"eat_{name}", "fused", lam, tau, 1)
    z_w, s_w = _draws(f"eat_{name}", "windowed", lam, tau, 2)
    assert stats.ks_2samp(z_f, z_w).pvalue > 1e-4
    assert stats.ks_2samp(s_f, s_w).pvalue > 1e-4
    ind = get_indicator(name)
    mean, se = mean_and_se(torch.from_numpy(z_f))
    assert_close_se(mean, se, lam * ind.integral(tau), f"fused eat_{name} mean")
    slope, slope_se = mean_and_se(torch.from_numpy(s_f))
    assert_close_se(slope, slope_se, ind.integral(tau), f"fused eat_{name} E ∂z̃/∂λ")


def test_fused_straight_through_forwards_hard_counts_of_the_poisson_law():
    z, slope = _draws("eat_cubic", "fused", 4.0, 0.3, 3, straight=True)
    assert (z == z.round()).all()
    freq = torch.bincount(torch.from_numpy(z).long(), minlength=30)[:30].double() / N
    pmf = torch.as_tensor(stats.poisson.pmf(range(30), 4.0))
    assert bool(((freq - pmf).abs() <= 5 * (pmf * (1 - pmf) / N).sqrt() + 1e-12).all())
    assert_close_se(*mean_and_se(torch.from_numpy(slope)), 1.0, "straight-through slope")


def test_fused_second_derivative_is_that_of_the_windowed_sampler():
    # E ∂²z̃/∂λ² = 0 (E z̃ = λ∫g is linear in λ); the spread matches the windowed sampler's.
    curvatures = []
    for sampler, seed in (("fused", 4), ("windowed", 5)):
        rate = torch.full((N,), 5.0, dtype=torch.float64, requires_grad=True)
        gen = torch.Generator().manual_seed(seed)
        z = pg.relaxed_poisson(rate, 0.2, "eat_cubic", generator=gen, sampler=sampler)
        (g,) = torch.autograd.grad(z.sum(), rate, create_graph=True)
        (h,) = torch.autograd.grad(g.sum(), rate)
        curvatures.append(h.numpy())
    assert_close_se(*mean_and_se(torch.from_numpy(curvatures[0])), 0.0, "E ∂²z̃/∂λ²")
    assert stats.ks_2samp(*curvatures).pvalue > 1e-4


@pytest.mark.parametrize(("lam", "tau"), [(0.5, 0.5), (4.0, 0.1), (30.0, 0.3)])
def test_fused_gsm_has_the_law_of_the_softmax_sampler(lam, tau):
    z_f, s_f = _draws("gsm", "fused", lam, tau, 6)
    z_s, s_s = _draws("gsm", "softmax", lam, tau, 7)
    assert stats.ks_2samp(z_f, z_s).pvalue > 1e-4
    # The softmax sampler sets weights below e^-87 of the largest to 0 (slopes of ~1e-38 read
    # 0 there, tiny positives here): compare the slopes above 1e-12.
    assert stats.ks_2samp(s_f * (s_f > 1e-12), s_s * (s_s > 1e-12)).pvalue > 1e-4


def test_fused_gsm_derivatives_are_those_of_the_same_draw():
    rate = torch.tensor([0.7, 3.0, 12.0, 40.0], dtype=torch.float64)
    h = 1e-5 * rate

    def draw(r):
        return fused.poisson_gsm(r, 0.4, 80, False, torch.Generator().manual_seed(8))

    z, slope, curvature = draw(rate)
    up, down = draw(rate + h), draw(rate - h)
    torch.testing.assert_close(slope, (up[0] - down[0]) / (2 * h), rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(curvature, (up[1] - down[1]) / (2 * h), rtol=1e-5, atol=1e-8)
    hard = fused.poisson_gsm(rate, 0.4, 80, True, torch.Generator().manual_seed(8))[0]
    assert (hard == hard.round()).all() and ((hard - z).abs() < 40).all()


def test_fused_gsm_third_derivatives_are_refused_and_softmax_keeps_them():
    rate = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)
    z = pg.relaxed_poisson(rate, 0.3, "gsm", support_size=20)
    (g,) = torch.autograd.grad(z.sum(), rate, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), rate, create_graph=True)
    with pytest.raises(RuntimeError, match="third and higher"):
        torch.autograd.grad(h.sum(), rate)
    z = pg.relaxed_poisson(rate, 0.3, "gsm", support_size=20, sampler="softmax")
    (g,) = torch.autograd.grad(z.sum(), rate, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), rate, create_graph=True)
    (third,) = torch.autograd.grad(h.sum(), rate)
    assert torch.isfinite(third).all()


def test_draws_do_not_depend_on_the_thread_count_and_a_seed_reproduces_them():
    rate = torch.rand(5000, dtype=torch.float64) * 30
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            gen = torch.Generator().manual_seed(9)
            results.append(
                (
                    fused.poisson(rate, gen),
                    fused.eat(rate, 0.3, get_indicator("cubic"), False, gen),
                    fused.poisson_gsm(rate, 0.3, 60, False, gen),
                )
            )
    finally:
        torch.set_num_threads(before)
    a, b = results
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)
    for x, y in zip(a[1] + a[2], b[1] + b[2], strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def _draw_in_child(queue) -> None:
    queue.put(float(fused.poisson(torch.full((1000,), 2.0)).mean()))


def test_a_process_forked_after_a_draw_can_draw():
    fused.poisson(torch.full((1000,), 2.0))
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_draw_in_child, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0 and abs(queue.get(timeout=5) - 2.0) < 0.3
    assert numba.threading_layer() == "workqueue"


def test_without_numba_the_torch_samplers_run(monkeypatch):
    monkeypatch.setattr(fused, "AVAILABLE", False)
    assert not poisson_draws.fused_usable(torch.ones(3))
    rate = torch.full((1000,), 3.0, requires_grad=True)
    z = pg.relaxed_poisson(rate, 0.2, "eat_cubic")
    z.sum().backward()
    assert z.shape == (1000,) and torch.isfinite(rate.grad).all()
    with pytest.raises(ValueError, match="sampler='fused' runs on CPU tensors"):
        pg.relaxed_poisson(rate, 0.2, "eat_cubic", sampler="fused")


def test_bad_sampler_options_are_refused():
    rate = torch.ones(3)
    with pytest.raises(ValueError, match="sampler for 'gsm' must be one of"):
        pg.relaxed_poisson(rate, 0.2, "gsm", sampler="windowed")
    with pytest.raises(ValueError, match="sampler for 'eat_cubic' must be one of"):
        pg.relaxed_poisson(rate, 0.2, "eat_cubic", sampler="softmax")
    with pytest.raises(ValueError, match="takes no capacity"):
        pg.relaxed_poisson(rate, 0.2, "eat_cubic", sampler="fused", capacity=10)
