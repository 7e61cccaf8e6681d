"""Poisson VAE: closed forms, training with every method, checkpoints, offline data."""

import socket

import numpy as np
import pytest
import torch
from conftest import assert_close_se, mean_and_se
from torch.distributions import Poisson, kl_divergence

from poissongrad.data.images import load_dataset, load_digits, load_patches
from poissongrad.experiments.pvae import VAEConfig, model_of
from poissongrad.experiments.pvae import run as run_vae
from poissongrad.experiments.registry import EXPERIMENTS
from poissongrad.models.base import NotFittedError
from poissongrad.models.pvae import PoissonVAE, PoissonVAENet


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
    model = PoissonVAENet(10, 6)
    x = torch.randn(5, 10)
    log_mod = model.log_modulation(x)
    prior = model.prior_log_rate.exp()
    expected = kl_divergence(Poisson(prior * log_mod.exp()), Poisson(prior.expand(5, 6)))
    torch.testing.assert_close(model.kl(log_mod), expected)


def test_exact_linear_decoder_loss_matches_monte_carlo():
    torch.manual_seed(1)
    model = PoissonVAENet(12, 5).double()
    x = torch.randn(1, 12, dtype=torch.float64)
    _, exact, _ = model.loss(x, "exact")
    rate = model.posterior_log_rate(x).exp()
    z = torch.poisson(rate.expand(100_000, 1, 5), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        mean, se = mean_and_se(model.reconstruction_loss(x, z)[:, 0])
    assert_close_se(mean, se, float(exact.detach()), "E recon")


def test_log_modulation_is_soft_clamped_above():
    model = PoissonVAENet(3, 2, max_log_modulation=2.0)
    with torch.no_grad():
        model.encoder.bias.fill_(100.0)
    assert float(model.log_modulation(torch.zeros(1, 3)).detach().max()) <= 2.0


def test_schedule_anneals_over_the_first_half_then_holds():
    model = PoissonVAE(temperature=0.05, beta=2.0)
    assert model.schedule(0, 100) == (1.0, 0.0)
    assert model.schedule(50, 100) == pytest.approx((0.05, 2.0))
    assert model.schedule(90, 100) == pytest.approx((0.05, 2.0))
    tau, _ = PoissonVAE(temperature=0.01, anneal="exponential").schedule(25, 100)
    assert tau == pytest.approx(0.1)


FAST = {"n_latents": 16, "epochs": 3, "batch_size": 256}


@pytest.mark.parametrize(
    "estimator",
    [
        "eat_cubic",
        "eat_sigmoid",
        "gsm",
        "eat_cubic_st",
        "gsm_st",
        "score_loo",
        "exact",
        "rebar_cubic",
        "relax_cubic",
        "stein",
    ],
)
def test_short_training_lowers_held_out_negative_elbo(estimator, digits):
    n_samples = {"score_loo": 4, "stein": 2}.get(estimator, 1)
    temperature = 0.0 if estimator in ("score_loo", "exact", "stein") else 0.1
    params = {"estimator": estimator, "temperature": temperature, "n_samples": n_samples, **FAST}
    untrained = PoissonVAE(**{**params, "epochs": 0}).fit(digits.x_train)
    trained = PoissonVAE(**params).fit(digits.x_train)
    before = untrained.neg_elbo(digits.x_val, n_samples=2)
    after = trained.neg_elbo(digits.x_val, n_samples=2)
    assert after < 0.9 * before, (before, after)
    assert len(trained.loss_curve_) == 3 and trained.loss_curve_[-1] < trained.loss_curve_[0]
    assert trained.transform(digits.x_val).shape == (len(digits.x_val), 16)


def test_straight_through_training_and_hard_evaluation_see_integer_latents(digits):
    model = PoissonVAE(n_latents=8, epochs=0).fit(digits.x_train)
    net = model.module_
    seen = []
    net.decoder.register_forward_hook(lambda mod, args, out: seen.append(args[0].detach()))
    x = torch.from_numpy(digits.x_train[:32])
    net.loss(x, "eat_cubic_st", temperature=0.5)
    model.evaluate(digits.x_val, n_samples=1)
    assert len(seen) == 2 and all(torch.equal(z, z.round()) for z in seen)
    net.loss(x, "eat_cubic", temperature=0.5)
    assert not torch.equal(seen[-1], seen[-1].round())


def test_the_training_objective_checked_once_equals_the_loss(digits):
    """fit builds the estimator once (``surrogate``) and passes each step's annealed τ."""
    net = PoissonVAE(n_latents=8, epochs=0).fit(digits.x_train).module_
    x = torch.from_numpy(digits.x_train[:32])
    surrogate = net.surrogate("eat_cubic", 0.1)
    once = net.objective(x, surrogate, 0.3, torch.Generator().manual_seed(1), temperature=0.5)
    each = net.loss(x, "eat_cubic", 0.5, beta=0.3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(once, each, rtol=0, atol=0)
    assert net.surrogate("exact") is None
    with pytest.raises(ValueError, match="temperature must be finite and > 0"):
        net.objective(x, surrogate, temperature=0.0)


@pytest.mark.parametrize("estimator", ["eat_cubic", "rebar_cubic"])
def test_interrupted_run_resumes_to_the_same_parameters(estimator, digits, tmp_path):
    params = {"estimator": estimator, "temperature": 0.1, **{**FAST, "epochs": 4}}
    ckpt = tmp_path / "run.pt"
    PoissonVAE(**params).fit(digits.x_train, checkpoint=ckpt, stop_after_epoch=1)
    resumed = PoissonVAE(**params).fit(digits.x_train, checkpoint=ckpt)
    straight = PoissonVAE(**params).fit(digits.x_train)
    assert resumed.loss_curve_ == pytest.approx(straight.loss_curve_)
    pairs = zip(
        resumed.module_.state_dict().values(), straight.module_.state_dict().values(), strict=True
    )
    for a, b in pairs:
        torch.testing.assert_close(a, b)
    if estimator == "rebar_cubic":  # the learned control variate resumes too
        assert resumed.control_.temperature == pytest.approx(straight.control_.temperature)
        assert resumed.control_.temperature != pytest.approx(0.1)


def test_a_checkpoint_of_another_config_is_refused(digits, tmp_path):
    ckpt = tmp_path / "run.pt"
    PoissonVAE(**{**FAST, "epochs": 1}).fit(digits.x_train, checkpoint=ckpt)
    with pytest.raises(ValueError, match="another configuration"):
        PoissonVAE(**{**FAST, "epochs": 1, "estimator": "gsm"}).fit(digits.x_train, checkpoint=ckpt)


def test_the_model_follows_scikit_learn_habits(digits):
    from sklearn.base import clone

    model = PoissonVAE(n_latents=8, estimator="gsm", temperature=0.3, epochs=1)
    assert repr(model) == "PoissonVAE(n_latents=8, estimator='gsm', temperature=0.3, epochs=1)"
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model
    assert model.set_params(lr=0.01) is model and model.lr == 0.01
    with pytest.raises(ValueError, match="no parameter 'learning_rate'"):
        model.set_params(learning_rate=0.1)
    with pytest.raises(NotFittedError, match="not fitted"):
        model.transform(digits.x_val)
    assert model.fit(digits.x_train) is model and not hasattr(copy, "module_")


def test_bad_model_input_is_a_clear_value_error(digits):
    x = digits.x_train[:8]  # parameters are checked by fit, before the data
    with pytest.raises(ValueError, match="needs a temperature > 0"):
        PoissonVAE(estimator="eat_cubic", temperature=0.0).fit(x)
    with pytest.raises(ValueError, match="needs n_samples >= 2"):
        PoissonVAE(estimator="score_loo", n_samples=1).fit(x)
    with pytest.raises(ValueError, match="unknown estimator 'vimco'"):
        PoissonVAE(estimator="vimco").fit(x)
    with pytest.raises(ValueError, match="needs a linear decoder"):
        PoissonVAE(estimator="exact", decoder="mlp").fit(x)
    with pytest.raises(ValueError, match="Negative values"):  # Poisson observations: counts
        PoissonVAE(observation="poisson", epochs=0).fit(np.full((4, 3), -0.5))
    with pytest.raises(ValueError, match=r"\(samples, features\)"):
        PoissonVAE(epochs=0).fit(np.zeros(10))
    model = PoissonVAE(n_latents=4, epochs=0).fit(digits.x_train)
    with pytest.raises(ValueError, match="X has 63 features, but PoissonVAE is expecting 64"):
        model.score(digits.x_val[:, :63])


def test_the_experiment_maps_a_config_to_one_schema_row():
    config = VAEConfig("eat_cubic", 0.3, n_latents=8, epochs=1, batch_size=512, eval_samples=1)
    assert model_of(config).get_params()["temperature"] == 0.3
    (row,) = EXPERIMENTS["vae"].check_rows(run_vae(config))
    assert row["uses_temperature"] is True and row["estimator"] == "eat_cubic"
    assert 0 <= row["knn_accuracy"] <= 1 and row["neg_elbo"] > 0


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
        PoissonVAENet(4, 2, decoder="mlp").loss(torch.zeros(1, 4), "exact")
