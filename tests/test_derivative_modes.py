"""Every derivative mode gives the exact value or a clear error, and every dtype draws exactly.

Closed forms (EAT, Campbell's theorem): E z̃ = λ∫g, so d/dλ E z̃ = ∫g; E z̃² = (λ∫g)² + λ∫g², so
d²/dλ² E z̃² = 2(∫g)². Elements are independent draws, so a derivative of a sum over elements
holds one per-element derivative per element, and their mean is checked at 5 standard errors.
GSM has no closed form: its modes are checked against reverse over reverse on the same draw.
"""

import pytest
import torch
from conftest import assert_close_se, mean_and_se, variance_and_se
from torch.func import grad, hessian, jacfwd, jacrev, jvp, vmap

import poissongrad as pg
from poissongrad.registry import REGISTRY

EAT = [m for m in pg.METHODS if REGISTRY[m].family == "eat"]
SMOOTH = [m for m in EAT if m != "eat_linear"]
LAM, TAU, N = 4.0, 0.3, 100_000


def _integral(method: str, tau: float = TAU) -> float:
    return float(pg.relaxed_mean(method, torch.tensor(1.0, dtype=torch.float64), tau))


def _draw(method: str, seed: int = 0, **options):
    def f(r: torch.Tensor) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return pg.relaxed_poisson(r, TAU, method, generator=gen, validate_args=False, **options)

    return f


def _second_moment(method: str, **options):
    draw = _draw(method, **options)
    return lambda r: draw(r).pow(2).sum()


def _rates(n: int = N) -> torch.Tensor:
    return torch.full((n,), LAM, dtype=torch.float64)


