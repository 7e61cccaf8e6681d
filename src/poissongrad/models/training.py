"""The training loop every model shares: seeded epochs of shuffled mini-batches, one checked
gradient step per batch, and a hook after each epoch (validation, early stopping, checkpoints).

:func:`train_epochs` owns the epoch loop (a permutation per epoch from the model's generator,
so a seeded fit is deterministic on CPU, and a progress bar); :func:`descend` owns one step
(backward, optional clipping, a divergence check before the parameters change, the optimiser
step). What differs between models (the objective, what to do after an epoch) comes in as
functions.

Examples
--------
>>> import torch
>>> w = torch.zeros(1, requires_grad=True)
>>> opt = torch.optim.SGD([w], lr=0.1)
>>> x = torch.ones(8)
>>> def step(index, epoch, batch):
...     return descend(opt, (w - x[index]).pow(2).mean(), [w], epoch)
>>> curve = train_epochs(8, 4, 3, torch.Generator().manual_seed(0), step, divisor=2)
>>> len(curve), curve[0] > curve[-1]
(3, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from poissongrad.models.base import check_step
from poissongrad.utils.atomic import atomic_path

__all__ = ["Checkpoint", "descend", "grad_norm", "train_epochs"]

#: Return this from ``after_epoch`` to end training.
STOP = True


def grad_norm(parameters: Iterable[torch.Tensor]) -> torch.Tensor:
    """The Euclidean norm of all gradients together (0 when there are none)."""
    grads = [p.grad.detach().pow(2).sum() for p in parameters if p.grad is not None]
    return torch.stack(grads).sum().sqrt() if grads else torch.zeros(())


def descend(
    optimiser: torch.optim.Optimizer,
    objective: torch.Tensor,
    parameters: Iterable[torch.Tensor],
    epoch: int,
    hint: str = "lower lr",
    clip: float | None = None,
    recorded: torch.Tensor | None = None,
) -> float:
    """One gradient step on ``objective``; returns the recorded loss (``recorded`` or the
    objective) as a float.

    The gradient is clipped to norm ``clip`` when given; a non-finite loss or gradient norm
    raises :class:`~poissongrad.models.base.TrainingDivergedError` (with ``hint``) before the
    optimiser changes the parameters.
    """
    parameters = list(parameters)
    optimiser.zero_grad()
    objective.backward()
    if clip is not None:
        norm = torch.nn.utils.clip_grad_norm_(parameters, clip)
    else:
        norm = grad_norm(parameters)
    value = float((objective if recorded is None else recorded).detach())
    check_step(value, norm, epoch, hint)
    optimiser.step()
    return value


def train_epochs(
    n: int,
    batch_size: int,
    epochs: int,
    generator: torch.Generator,
    step: Callable[[torch.Tensor, int, int], float],
    *,
    divisor: int,
    start: int = 0,
    after_epoch: Callable[[int, list[float]], bool | None] | None = None,
    curve: list[float] | None = None,
    progress: bool = False,
    desc: str | None = None,
) -> list[float]:
    """Run epochs ``start`` … ``epochs − 1`` over ``n`` items in shuffled batches.

    Parameters
    ----------
    n, batch_size : int
        Items and items per batch (the last batch may be smaller).
    generator : torch.Generator
        Draws one permutation of the items per epoch.
    step : callable
        ``step(index, epoch, batch) -> float``: trains on the items ``index`` (a LongTensor;
        ``batch`` counts the batches of the epoch from 0) and returns what the epoch's loss
        accumulates.
    divisor : int
        The epoch's loss is the accumulated sum divided by this (steps per epoch for a mean
        of batch means, ``n`` for a mean per item).
    after_epoch : callable, optional
        ``after_epoch(epoch, curve)`` after each epoch; returning True (:data:`STOP`) ends
        training.
    curve : list, optional
        Losses of earlier epochs (a resumed fit); extended in place.
    progress, desc : show a progress bar over epochs, with this label.

    Returns
    -------
    The loss of every epoch (``curve`` extended).
    """
    curve = [] if curve is None else curve
    bar = tqdm(range(start, epochs), disable=not progress, leave=False, desc=desc)
    for epoch in bar:
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for batch, first in enumerate(range(0, n, batch_size)):
            total += step(order[first : first + batch_size], epoch, batch)
        curve.append(total / divisor)
        bar.set_postfix(loss=f"{curve[-1]:.2f}")
        if after_epoch is not None and after_epoch(epoch, curve):
            break
    return curve


@dataclass(frozen=True)
class Checkpoint:
    """A fit's resumable state in the file ``path``, written atomically after every epoch.

    ``key`` identifies the fit (its parameters and a hash of its data): a checkpoint of
    another key is refused. Files are read with ``torch.load(weights_only=True)``, so a crafted
    one cannot run code; anything unreadable, foreign or inconsistent is a one-line
    ``ValueError`` that names the file.

    Attributes:
        path: the checkpoint file.
        key: the fit's identity.
        model: the model's name, for messages.
        extra: keys the state holds besides the network, optimiser and histories (e.g. the
            generators' states).
    """

    path: Path
    key: str
    model: str
    extra: tuple[str, ...] = ()

    def write(self, state: dict) -> None:
        """Store ``state`` (with this fit's key), atomically."""
        with atomic_path(self.path) as tmp:
            torch.save({"key": self.key, **state}, tmp)

    def restore(self, epochs: int, has_control: bool, resume: Callable[[dict], None]) -> None:
        """Call ``resume(state)`` with the stored state, if there is one; ``ValueError`` for a
        file that is not a checkpoint of this fit or whose contents a fit of ``epochs`` epochs
        cannot resume from (see :meth:`check`)."""
        if not self.path.exists():
            return
        state = self._read()
        try:
            self.check(state, epochs, has_control)
            resume(state)
        except (KeyError, RuntimeError, TypeError, ValueError) as err:
            raise ValueError(
                f"checkpoint {self.path} is damaged ({type(err).__name__}: "
                f"{str(err).splitlines()[0] if str(err) else ''}); move it away to start "
                "afresh"
            ) from None

    def _read(self) -> dict:
        try:
            state = torch.load(self.path, weights_only=True)
            if not isinstance(state, dict):
                raise TypeError(f"holds a {type(state).__name__}")
            needed = {"key", "epoch", "model", "optimiser", "history", *self.extra}
            missing = needed - set(state)
            if missing:
                raise KeyError(f"lacks {sorted(missing)}")
        except Exception as err:  # pickle, zip, EOF and weights_only errors alike: refused
            raise ValueError(
                f"{self.path} is not a readable {self.model} checkpoint ({type(err).__name__}: "
                f"{str(err).splitlines()[0] if str(err) else ''}); move it away to start afresh"
            ) from None
        if state["key"] != self.key:
            raise ValueError(
                f"checkpoint {self.path} belongs to another configuration or other data; move "
                "it away or pass another checkpoint path"
            )
        return state

    @staticmethod
    def check(state: dict, epochs: int, has_control: bool) -> None:
        """``ValueError`` for contents a fit of ``epochs`` epochs cannot resume from: an epoch
        out of range, a loss history that is not one finite number per finished epoch,
        non-finite parameters, or a learned control variate missing."""
        epoch = state["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch < epochs:
            raise ValueError(f"epoch {epoch!r} is not in [0, {epochs})")
        for name in ("history", "validation"):
            values = state.get(name, [])
            if not isinstance(values, list) or not all(
                isinstance(v, float) and math.isfinite(v) for v in values
            ):
                raise ValueError(f"its {name} is not a list of finite numbers")
        if len(state["history"]) != epoch + 1:
            raise ValueError(f"its history has {len(state['history'])} epochs, not {epoch + 1}")
        for name, tensor in state["model"].items():
            if not isinstance(tensor, torch.Tensor) or not bool(torch.isfinite(tensor).all()):
                raise ValueError(f"parameter {name} is not a finite tensor")
        if has_control and ("control" not in state or "control_optimiser" not in state):
            raise ValueError("it lacks the learned control variate of this estimator")
