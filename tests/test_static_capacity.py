"""The static-shape path of the windowed EAT sampler: the same draws as its exact-count path
(the tensor-operation sampler, not the fused kernel), overflow refused, compiles."""

import math

import pytest
import torch
from conftest import assert_close_se

import poissongrad as pg
from poissongrad.samplers.eat import eat_windowed, window_capacity
from poissongrad.samplers.indicators import get_indicator


@pytest.mark.parametrize("name", ["cubic", "sigmoid"])
@pytest.mark.parametrize("per_element", [False, True])
def test_fixed_slots_give_the_same_draws_and_gradients_as_the_exact_count(name, per_element):
    indicator = get_indicator(name)
    rate = (torch.rand(500, generator=torch.Generator().manual_seed(0)) * 8).requires_grad_()
    tau = torch.linspace(0.1, 0.9, 500) if per_element else 0.3
    capacity = window_capacity(rate.detach(), 0.9, indicator)
    outs = []
    for slots in (None, capacity):
        gen = torch.Generator().manual_seed(1)
        z = eat_windowed(rate, tau, indicator, generator=gen, capacity=slots, allow_fused=False)
        (grad,) = torch.autograd.grad(z.pow(2).sum(), rate)
        outs.append((z.detach(), grad))
    torch.testing.assert_close(outs[0][0], outs[1][0])
    torch.testing.assert_close(outs[0][1], outs[1][1])


def test_more_arrivals_than_slots_is_an_error_not_a_truncation():
    rate = torch.full((100,), 5.0)
    with pytest.raises(RuntimeError, match="more arrivals in the window than capacity"):
        pg.relaxed_poisson(rate, 0.5, "eat_cubic", capacity=3)
    with pytest.raises(ValueError, match="capacity must be a positive int"):
        pg.relaxed_poisson(rate, 0.5, "eat_cubic", capacity=0)
    with pytest.raises(ValueError, match="capacity applies to the windowed sampler only"):
        pg.relaxed_poisson(rate, 0.5, "eat_cubic", sampler="reference", capacity=10)


def test_fullgraph_compile_on_the_static_path_has_the_closed_form_mean_and_slope(keep_validation):
    n, lam, tau = 20_000, 4.0, 0.5
    capacity = window_capacity(lam, tau, get_indicator("cubic"), numel=n)

    def draw(rate):
        return pg.relaxed_poisson(rate, tau, "eat_cubic", validate_args=False, capacity=capacity)

    compiled = torch.compile(draw, fullgraph=True)
    torch.manual_seed(2)
    rate = torch.full((n,), lam, requires_grad=True)
    z = compiled(rate)
    z.sum().backward()
    # E z̃ = λ∫g = λ and ∂z̃/∂λ has mean ∫g = 1 for the cubic indicator (a symmetric window).
    mean, sd = float(z.detach().mean()), float(z.detach().std())
    assert_close_se(mean, sd / math.sqrt(n), lam, "compiled E z̃")
    slope = rate.grad
    assert_close_se(float(slope.mean()), float(slope.std()) / math.sqrt(n), 1.0, "E ∂z̃/∂λ")
