"""Higher-order and forward-mode derivatives of the windowed EAT sampler, and torch.func."""

import pytest
import torch
import torch.autograd.forward_ad as fwad
from conftest import assert_close_se, mean_and_se
from torch.func import grad, jacfwd, jacrev, vmap

import poissongrad as pg
from poissongrad.registry import REGISTRY

SMOOTH = [m for m in pg.METHODS if REGISTRY[m].family == "eat" and m != "eat_linear"]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("method", SMOOTH)
@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_second_derivative_of_the_second_moment_matches_the_closed_form(method, tau):
    # E z̃² = (λ∫g)² + λ∫g², so d²/dλ² E z̃² = 2(∫g)² (2 exactly for the compact indicators).
    lam, n = 4.0, 200_000
    rate = torch.full((n,), lam, dtype=torch.float64, requires_grad=True)
    z = pg.relaxed_poisson(rate, tau, method, generator=_gen(0))
    (first,) = torch.autograd.grad(z.pow(2).sum(), rate, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), rate)
    m, se = mean_and_se(second)
    integral = float(pg.relaxed_mean(method, torch.tensor(1.0, dtype=torch.float64), tau))
    assert_close_se(m, se, 2 * integral**2, f"{method} τ={tau} d²E z̃²/dλ²")


def test_the_linear_indicator_refuses_a_second_derivative_instead_of_a_wrong_number():
    rate = torch.full((10,), 4.0, dtype=torch.float64, requires_grad=True)
    z = pg.relaxed_poisson(rate, 0.3, "eat_linear", generator=_gen(1))
    (first,) = torch.autograd.grad(z.pow(2).sum(), rate, create_graph=True)
    with pytest.raises(RuntimeError, match="eat_linear: second derivatives need"):
        torch.autograd.grad(first.sum(), rate)


@pytest.mark.parametrize("method", [m for m in pg.METHODS if REGISTRY[m].family == "eat"])
def test_forward_mode_and_torch_func_agree_with_backward_on_the_same_draw(method):
    rate = torch.tensor([0.5, 3.0, 8.0, 20.0], dtype=torch.float64)

    def sample(r):
        return pg.relaxed_poisson(r, 0.2, method, generator=_gen(2), validate_args=False)

    leaf = rate.clone().requires_grad_(True)
    (backward,) = torch.autograd.grad(sample(leaf).sum(), leaf)
    with fwad.dual_level():
        tangent = fwad.unpack_dual(sample(fwad.make_dual(rate, torch.ones_like(rate)))).tangent
    torch.testing.assert_close(tangent, backward)
    torch.testing.assert_close(grad(lambda r: sample(r).sum())(rate), backward)
    torch.testing.assert_close(jacrev(sample)(rate), torch.diag(backward))
    torch.testing.assert_close(jacfwd(sample)(rate), torch.diag(backward))
    batched = vmap(sample, randomness="different")(rate.expand(3, 4))
    assert batched.shape == (3, 4) and torch.isfinite(batched).all()
