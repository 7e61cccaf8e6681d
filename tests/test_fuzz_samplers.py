"""Property test of every public sampler: random shapes, dtypes, rates (NaN, ±inf, negative,
denormal, huge) and temperatures (0, numbers, tensors), each call under a time limit.

Every call either raises a clear ``ValueError`` or returns draws of the right shape that are
finite where the rate is drawable and NaN (never a count) where it is not; at drawable rates
the sample mean matches the closed form within 5 standard errors. The fast suite runs a short
form; ``-m slow`` the long one.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fast_paths import time_limit

import poissongrad as pg
from poissongrad.samplers.moments import relaxed_mean

BAD = [math.nan, math.inf, -math.inf, -1.0]
GOOD = [0.0, 1e-310, 1e-40, 0.3, 5.0, 50.0]
HUGE = [1e12, 2.0**53, 1e17]

TORCH_SAMPLERS = [
    ("eat_cubic", {"sampler": "fused"}),
    ("eat_sigmoid", {"sampler": "fused"}),
    ("eat_cubic", {"sampler": "windowed"}),
    ("eat_quintic", {"sampler": "reference"}),
    ("gsm", {"sampler": "fused"}),
    ("gsm", {"sampler": "softmax"}),
]

case = st.fixed_dictionaries(
    {
        "sampler": st.sampled_from(TORCH_SAMPLERS),
        "dtype": st.sampled_from([torch.float32, torch.float64]),
        "rates": st.lists(st.sampled_from(BAD + GOOD + HUGE), min_size=1, max_size=4),
        "temperature": st.sampled_from([0.0, 0.05, 0.3, 1.0, "tensor", -0.1, math.nan]),
        "validate": st.booleans(),
        "samples": st.sampled_from([(), (3,)]),
    }
)


def _temperature(spec, n: int, dtype):
    if spec == "tensor":
        return torch.linspace(0.1, 0.5, n, dtype=dtype)
    return spec


def _check_torch_call(c) -> None:
    (method, options), dtype = c["sampler"], c["dtype"]
    rate = torch.tensor(c["rates"], dtype=torch.float64).to(dtype)
    tau = _temperature(c["temperature"], len(c["rates"]), dtype)
    if method == "gsm":
        options = {**options, "support_size": 40}
    with time_limit(60):
        try:
            z = pg.relaxed_poisson(rate, tau, method, c["samples"],
                                   validate_args=c["validate"], **options)
        except ValueError as err:
            assert str(err) and "\n" not in str(err).strip(), err
            return
    assert z.shape == torch.Size(c["samples"]) + rate.shape and z.dtype == dtype
    drawable = torch.isfinite(rate) & (rate >= 0) & (rate <= 2.0**53)
    assert c["validate"] is False or bool(drawable.all()), "validation let a bad rate through"
    assert torch.isfinite(z[..., drawable]).all(), (c, z)
    assert torch.isnan(z[..., ~drawable]).all(), (c, z)  # never a count


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(case)
def test_every_torch_sampler_draws_or_refuses_clearly(c):
    _check_torch_call(c)


@pytest.mark.slow
@settings(max_examples=600, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(case)
def test_every_torch_sampler_draws_or_refuses_clearly_long(c):
    _check_torch_call(c)


@settings(max_examples=12, deadline=None, derandomize=True)
@given(
    sampler=st.sampled_from([s for s in TORCH_SAMPLERS if s[0] != "gsm"]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    rate=st.sampled_from([0.3, 5.0, 50.0]),
    tau=st.sampled_from([0.05, 0.3, 1.0]),
)
def test_drawable_rates_give_the_closed_form_mean(sampler, dtype, rate, tau):
    method, options = sampler
    n = 20_000
    z = pg.relaxed_poisson(torch.full((n,), rate, dtype=dtype), tau, method,
                           generator=torch.Generator().manual_seed(3), **options).double()
    expected = float(relaxed_mean(method, torch.tensor(rate, dtype=torch.float64), tau))
    se = z.std().item() / n**0.5
    assert abs(z.mean().item() - expected) <= 5 * se + 1e-12, (z.mean().item(), expected, se)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    method=st.sampled_from(["eat_cubic", "eat_sigmoid", "gsm"]),
    rates=st.lists(st.sampled_from(BAD + GOOD + [3e9]), min_size=1, max_size=4),
    capacity=st.sampled_from([None, 2, 64]),
)
def test_the_jax_backend_holds_the_same_contract(method, rates, capacity):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    from poissongrad.jax import relaxed_poisson

    rate = jnp.asarray(rates, dtype=jnp.float32)
    with time_limit(60):
        try:
            z = relaxed_poisson(jax.random.key(0), rate, 0.3, method, capacity=capacity,
                                support_size=None if capacity is None else 40)
        except ValueError as err:
            assert str(err)
            return
    drawable = jnp.isfinite(rate) & (rate >= 0) & (rate <= 2.0**30)
    assert z.shape == rate.shape
    assert bool(jnp.isnan(z[~drawable]).all()), (rates, z)  # never a count
    if capacity is None:  # the default capacity overflows with probability ≤ 1e-9
        assert bool(jnp.isfinite(z[drawable]).all())


@settings(max_examples=15, deadline=None, derandomize=True)
@given(rates=st.lists(st.sampled_from(BAD + GOOD), min_size=1, max_size=3))
def test_numpyro_validation_refuses_what_cannot_be_drawn(rates):
    numpyro = pytest.importorskip("numpyro")
    import jax.numpy as jnp

    from poissongrad.numpyro import RelaxedPoisson

    del numpyro
    rate = jnp.asarray(rates)
    drawable = all(math.isfinite(r) and r >= 0 for r in rates)
    if drawable:
        RelaxedPoisson(rate, 0.3, capacity=16, validate_args=True)
    else:
        with pytest.raises(ValueError):
            RelaxedPoisson(rate, 0.3, capacity=16, validate_args=True)
