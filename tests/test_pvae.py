"""Poisson VAE: closed forms, training with every method, checkpoints, offline data."""

import socket

import numpy as np
import pytest
import torch
from conftest import assert_close_se, mean_and_se
from torch.distributions import Poisson, kl_divergence

from poissongrad.data.images import load_dataset, load_digits, load_patches
from poissongrad.experiments.pvae import VAEConfig, evaluate, schedule, train
from poissongrad.models.pvae import PoissonVAE


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access in a test")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_closed_form_kl_matches_torch_poisson_kl():
    torch.manual_seed(0)
    model = PoissonVAE(10, 6)
    x = torch.randn(5, 10)
    log_mod = model.log_modulation(x)
    prior = model.prior_log_rate.exp()
    expected = kl_divergence(Poisson(prior * log_mod.exp()), Poisson(prior.expand(5, 6)))
    torch.testing.assert_close(model.kl(log_mod), expected)


def test_exact_linear_decoder_loss_matches_monte_carlo():
    torch.manual_seed(1)
    model = PoissonVAE(12, 5).double()
    x = torch.randn(1, 12, dtype=torch.float64)
    _, exact, _ = model.loss(x, "exact")
    rate = model.posterior_log_rate(x).exp()
    z = torch.poisson(rate.expand(100_000, 1, 5), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        mean, se = mean_and_se(model.reconstruction_loss(x, z)[:, 0])
    assert_close_se(mean, se, float(exact.detach()), "E recon")


def test_log_modulation_is_soft_clamped_above():
    model = PoissonVAE(3, 2, max_log_modulation=2.0)
    with torch.no_grad():
        model.encoder.bias.fill_(100.0)
    assert float(model.log_modulation(torch.zeros(1, 3)).detach().max()) <= 2.0


def test_schedule_anneals_over_the_first_half_then_holds():
    config = VAEConfig(temperature=0.05, beta=2.0)
    assert schedule(config, 0, 100) == (1.0, 0.0)
    assert schedule(config, 50, 100) == pytest.approx((0.05, 2.0))
    assert schedule(config, 90, 100) == pytest.approx((0.05, 2.0))
    tau, _ = schedule(VAEConfig(temperature=0.01, anneal="exponential"), 25, 100)
    assert tau == pytest.approx(0.1)


FAST = {"n_latents": 16, "epochs": 3, "batch_size": 256, "eval_samples": 2}


@pytest.mark.parametrize(
    "estimator",
    ["eat_cubic", "eat_sigmoid", "gsm", "eat_cubic_st", "gsm_st", "score_loo", "exact"],
)
def test_short_training_lowers_held_out_negative_elbo(estimator, digits):
    n_samples = 4 if estimator.startswith("score") else 1
    config = VAEConfig(estimator, 0.1, n_samples=n_samples, **FAST)
    untrained, _ = train(
        VAEConfig(estimator, 0.1, n_samples=n_samples, **{**FAST, "epochs": 0}), digits
    )
    trained, history = train(config, digits)
    before = evaluate(untrained, digits, 2)["neg_elbo"]
    after = evaluate(trained, digits, 2)["neg_elbo"]
    assert after < 0.9 * before, (before, after)
    assert len(history) == 3


def test_straight_through_training_and_hard_evaluation_see_integer_latents(digits):
    model = PoissonVAE(64, 8)
    seen = []
    model.decoder.register_forward_hook(lambda mod, args, out: seen.append(args[0].detach()))
    x = torch.from_numpy(digits.x_train[:32])
    model.loss(x, "eat_cubic_st", temperature=0.5)
    evaluate(model, digits, 1)
    assert len(seen) == 2 and all(torch.equal(z, z.round()) for z in seen)
    model.loss(x, "eat_cubic", temperature=0.5)
    assert not torch.equal(seen[-1], seen[-1].round())


def test_interrupted_run_resumes_to_the_same_parameters(digits, tmp_path):
    config = VAEConfig("eat_cubic", 0.1, **{**FAST, "epochs": 4})
    ckpt = tmp_path / "run.pt"
    train(config, digits, checkpoint=ckpt, stop_after_epoch=1)
    resumed, history = train(config, digits, checkpoint=ckpt)
    straight, straight_history = train(config, digits)
    assert history == pytest.approx(straight_history)
    for a, b in zip(resumed.state_dict().values(), straight.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)


def test_a_checkpoint_of_another_config_is_refused(digits, tmp_path):
    ckpt = tmp_path / "run.pt"
    train(VAEConfig("eat_cubic", 0.1, **{**FAST, "epochs": 1}), digits, checkpoint=ckpt)
    with pytest.raises(ValueError, match="another configuration"):
        train(VAEConfig("gsm", 0.1, **{**FAST, "epochs": 1}), digits, checkpoint=ckpt)


def test_digits_loader_shapes_ranges_and_split(no_network):
    d = load_digits()
    assert d.x_train.shape == (1438, 64) and d.x_val.shape == (359, 64)
    assert d.x_train.min() == 0 and d.x_train.max() == 16 and d.counts
    assert np.array_equal(d.x_train, np.round(d.x_train))
    assert set(np.unique(d.y_train)) == set(range(10))
    again = load_digits()
    assert np.array_equal(again.x_val, d.x_val)  # deterministic split


def test_patch_loader_is_whitened_deterministic_and_cached(no_network, tmp_path, monkeypatch):
    monkeypatch.setenv("POISSONGRAD_CACHE", str(tmp_path))
    p = load_patches(n=3000)
    assert p.x_train.shape == (2700, 256) and p.x_val.shape == (300, 256)
    assert p.y_train is None and not p.counts
    assert p.x_train.std() == pytest.approx(1.0, rel=1e-5)
    cov = np.cov(p.x_train, rowvar=False)
    # Whitening flattens the spectrum: the covariance is far closer to diagonal than raw pixels.
    off = np.abs(cov - np.diag(np.diag(cov))).mean() / np.abs(np.diag(cov)).mean()
    assert off < 0.05
    assert len(list(tmp_path.glob("*.npz"))) == 1
    np.testing.assert_array_equal(load_patches(n=3000).x_val, p.x_val)


def test_unknown_dataset_and_bad_config_are_value_errors():
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="unknown estimator"):
        VAEConfig("vimco")
    with pytest.raises(ValueError, match="needs a linear decoder"):
        PoissonVAE(4, 2, decoder="mlp").loss(torch.zeros(1, 4), "exact")
