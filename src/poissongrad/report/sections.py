"""What the report shows of each experiment: title, description, figures and summary table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from poissongrad.report.figures import (
    fidelity_figures,
    gradient_figures,
    poglm_figures,
    vae_figures,
)
from poissongrad.report.tables import (
    fidelity_summary_table,
    gradient_summary_table,
    poglm_summary_table,
    vae_summary_table,
)

__all__ = ["Section", "SECTIONS"]


@dataclass(frozen=True)
class Section:
    title: str
    description: str
    figures: Callable[[pd.DataFrame, Path], list[Path]]
    summary: Callable[[pd.DataFrame], pd.DataFrame]


SECTIONS: dict[str, Section] = {
    "fidelity": Section(
        "Distributional fidelity",
        "How close relaxed samples are to Poisson(λ): mean and variance ratios, and the exact "
        "1-D Wasserstein distance W1/√λ to the Poisson law ('poisson' rows: exact draws, the "
        "sampling-noise floor). Table: mean over rates of |mean/λ − 1| and W1/√λ per τ.",
        fidelity_figures,
        fidelity_summary_table,
    ),
    "gradients": Section(
        "Gradient quality",
        "Per-sample gradients of E‖x − Φz‖² with respect to log λ on a linear decoder, against "
        "the closed-form gradient. Table at the rate nearest λ = 5: relative bias (Monte-Carlo "
        "error removed), relative variance and cosine to the exact gradient.",
        gradient_figures,
        gradient_summary_table,
    ),
    "vae": Section(
        "Poisson VAE: temperature robustness",
        "Held-out negative ELBO (hard samples) after training with each gradient method, "
        "against the final temperature of the annealing schedule; 'exact' uses the closed-form "
        "expected loss of the linear decoder.",
        vae_figures,
        vae_summary_table,
    ),
    "poglm": Section(
        "Partially observable GLM",
        "Test ELBO, importance-weighted marginal log-likelihood of the visible spikes and "
        "connectivity error after the best permutation of hidden neurons (nats per sequence), "
        "with the zero-weight guess and the fully observed maximum-likelihood fit as references.",
        poglm_figures,
        poglm_summary_table,
    ),
}
