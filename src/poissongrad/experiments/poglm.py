"""POGLM experiment: infer hidden neurons and connectivity with every gradient method.

One job fits a :class:`~poissongrad.models.poglm.POGLM` to the visible spikes of a seeded ground-
truth network (:func:`~poissongrad.data.spikes.make_network`) and scores it on held-out
sequences: test ELBO with hard posterior samples, the log-likelihood of the visible spikes by a
particle filter (independent of q, with its Monte-Carlo error) and the importance-weighted bound
with q, complete-data log-likelihood with the true hidden spikes, log q(true
hidden | visible), and connectivity errors after the best permutation of hidden neurons. Every
row also carries two reference points on the same data: the all-zero weight guess and the
maximum-likelihood fit of the fully observed GLM (hidden spikes revealed), and the
identifiability check of the network's blocks at the true parameters
(:mod:`poissongrad.metrics.identifiability`): the share of complete-data information the visible
training spikes keep per block. All log-likelihoods are in nats per sequence.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd
import torch

from poissongrad.data.spikes import SpikeNetwork, make_network
from poissongrad.experiments.base import Experiment, Option, RatingInput
from poissongrad.experiments.grids import Grid, block_seeds
from poissongrad.glm import GLM, fit_observed_glm, glm_log_likelihood
from poissongrad.metrics.connectivity import (
    Block,
    connectivity_errors,
    match_hidden,
    permute_hidden,
)
from poissongrad.metrics.identifiability import TRUST_THRESHOLD, identifiability
from poissongrad.models.base import model_from
from poissongrad.models.poglm import POGLM
from poissongrad.registry import DEFAULT_METHOD, REGISTRY, tagged
from poissongrad.samplers.moments import poisson_log_prob
from poissongrad.utils.hashing import seed_for
from poissongrad.utils.plotting import (
    task_figure,
)
from poissongrad.utils.stats import (
    task_summary_table,
)

__all__ = ["POGLMConfig", "SETTING_CHOICES", "run", "grid_configs", "reference_errors"]

#: Values of the experiment's ``setting`` option: one network setting, or ``"both"`` (the
#: paper's, plus the identifiable one at one temperature and seed).
SETTING_CHOICES = ("both", "paper", "identifiable", "large")


@dataclass(frozen=True)
class POGLMConfig:
    """One fit: an estimator at one temperature and sample count, on one network."""

    estimator: str = DEFAULT_METHOD
    temperature: float = 0.5
    n_samples: int = 5
    seed: int = 0
    setting: str = "paper"
    network: int = 0
    link: str = "softplus"
    posterior: str = "forward_backward"
    epochs: int = 100
    lr: float = 0.02
    batch_size: int | None = None


@lru_cache(maxsize=8)
def _network(setting: str, seed: int, link: str) -> SpikeNetwork:
    return make_network(setting, seed, link)


@lru_cache(maxsize=8)
def reference_errors(setting: str, seed: int, link: str) -> dict[str, float]:
    """Connectivity errors of the zero guess and of the fully observed ML fit, and the
    identifiability shares of the network (the per-network reference columns of a row)."""
    net = _network(setting, seed, link)
    w, b = fit_observed_glm(net.train, net.weights.shape[-1], link)
    zero = connectivity_errors(
        net.weights, net.bias, torch.zeros_like(w), torch.zeros_like(b), net.n_visible
    )
    observed = connectivity_errors(net.weights, net.bias, w, b, net.n_visible)
    return {
        **{f"zero_{k}": v for k, v in zero.items()},
        **{f"observed_{k}": v for k, v in observed.items()},
        **_identifiability_shares(setting, seed, link),
    }


def _identifiability_shares(setting: str, seed: int, link: str) -> dict[str, float]:
    """share_<block> and share_<block>_se of the check at the true parameters (training data)."""
    net = _network(setting, seed, link)
    check = identifiability(
        net.train[..., : net.n_visible],
        GLM(net.weights, net.bias, link),
        n_samples=100,
        burn_in=50,
        generator=torch.Generator().manual_seed(seed_for(seed, "identifiability")),
    )
    out = {}
    for block, result in check.items():
        out[f"share_{block}"], out[f"share_{block}_se"] = result.share, result.se
    return out


def _true_hidden_scores(model: POGLM, net: SpikeNetwork) -> dict[str, float]:
    """log p(x, z_true) and log q(z_true | x) on test data, learned hidden relabelled to match."""
    v = net.n_visible
    perm = match_hidden(net.weights, model.weights_, v)
    weights, bias = permute_hidden(model.weights_, model.bias_, perm, v)
    x, z_true = net.test[..., :v], net.test[..., v:]
    rate_q = model.posterior_.rate(x)[..., torch.as_tensor(perm)]
    return {
        "complete_ll": float(glm_log_likelihood(net.test, weights, bias, net.link).mean()),
        "log_q_true": float(poisson_log_prob(z_true, rate_q).sum((-1, -2)).mean()),
    }


def run(config: POGLMConfig) -> list[dict]:
    """Fit one configuration and return one row of held-out metrics and reference points."""
    net = _network(config.setting, config.network, config.link)
    model = model_from(
        POGLM,
        config,
        n_hidden=net.n_hidden,
        history=net.weights.shape[-1],
        random_state=seed_for(config.seed, "poglm"),
    )
    start = time.perf_counter()
    model.fit(net.train[..., : net.n_visible])
    seconds = time.perf_counter() - start
    test = net.test[..., : net.n_visible]
    ll, ll_se = model.score_with_error(test, seed=seed_for(config.seed, "score"))
    row = {
        **asdict(config),
        "uses_temperature": REGISTRY[config.estimator].uses_temperature,
        "fit_seconds": seconds,
        "elbo": model.elbo(test),
        "marginal_ll": ll,
        "marginal_ll_se": ll_se,
        "iw_bound": model.iw_bound(test),
        **_true_hidden_scores(model, net),
        **connectivity_errors(net.weights, net.bias, model.weights_, model.bias_, net.n_visible),
        **reference_errors(config.setting, config.network, config.link),
    }
    return [row]


def grid_configs(grid: Grid, seed: int = 0, setting: str = "both") -> list[POGLMConfig]:
    """Estimators × τ × MC samples × networks × seeds, for one setting or ``"both"``.

    quick: EAT-cubic, EAT-sigmoid, GSM, EAT-cubic-ST, score-LOO; τ ∈ {0.1, 0.5, 1}; 5 samples;
    3 networks × 3 seeds. paper: also GSM-ST and EAT-sigmoid-ST, τ ∈ {0.1, 0.2, 0.5, 1}, samples
    {1, 2, 5, 10} (score-LOO needs ≥ 2), 3 networks × 3 seeds. ``"both"``: that grid on the
    paper's setting, and every estimator at τ = 0.5 and 5 samples on 3 networks of the
    identifiable setting (one seed).
    """
    if setting not in SETTING_CHOICES:
        raise ValueError(f"unknown setting {setting!r}; expected one of {SETTING_CHOICES}")
    if setting == "both":
        extra = [
            POGLMConfig(c.estimator, c.temperature, 5, c.seed, "identifiable", c.network)
            for c in _grid(grid, seed, "paper")
            if c.seed == seed and c.n_samples == 5 and c.temperature in (0.0, 0.5)
        ]
        return _grid(grid, seed, "paper") + extra
    return _grid(grid, seed, setting)


def _grid(grid: Grid, seed: int, setting: str) -> list[POGLMConfig]:
    if grid == "quick":
        estimators = tagged("poglm_quick")
        taus, samples, seeds = (0.1, 0.5, 1.0), (5,), block_seeds(seed)
    else:
        estimators = tagged("task")
        taus, samples, seeds = (0.1, 0.2, 0.5, 1.0), (1, 2, 5, 10), block_seeds(seed)
    configs = []
    for network in range(3):
        for s in seeds:
            for est in estimators:
                record = REGISTRY[est]
                for n in samples:
                    if n < record.min_samples:
                        continue
                    for t in taus if record.uses_temperature else (0.0,):
                        configs.append(POGLMConfig(est, t, n, s, setting, network))
    return configs


# --- report section: figures and summary table of the stored rows ---------------------------


def poglm_figures(rows: pd.DataFrame, out: Path) -> list[Path]:
    """Test ELBO, marginal log-likelihood and weight errors of the POGLM against τ, one figure
    per network setting."""
    metrics = [
        ("elbo", "test ELBO (nats/sequence)"),
        ("marginal_ll", "test log p(visible), particle filter"),
        ("weight_error", "weight error mean|W − Ŵ|"),
        ("visible_weight_error", "visible→visible weight error"),
        ("vh_weight_error", "hidden→visible (v←h) weight error"),
    ]
    refs = {
        "vh_weight_error": [
            ("zero guess", "zero_vh_weight_error"),
            ("fully observed fit", "observed_vh_weight_error"),
        ],
        "weight_error": [
            ("zero guess", "zero_weight_error"),
            ("fully observed fit", "observed_weight_error"),
        ],
        "visible_weight_error": [
            ("zero guess", "zero_visible_weight_error"),
            ("fully observed fit", "observed_visible_weight_error"),
        ],
    }
    return [
        task_figure(d, out, metrics, f"poglm_{setting}.png", f"POGLM ({setting} setting)", refs)
        for setting, d in rows.groupby("setting", sort=False)
    ]


#: POGLM weight-error columns shown: (row key, column title, block or None for all of W).
_BLOCK_COLUMNS = (("weight_error", "all W", None),) + tuple(
    (b.error_column, b.arrow, b) for b in Block
)


def poglm_summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per network setting: test ELBO (mean ± SE over networks and seeds) per estimator and τ,
    then the mean weight error, overall and per block (v←h: visible neurons driven by hidden
    ones), of each estimator (averaged over τ), of the zero guess and of the fully observed fit,
    and the identifiability check's share of information kept per block. Errors of a block the
    check does not trust (share < 0.5) are marked †."""
    parts = []
    for setting, d in rows.groupby("setting", sort=False):
        table = task_summary_table(d, "elbo")
        for key, title, block in _BLOCK_COLUMNS:
            if key not in d:
                continue
            column = f"error {title}"
            share = f"share_{block}"
            known = block is not None and share in d and d[share].notna().any()
            mark = " †" if known and d[share].mean() < TRUST_THRESHOLD else ""
            table[column] = d.groupby("estimator")[key].mean().map(f"{{:.3f}}{mark}".format)
            for label, prefix in (("zero guess", "zero_"), ("fully observed fit", "observed_")):
                if prefix + key in d:
                    table.loc[label, column] = f"{d[prefix + key].mean():.3f}"
            if known:
                table.loc["information kept (check)", column] = f"{d[share].mean():.2f}"
        table.index = [f"{setting}: {label}" for label in table.index]
        parts.append(table)
    return pd.concat(parts).fillna("") if parts else pd.DataFrame()


