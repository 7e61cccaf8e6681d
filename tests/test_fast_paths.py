"""The fast paths hold the reference contract: no hang, no silent wrong number, clear errors.

Each test pins one failure seen on the fused kernels, the control variates or the file inputs
(issue 28); each call that could hang runs under a time limit.
"""

from __future__ import annotations

import math
import os
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

import poissongrad as pg
from poissongrad.control_variates import ControlVariate
from poissongrad.estimators import surrogate_loss
from poissongrad.samplers import fused

pytestmark = pytest.mark.skipif(not fused.AVAILABLE, reason="numba is not installed")


@contextmanager
def time_limit(seconds: int):
    """Fail instead of hanging (SIGALRM reaches numba's kernels between elements too)."""

    def stop(*_):
        raise TimeoutError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0])
def test_a_bad_mean_is_refused_by_fused_poisson(bad):
    with time_limit(30), pytest.raises(ValueError, match="mu must be finite"):
        fused.poisson(torch.tensor([3.0, bad]))


def test_a_negative_rate_cannot_hide_a_huge_one_from_the_time_bound():
    rate = torch.tensor([1e15, -1e15], dtype=torch.float64)  # validation off: they sum to 0
    with time_limit(30), pytest.raises(ValueError, match="expected arrivals"):
        pg.relaxed_poisson(rate, 0.1, "eat_cubic", validate_args=False)


@pytest.mark.parametrize("method", ["eat_cubic", "eat_sigmoid", "gsm"])
def test_a_nan_rate_without_validation_gives_nan_and_never_hangs(method):
    rate = torch.tensor([2.0, math.nan, math.inf])
    with time_limit(30):
        z = pg.RelaxedPoisson(rate=rate, temperature=0.3, method=method,
                              validate_args=False).rsample()
    assert z[0].isfinite() and z[1:].isnan().all()


@pytest.mark.parametrize("mu", [3e15, 2.0**52, 2.0**53])
def test_poisson_draws_are_right_up_to_two_to_the_53(mu):
    n = 100_000
    k = fused.poisson(torch.full((n,), mu, dtype=torch.float64), torch.Generator().manual_seed(1))
    z = (k.mean().item() - mu) / math.sqrt(mu / n)
    var_ratio = k.var().item() / mu
    assert abs(z) < 5 and abs(var_ratio - 1) < 5 * math.sqrt(2 / n), (z, var_ratio)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float32_rates_are_drawn_in_double_precision(dtype):
    """Large float32 rates once ran PTRS in single precision; now every dtype gives the same
    law: Poisson(1e6) with variance 1e6."""
    n = 100_000
    k = fused.poisson(torch.full((n,), 1e6, dtype=dtype), torch.Generator().manual_seed(2))
    assert abs(k.double().var().item() / 1e6 - 1) < 5 * math.sqrt(2 / n)


@pytest.mark.parametrize(
    ("rate", "dtype", "method", "tau"),
    [
        (1e-30, torch.float32, "eat_cubic", 0.1),
        (1e-40, torch.float32, "eat_cubic", 0.1),
        (1e-165, torch.float64, "eat_cubic", 0.1),
        (1e-165, torch.float64, "gsm", 0.1),
        (2.0, torch.float64, "gsm", 1e-300),
    ],
)
def test_tiny_rates_and_temperatures_give_finite_draws_and_gradients(rate, dtype, method, tau):
    x = torch.full((10,), rate, dtype=dtype, requires_grad=True)
    z = pg.RelaxedPoisson(rate=x, temperature=tau, method=method).rsample()
    z.sum().backward()
    assert z.isfinite().all() and x.grad.isfinite().all()
    assert torch.equal(z, z.round())  # λ → 0 gives 0 and τ → 0 the hard count


def test_a_tensor_temperature_of_another_size_is_refused_not_read_past_its_end():
    with pytest.raises(ValueError, match="does not broadcast"):
        fused.poisson_gsm(torch.full((40_000,), 3.0), torch.tensor([0.1, 0.2, 0.3]), 20,
                          False, None)


