"""The models under scikit-learn's own tools, with NumPy's and pandas' inputs, and their
clear errors (issue 17, item 16): checkpoints that cannot run code, divergence named."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from poissongrad.models import POGLM, PoissonVAE
from poissongrad.models.base import TrainingDivergedError
from poissongrad.models.count_vae import CountVAE

FAST = {"n_latents": 4, "epochs": 2, "batch_size": 50}


def _x(n: int = 120, d: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))  # float64, NumPy's default


def test_the_vae_fits_float64_arrays_and_data_frames_alike():
    x = _x()
    a = PoissonVAE(**FAST).fit(x)
    b = PoissonVAE(**FAST).fit(pd.DataFrame(x))
    assert a.loss_curve_ == b.loss_curve_
    assert a.transform(pd.DataFrame(x)).shape == (120, 4)


def test_cross_validation_grid_search_and_pipelines_work_and_pick_the_better_model():
    x = _x(150)
    scores = cross_val_score(PoissonVAE(**FAST), x, cv=3)
    assert scores.shape == (3,) and np.isfinite(scores).all()
    search = GridSearchCV(PoissonVAE(**FAST), {"epochs": [0, 6]}, cv=2).fit(x)
    # score is the ELBO (higher is better), so training beats no training
    assert search.best_params_ == {"epochs": 6}
    pipe = make_pipeline(FunctionTransformer(lambda a: a * 2.0), PoissonVAE(**FAST)).fit(x)
    assert np.isfinite(pipe.score(x))
    counts = np.random.default_rng(1).poisson(2.0, size=(60, 6))
    assert cross_val_score(CountVAE(n_latents=2, epochs=1), counts, cv=2).shape == (2,)
    # an unsupervised step before a classifier: the labels reach fit and are ignored
    from sklearn.linear_model import LogisticRegression

    labels = (x[:, 0] > 0).astype(int)
    pipe = make_pipeline(PoissonVAE(**FAST), LogisticRegression()).fit(x, labels)
    assert 0.0 <= pipe.score(x, labels) <= 1.0
    vae = PoissonVAE(**FAST)
    assert vae.fit_transform(x).shape == (150, 4) and vae.n_features_in_ == x.shape[1]


def test_numpy_integer_hyper_parameters_are_accepted():
    model = PoissonVAE(n_latents=np.int64(4), epochs=np.int64(1), batch_size=np.int32(50))
    assert model.fit(_x()).transform(_x()).shape == (120, 4)
    POGLM(n_hidden=np.int64(1), history=np.int64(2), epochs=np.int64(1))


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: PoissonVAE(hidden=0), "hidden"),
        (lambda: PoissonVAE(clip=0), "clip"),
        (lambda: PoissonVAE(lr=-1.0), "lr"),
        (lambda: PoissonVAE(beta=float("nan")), "beta"),
        (lambda: PoissonVAE(n_latents=True), "n_latents"),
        (lambda: POGLM(l2=-0.1), "l2"),
        (lambda: POGLM(lr=0), "lr"),
        (lambda: CountVAE(hidden=0), "hidden"),
        (lambda: CountVAE(n_samples=np.int64(0), estimator="score_loo"), "n_samples"),
    ],
)
def test_bad_hyper_parameters_are_value_errors(make, match):
    model = make()  # stored as given (clone and set_params never fail), checked by fit
    counts = np.ones((2, 20, 3)) if isinstance(model, POGLM) else np.ones((8, 3))
    with pytest.raises(ValueError, match=match):
        model.fit(counts)


def test_poglm_warns_of_non_integer_counts_and_refuses_an_empty_training_split():
    counts = np.random.default_rng(0).poisson(1.0, size=(5, 40, 3)).astype(float)
    with pytest.warns(UserWarning, match="not whole numbers"):
        POGLM(epochs=1).fit(counts + 0.5)
    with pytest.raises(ValueError, match="holds out all"):
        POGLM(epochs=1, validation_fraction=0.99).fit(counts)
    with pytest.raises(ValueError, match="y is not used"):
        POGLM(epochs=1).fit(counts, counts)


def test_held_out_data_passed_positionally_is_refused_not_ignored():
    with pytest.raises(ValueError, match="X_val="):
        PoissonVAE(**FAST).fit(_x(), _x(20))


def test_evaluate_on_one_item_is_refused_instead_of_minus_infinity():
    model = PoissonVAE(**FAST).fit(_x())
    with pytest.raises(ValueError, match="at least 2 items"):
        model.evaluate(_x(1))


def test_a_diverging_fit_says_so():
    x = _x() * 1e30  # finite, but the first step's loss and gradients overflow float32
    with pytest.raises(TrainingDivergedError, match="training diverged in epoch 0"):
        PoissonVAE(**FAST).fit(x)


def test_a_crafted_checkpoint_cannot_run_code_and_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    ckpt = tmp_path / "model.pt"
    torch.save({"key": "x", "payload": Payload()}, ckpt)
    with pytest.raises(ValueError, match="not a readable PoissonVAE checkpoint"):
        PoissonVAE(**FAST).fit(_x(), checkpoint=ckpt)
    assert not (tmp_path / "pwned").exists()
    for content in (b"", b"PK\x03\x04truncated"):
        ckpt.write_bytes(content)
        with pytest.raises(ValueError, match="not a readable PoissonVAE checkpoint"):
            PoissonVAE(**FAST).fit(_x(), checkpoint=ckpt)


def test_a_checkpoint_of_other_data_of_the_same_shape_is_not_resumed(tmp_path):
    ckpt = tmp_path / "model.pt"
    PoissonVAE(**FAST).fit(_x(seed=0), checkpoint=ckpt)
    with pytest.raises(ValueError, match="other data"):
        PoissonVAE(**FAST).fit(_x(seed=1), checkpoint=ckpt)
    resumed = PoissonVAE(**FAST).fit(_x(seed=0), checkpoint=ckpt)  # the same data resumes
    assert len(resumed.loss_curve_) == 2


@pytest.mark.parametrize(
    "model",
    [
        POGLM(n_hidden=1, epochs=2),
        PoissonVAE(n_latents=2, epochs=2),
        PoissonVAE(n_latents=2, epochs=2, observation="poisson"),
        CountVAE(n_latents=2, epochs=2),
    ],
    ids=["POGLM", "PoissonVAE", "PoissonVAE-poisson", "CountVAE"],
)
@pytest.mark.filterwarnings("ignore:.*not whole numbers")  # the checks pass non-count data
def test_scikit_learns_estimator_checks_pass_except_those_the_model_lists(model):
    from sklearn.utils.estimator_checks import check_estimator

    expected = model._expected_failed_checks
    results = check_estimator(model, expected_failed_checks=expected, on_fail=None)
    failed = {r["check_name"] for r in results if r["status"] == "failed"}
    assert not failed
    # the listed ones may fail (the float32 one depends on the data drawn), nothing else does
    assert {r["check_name"] for r in results if r["status"] == "xfail"} <= set(expected)
    assert len(results) > 40