_POGLM_DESCRIPTION = " ".join(
    [
        "Test ELBO, held-out log-likelihood of the visible spikes (a particle filter over the",
        "hidden spikes, independent of q; the importance-weighted bound is stored as iw_bound)",
        "and connectivity error after the best permutation of hidden neurons (nats per",
        "sequence), overall and per block, with the zero-weight guess and the fully observed",
        "maximum-likelihood fit as references, in two settings: the paper's (3 visible + 2",
        "hidden) and an identifiable one (12 visible + 1 strongly coupled hidden neuron at 1",
        "spike per bin; τ = 0.5 and the first seed only). 'information kept' is the",
        "identifiability check at the true",
        "parameters: the share of complete-data Fisher information about each block that the",
        "visible training spikes keep (Louis' identity with exact Gibbs posterior draws, mean",
        "over networks); a block below 0.5 is not trusted and its errors are marked †: they",
        "say nothing about an estimator, compare estimators there on the ELBO and trusted",
        "blocks only.",
    ]
)


def smoke_configs(seed: int = 0) -> list[POGLMConfig]:
    """The smoke grid: EAT-cubic (τ = 0.5) and the LOO score function on one paper-setting
    network, one epoch."""
    return [
        POGLMConfig(e, t, 2, seed, "paper", epochs=1)
        for e, t in (("eat_cubic", 0.5), ("score_loo", 0.0))
    ]