def test_a_per_rate_temperature_under_vmap_gives_finite_draws():
    """The kernel sees the whole batch (40,000 rates) and one τ per slice (10,000): it once
    read past the τ array's end (25,597 non-finite outputs)."""
    rates = torch.full((4, 10_000), 3.0)
    taus = torch.full((10_000,), 0.2)

    def draw(rate):
        return pg.relaxed_poisson(rate, taus, "gsm", support_size=20, validate_args=False)

    z = torch.func.vmap(draw, randomness="different")(rates)
    assert z.isfinite().all() and abs(z.mean().item() - 3.0) < 0.1
    checked = torch.func.vmap(lambda r: pg.relaxed_poisson(r, 0.2, "gsm", support_size=20),
                              randomness="different")
    with pytest.raises(ValueError, match="rate batched by torch.func.vmap.*validate_args"):
        checked(rates)


def test_the_fused_kernels_bound_time_in_their_own_words_not_memory():
    # 200,000 sigmoid rates at λ = 20, τ = 1 hold O(numel): once refused as "3.36e+08 values".
    z = pg.relaxed_poisson(torch.full((200_000,), 20.0), 1.0, "eat_sigmoid")
    assert z.shape == (200_000,)
    with time_limit(30), pytest.raises(ValueError, match="steps"):
        pg.relaxed_poisson(torch.full((3,), 3.0), 0.1, "gsm", support_size=10**12)


def test_a_nan_in_f_is_refused_before_it_poisons_the_control_variate():
    control = ControlVariate(temperature=0.3)
    log_rate = torch.zeros(4, 3, requires_grad=True)

    def f(z):
        return (z - 2.0).pow(2).sum(-1) * torch.tensor(math.nan)

    with pytest.raises(ValueError, match="not finite"):
        surrogate_loss(f, log_rate, "rebar_cubic", 4, 0.3, control=control)
    assert math.isfinite(control.temperature) and control.eta.isfinite()


@pytest.mark.parametrize(
    "make",
    [
        lambda tau: pg.RelaxedPoisson(rate=torch.tensor([2.0]), temperature=tau),
        lambda tau: pg.RelaxedCount(torch.zeros(1, 4), temperature=tau),
        lambda tau: pg.RelaxedCOMPoisson(torch.tensor([2.0]), torch.tensor([1.5]),
                                         temperature=tau),
        lambda tau: pg.RelaxedNegativeBinomial(torch.tensor([3.0]), logits=torch.tensor([0.1]),
                                               temperature=tau),
    ],
)
def test_a_hard_temperature_is_not_reparameterised(make):
    """τ = 0 gives hard counts without a gradient: Pyro must use the score function there."""
    assert make(0.0).has_rsample is False
    assert make(0.3).has_rsample is True


def test_relaxed_values_get_an_interpolated_log_pmf_that_tells_them_apart():
    d = pg.RelaxedCount(torch.log(torch.tensor([0.2, 0.5, 0.3])), temperature=0.3)
    lp = d.log_prob(torch.tensor([1.0, 1.4, 1.6, 2.0]))
    expected = torch.log(torch.tensor([0.5, 0.3]))
    assert lp[0] == pytest.approx(expected[0].item()) and lp[3] == pytest.approx(
        expected[1].item())
    assert lp[0] > lp[1] > lp[2] > lp[3]  # linear in between, 1.4 ≠ 1.6
    z = d.rsample((50,))
    assert d.log_prob(z).isfinite().all()  # validation on: its own samples are in the support
    com = pg.RelaxedCOMPoisson(torch.tensor([2.0]), torch.tensor([1.5]), temperature=0.3)
    assert com.log_prob(com.rsample((20,))).isfinite().all()
    assert com.log_prob(torch.tensor([1.4])) != com.log_prob(torch.tensor([1.6]))