@pytest.mark.parametrize("method", EAT)
def test_first_derivative_in_reverse_forward_and_vmapped_modes_has_the_closed_form(method):
    draw = _draw(method)
    rate, ones = _rates(), torch.ones(N, dtype=torch.float64)
    expected = _integral(method)
    reverse = grad(lambda r: draw(r).sum())(rate)
    forward = jvp(draw, (rate,), (ones,))[1]
    torch.testing.assert_close(forward, reverse)  # the same draw, the same slope
    assert_close_se(*mean_and_se(reverse), expected, f"{method} dz̃/dλ")
    # vmap over 10 rows of rates: every row is its own draw ("different" randomness)
    rows = vmap(grad(lambda r: draw(r).sum()), randomness="different")(rate.view(10, -1))
    assert rows.shape == (10, N // 10)
    assert_close_se(*mean_and_se(rows.flatten()), expected, f"{method} vmapped dz̃/dλ")


@pytest.mark.parametrize("method", SMOOTH)
def test_second_derivative_in_every_mixed_mode_has_the_closed_form(method):
    f = _second_moment(method)
    rate, ones = _rates(), torch.ones(N, dtype=torch.float64)
    expected = 2 * _integral(method) ** 2
    reverse_reverse = grad(lambda r: grad(f)(r).sum())(rate)
    forward_reverse = jvp(grad(f), (rate,), (ones,))[1]
    reverse_forward = grad(lambda r: jvp(f, (r,), (ones,))[1])(rate)
    torch.testing.assert_close(forward_reverse, reverse_reverse)
    torch.testing.assert_close(reverse_forward, reverse_reverse)
    assert_close_se(*mean_and_se(reverse_reverse), expected, f"{method} d²E z̃²/dλ²")
    small = rate[:4]
    exact_diag = torch.diag(hessian(f)(small))
    torch.testing.assert_close(exact_diag, grad(lambda r: grad(f)(r).sum())(small))
    torch.testing.assert_close(jacrev(jacfwd(f))(small), hessian(f)(small))


@pytest.mark.parametrize("method", [*EAT, "gsm"])
def test_forward_over_forward_and_third_derivatives_raise_instead_of_a_wrong_number(method):
    options = {"support_size": 30} if method == "gsm" else {}
    f = _second_moment(method, **options)
    rate = _rates(4)
    with pytest.raises(RuntimeError, match="forward-over-forward"):
        jacfwd(jacfwd(f, randomness="same"), randomness="same")(rate)
    if method in SMOOTH:
        third = grad(lambda r: grad(lambda s: grad(f)(s).sum())(r).sum())
        with pytest.raises(RuntimeError, match="third and higher"):
            third(rate)


def test_the_linear_indicator_refuses_second_derivatives_in_every_mode():
    f = _second_moment("eat_linear")
    rate, ones = _rates(4), torch.ones(4, dtype=torch.float64)
    for second in (
        lambda: grad(lambda r: grad(f)(r).sum())(rate),
        lambda: hessian(f)(rate),
        lambda: jvp(grad(f), (rate,), (ones,)),
        lambda: grad(lambda r: jvp(f, (r,), (ones,))[1])(rate),
    ):
        with pytest.raises(RuntimeError, match="second derivatives need"):
            second()


def test_gsm_modes_agree_with_reverse_over_reverse_on_the_same_draw():
    f = _second_moment("gsm", support_size=30)
    rate = torch.tensor([0.5, 3.0, 8.0, 12.0], dtype=torch.float64)
    ones = torch.ones_like(rate)
    reference = grad(lambda r: grad(f)(r).sum())(rate)
    torch.testing.assert_close(jvp(grad(f), (rate,), (ones,))[1], reference)
    torch.testing.assert_close(grad(lambda r: jvp(f, (r,), (ones,))[1])(rate), reference)
    torch.testing.assert_close(torch.diag(hessian(f)(rate)), reference)
    draw = _draw("gsm", support_size=30)
    torch.testing.assert_close(jacfwd(draw)(rate), jacrev(draw)(rate))
    with pytest.raises(ValueError, match="pass a fixed support_size"):
        vmap(_draw("gsm"), randomness="different")(rate.expand(2, 4))


def _moments_ok(z: torch.Tensor, mean: float, var: float, what: str) -> None:
    assert_close_se(*mean_and_se(z.flatten()), mean, f"{what} mean")
    assert_close_se(*variance_and_se(z.flatten()), var, f"{what} variance")


DTYPES = [torch.float64, torch.float32, torch.bfloat16, torch.float16]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", EAT)
def test_eat_moments_are_exact_in_every_dtype(method, dtype):
    lam, tau, n = 20.0, 0.5, 100_000
    rate = torch.full((n,), lam, dtype=dtype)
    z = pg.relaxed_poisson(rate, tau, method, generator=torch.Generator().manual_seed(3))
    assert z.dtype == dtype
    one = torch.tensor(lam, dtype=torch.float64)
    mean = float(pg.relaxed_mean(method, one, tau))
    var = float(pg.relaxed_variance(method, one, tau))
    _moments_ok(z, mean, var, f"{method} {dtype}")


@pytest.mark.parametrize("dtype", DTYPES[1:])
def test_gsm_moments_in_low_precision_match_float64(dtype):
    lam, tau, n = 20.0, 0.5, 100_000

    def draw(d: torch.dtype, seed: int) -> torch.Tensor:
        rate = torch.full((n,), lam, dtype=d)
        return pg.relaxed_poisson(rate, tau, "gsm", generator=torch.Generator().manual_seed(seed))

    low, ref = draw(dtype, 4), draw(torch.float64, 5)
    assert low.dtype == dtype
    (m1, s1), (m2, s2) = mean_and_se(low), mean_and_se(ref)
    assert_close_se(m1, (s1**2 + s2**2) ** 0.5, m2, f"gsm {dtype} mean")
    (v1, t1), (v2, t2) = variance_and_se(low), variance_and_se(ref)
    assert_close_se(v1, (t1**2 + t2**2) ** 0.5, v2, f"gsm {dtype} variance")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_negative_binomial_draws_in_half_precision(dtype):
    r, p, n = 3.0, 0.6, 100_000
    d = pg.RelaxedNegativeBinomial(
        torch.full((n,), r, dtype=dtype),
        probs=torch.tensor(p, dtype=dtype),
        temperature=0.2,
        generator=torch.Generator().manual_seed(6),
    )
    z = d.rsample()
    assert z.dtype == dtype
    # probs itself is rounded to the dtype: the closed form is taken at the rounded value
    p = float(torch.tensor(p, dtype=dtype))
    mean = r * p / (1 - p)
    var = float(
        pg.RelaxedNegativeBinomial(
            torch.tensor(r, dtype=torch.float64),
            probs=torch.tensor(p, dtype=torch.float64),
            temperature=0.2,
        ).variance
    )
    _moments_ok(z, mean, var, f"NB {dtype}")


def test_half_precision_samples_are_never_negative_nor_overflow_silently():
    z = pg.relaxed_poisson(
        torch.tensor([1.0, 1074.0], dtype=torch.float16), 3.0, "eat_sigmoid", sample_shape=(200,)
    )
    assert bool((z >= 0).all()) and bool(torch.isfinite(z).all())
    assert float(z[:, 1].float().mean()) > 1000  # λ·window (1074·61) no longer overflows
    with pytest.raises(ValueError, match="beyond the largest torch.float16"):
        pg.relaxed_poisson(torch.tensor([65000.0], dtype=torch.float16), 0.1)