EXPERIMENT = Experiment(
    name="poglm",
    help="partially observable GLM: hidden neurons and connectivity from spike trains",
    config=POGLMConfig,
    grid_configs=grid_configs,
    smoke_configs=smoke_configs,
    run=run,
    metrics={
        "elbo": "test ELBO with hard samples (nats per sequence)",
        "marginal_ll": "log p(visible) by a particle filter (nats per sequence)",
        "marginal_ll_se": "its Monte-Carlo standard error",
        "iw_bound": "importance-weighted bound on log p(visible) with q",
        "weight_error": "mean |W − Ŵ| after matching hidden neurons",
        "visible_weight_error": "mean |W − Ŵ| of visible→visible weights",
        "vv_weight_error": "visible←visible block error",
        "vh_weight_error": "visible←hidden block error",
        "hv_weight_error": "hidden←visible block error",
        "hh_weight_error": "hidden←hidden block error",
        "zero_weight_error": "mean |W| (the all-zero guess)",
        "observed_weight_error": "error of the fully observed maximum-likelihood fit",
        **{
            f"share_{b}": f"{b} information kept by the visible spikes (check at truth)"
            for b in Block
        },
        "fit_seconds": "fit wall time (s)",
    },
    title="Partially observable GLM",
    description=_POGLM_DESCRIPTION,
    figures=poglm_figures,
    summary=poglm_summary_table,
    rating_inputs=(
        RatingInput("robustness", "elbo", True, "score_loo", ("setting", "network", "seed")),
    ),
    replicates=("seed", "network"),
    options=(
        Option(
            "setting",
            "both",
            SETTING_CHOICES,
            "networks: the paper's 3 visible + 2 hidden, the identifiable 12 + 1, both "
            "(the identifiable one at τ = 0.5, one seed), or 20 + 5",
        ),
    ),
)