def test_tracing_the_moments_of_a_tensor_temperature_is_refused():
    taus = torch.tensor([0.5, 2.0])

    def mean(rate):
        return pg.RelaxedPoisson(rate=rate, temperature=taus, method="eat_sigmoid").mean

    with pytest.raises(ValueError, match="cannot be traced"):
        torch.jit.trace(mean, torch.tensor([30.0, 30.0]))


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda s: s.pop("control"), "control variate"),
        (lambda s: s.update(epoch=-5), "epoch"),
        (lambda s: s.update(epoch=10**12), "epoch"),
        (lambda s: s.update(history=["low"]), "history"),
        (lambda s: s["model"].update({k: v * math.nan for k, v in s["model"].items()}),
         "finite"),
        (lambda s: s["model"].update({k: v[..., :1] for k, v in s["model"].items()}),
         "damaged"),
    ],
)
def test_a_damaged_checkpoint_is_a_one_line_error(damage, match, tmp_path):
    from poissongrad.data.images import load_digits
    from poissongrad.models.pvae import PoissonVAE

    data = load_digits()
    params = {"estimator": "rebar_cubic", "temperature": 0.3, "n_latents": 4, "epochs": 3,
              "batch_size": 512}
    ckpt = tmp_path / "run.pt"
    PoissonVAE(**params).fit(data.x_train, checkpoint=ckpt, stop_after_epoch=0)
    state = torch.load(ckpt, weights_only=True)
    damage(state)
    torch.save(state, ckpt)
    with pytest.raises(ValueError, match=match) as err:
        PoissonVAE(**params).fit(data.x_train, checkpoint=ckpt)
    assert "\n" not in str(err.value)


def test_an_unreadable_numba_cache_is_dropped_with_one_warning(tmp_path):
    """A truncated cache index once broke every draw (UnpicklingError) until deleted."""
    import shutil
    import subprocess
    import sys

    package = tmp_path / "poissongrad"
    shutil.copytree(Path(pg.__file__).parent, package,
                    ignore=shutil.ignore_patterns("__pycache__", "*.mat"))
    script = ("import torch, warnings; warnings.simplefilter('always');"
              "from poissongrad.samplers import fused;"
              "print(fused.poisson(torch.full((5,), 3.0)).sum() >= 0)")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=600, check=True)
    assert "True" in run.stdout
    for index in (package / "samplers" / "__pycache__").glob("*.nbi"):
        index.write_bytes(index.read_bytes()[:50])
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=600, check=True)
    assert "True" in run.stdout
    assert run.stderr.count("disk cache of the fused kernels could not be read") == 1


def test_jax_never_gives_a_count_or_a_finite_gradient_where_it_cannot_draw():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    from poissongrad.jax import relaxed_poisson

    key = jax.random.key(0)
    rate = jnp.array([2.0, jnp.nan, -1.0, jnp.inf, 3e9])
    for method in ("eat_cubic", "gsm"):
        z = relaxed_poisson(key, rate, 0.3, method, capacity=8, support_size=20)
        assert bool(jnp.isfinite(z[0])) and bool(jnp.isnan(z[1:]).all()), (method, z)
    # Too few slots: under jit/grad the value is NaN, and so is its gradient (once finite and
    # too small); outside them, an error naming the capacity that suffices.
    big = jnp.full((1000,), 50.0)

    def loss(r):
        return relaxed_poisson(key, r, 0.5, "eat_cubic", capacity=2).mean()

    assert bool(jnp.isnan(jax.jit(loss)(big))) and bool(jnp.isnan(jax.grad(loss)(big)).any())
    with pytest.raises(ValueError, match=r"capacity=2 window slots were too few .* = \d+"):
        loss(big)
    with pytest.raises(ValueError, match="integer counts"):
        relaxed_poisson(key, jnp.array([3e9]), 0.1)
    with pytest.raises(ValueError, match="window slots"):
        relaxed_poisson(key, jnp.ones(2000), 0.1, capacity=10**6)


def test_numpyro_with_too_small_a_capacity_names_the_capacity_not_a_later_site():
    pytest.importorskip("numpyro")
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as nd

    from poissongrad.numpyro import RelaxedPoisson

    def model():
        z = numpyro.sample("z", RelaxedPoisson(jnp.full(100, 50.0), 0.3, capacity=2))
        numpyro.sample("x", nd.Normal(z, 1.0), obs=jnp.ones(100))

    with numpyro.handlers.seed(rng_seed=0), pytest.raises(ValueError, match="capacity=2"):
        model()  # once: "Normal distribution got invalid loc parameter"
