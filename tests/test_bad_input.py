"""Bad or extreme input gets a clear error, never a silent wrong number (issue 17's cases)."""

import pytest
import torch

import poissongrad as pg
from poissongrad.estimators import gradient_samples, surrogate_loss


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: pg.RelaxedPoisson(log_rate=torch.tensor(80.0), temperature=0.1), "log_rate"),
        (lambda: pg.relaxed_poisson(torch.tensor([1e12]), 0.1, "gsm"), "too large"),
        # The fused EAT kernel holds O(1) per rate: its bound is on time, in its own words.
        (lambda: pg.relaxed_poisson(torch.tensor([1e10]), 0.1, "eat_cubic"), "steps"),
        (lambda: pg.relaxed_poisson(torch.tensor([1e9]), 0.1, "eat_sigmoid"), "steps"),
        (lambda: pg.relaxed_poisson(torch.tensor([1e17]), 0.1), "2\\*\\*53"),
        (
            lambda: pg.relaxed_poisson(torch.ones(2), 0.1, sampler="reference", n_exp=10**9),
            "too large",
        ),
        (lambda: pg.relaxed_poisson(torch.ones(1), "0.1"), "number"),
        (lambda: pg.relaxed_poisson(torch.ones(1), True), "number"),
        (
            lambda: pg.relaxed_poisson(torch.ones(2), torch.tensor([0.1, 0.2], requires_grad=True)),
            "requires grad",
        ),
        (lambda: pg.relaxed_poisson(torch.ones(1), 0.1, capacity=2.5), "capacity"),
        (lambda: pg.relaxed_poisson(torch.ones(1), 0.1, capacity=True), "capacity"),
        (lambda: pg.relaxed_poisson(torch.ones(1), 0.1, sampler="reference", n_exp="x"), "n_exp"),
        (lambda: pg.relaxed_poisson(torch.ones(1), 0.1, "gsm", tail_mass=2), "tail_mass"),
        (lambda: pg.relaxed_poisson(torch.ones(1), 0.1, "gsm", tail_mass="1e-6"), "tail_mass"),
        (lambda: pg.RelaxedCount(torch.zeros(3, 0)), "K ≥ 1"),
        (lambda: pg.RelaxedCount(torch.zeros(3, 4)).log_prob(torch.zeros(2)), "broadcast"),
        (
            lambda: pg.RelaxedCOMPoisson(torch.tensor([2e5]), torch.tensor(1.0)).rsample(),
            "cannot be tabulated",
        ),
        (lambda: pg.RelaxedCOMPoisson(torch.ones(1), torch.ones(1), tail_mass=0), "tail_mass"),
        (lambda: pg.RelaxedCOMPoisson(torch.ones(1), torch.ones(1), support_size=2.0), "support"),
        (
            lambda: pg.RelaxedCOMPoisson(torch.tensor([3.0]), torch.tensor(1e-3)).mean_exact,
            "cannot be tabulated",
        ),
    ],
)
def test_refused_with_a_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_negative_binomial_with_total_count_zero_is_the_point_mass_at_zero():
    r = torch.tensor([0.0, 2.0])
    for method in ("gsm", "eat_cubic"):
        d = pg.RelaxedNegativeBinomial(r, probs=torch.tensor([0.5, 0.5]), method=method)
        z = d.rsample((50,))
        assert bool(torch.isfinite(z).all()) and bool((z[:, 0] == 0).all())
    lp = d.log_prob(torch.tensor([[0.0, 1.0], [1.0, 1.0]]))
    assert (
        float(lp[0, 0]) == 0.0 and lp[1, 0] == -torch.inf and bool(torch.isfinite(lp[:, 1]).all())
    )


@pytest.mark.parametrize("estimator", ["score", "score_loo", "difference"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 50.0])
def test_score_estimators_validate_the_log_rate(estimator, bad):
    log_rate = torch.tensor([0.0, bad], dtype=torch.float64)
    with pytest.raises(ValueError, match="log_rate"):
        surrogate_loss(lambda z: z.sum(-1), log_rate, estimator, n_samples=2)


def test_estimators_refuse_options_they_do_not_take():
    log_rate = torch.zeros(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="takes no sampler options"):
        gradient_samples(lambda z: z.sum(-1), log_rate, "score_loo", 2, support_size=5)
    with pytest.raises(ValueError, match="unknown"):
        gradient_samples(lambda z: z.sum(-1), log_rate, "gsm", 2, 0.1, n_exp=5)


def test_gsm_compiles_with_fullgraph_at_a_fixed_support(keep_validation):
    import torch._inductor.config as inductor_config

    def draw(rate: torch.Tensor) -> torch.Tensor:  # compiled code runs the softmax sampler
        return pg.relaxed_poisson(
            rate, 0.3, "gsm", support_size=30, validate_args=False, sampler="softmax"
        )

    rate = torch.tensor([0.5, 3.0, 8.0], requires_grad=True)
    compiled = torch.compile(draw, fullgraph=True)
    results = []
    with inductor_config.patch(fallback_random=True):  # eager's random stream
        for fn in (compiled, draw):
            torch.manual_seed(0)
            z = fn(rate)
            results.append((z, torch.autograd.grad(z.sum(), rate)[0]))
    torch.testing.assert_close(results[0], results[1])
