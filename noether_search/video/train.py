"""Training the predictor (plain and meta-tailored) and predicting with it.

Every phase is an Adam loop over shuffled training windows that keeps the state with the
lowest validation MSE over the evaluation horizon (checked after each epoch), so checkpoints
are chosen on validation episodes, never on test ones.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from noether_search.video.data import Windows
from noether_search.video.model import Predictor
from noether_search.video.noether import Embedding, inner_step

#: ``progress(epoch, total epochs, validation MSE)``
EpochProgress = Callable[[int, int, float], None]


@dataclass(frozen=True)
class Phase:
    """One training phase.

    Attributes:
        epochs: passes over the training windows.
        lr: Adam learning rate.
        batch: windows per step.
        history: H, the given frames.
        horizon: frames predicted at validation (the evaluation horizon).
        inner_lr: the Noether step's rate (used only when an embedding is trained).
        teacher_forcing: train on true input frames (SVG) rather than closed-loop.
        form: the Noether loss, ``"a"`` or ``"b"`` (the paper's Eq. 2).
    """

    epochs: int
    lr: float
    batch: int
    history: int
    horizon: int
    inner_lr: float = 0.5
    teacher_forcing: bool = True
    form: str = "b"


@dataclass(frozen=True, eq=False)
class PhaseResult:
    """The chosen state of a phase and its validation curve.

    Attributes:
        predictor: the predictor at the best epoch.
        embedding: the embedding at the best epoch (None for plain training).
        val_mse: (epochs + 1,) validation MSE before training and after each epoch.
        best_epoch: index into ``val_mse`` of the kept state.
    """

    predictor: Predictor
    embedding: Embedding | None
    val_mse: np.ndarray
    best_epoch: int


def _tensors(w: Windows, idx) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(w.frames[idx]), torch.from_numpy(w.actions[idx])


def task_loss(model: Predictor, emb: Embedding | None, frames: torch.Tensor,
              actions: torch.Tensor, history: int, inner_lr: float,
              teacher_forcing: bool = True, form: str = "b") -> torch.Tensor:
    """MSE of every predicted frame 1..W−1 of (B, W, S, S) ``frames`` (inputs all true
    frames with ``teacher_forcing``, else the model's own after the history), after the
    Noether step when ``emb`` is given (differentiable through it: second-order gradients
    reach φ)."""
    W = frames.shape[1]
    outs = model.outputs(frames[:, :history], actions, W - history,
                         teacher=frames if teacher_forcing else None)
    if emb is not None:
        outs = inner_step(emb, outs, actions, history, inner_lr, create_graph=True, form=form)
    return (model.decoder(outs) - frames[:, 1:]).pow(2).mean()


def predict(model: Predictor, emb: Embedding | None, w: Windows, history: int,
            inner_lr: float = 0.5, form: str = "b", batch: int = 64) -> np.ndarray:
    """(N, W − history, S, S) predicted frames after the history of each window, clipped to
    [0, 1] (with one Noether step on the LSTM outputs when ``emb`` is given)."""
    W, preds = w.frames.shape[1], []
    for lo in range(0, len(w), batch):
        frames, actions = _tensors(w, slice(lo, lo + batch))
        with torch.no_grad():
            outs = model.outputs(frames[:, :history], actions, W - history)
        if emb is not None:
            with torch.enable_grad():
                outs = inner_step(emb, outs, actions, history, inner_lr, create_graph=False,
                                  form=form)
        with torch.no_grad():
            preds.append(model.decoder(outs[:, history - 1:]).clamp(0.0, 1.0).numpy())
    return np.concatenate(preds)


def val_mse(model: Predictor, emb: Embedding | None, val: Windows, phase: Phase) -> float:
    """Mean squared pixel error over the validation windows' predicted frames."""
    pred = predict(model, emb, val, phase.history, phase.inner_lr, phase.form)
    return float(np.mean((pred - val.frames[:, phase.history:]) ** 2))


def train_phase(model: Predictor, emb: Embedding | None, train: Windows, val: Windows,
                phase: Phase, seed: int, progress: EpochProgress | None = None) -> PhaseResult:
    """Train ``model`` (and ``emb``, meta-tailoring, when given) for ``phase.epochs``.

    The arguments are not modified; the result holds copies at the best validation epoch.
    Raises ValueError when the loss becomes NaN or infinite.
    """
    model, emb = copy.deepcopy(model), copy.deepcopy(emb)
    params = list(model.parameters()) + ([] if emb is None else list(emb.parameters()))
    opt = torch.optim.Adam(params, lr=phase.lr)
    gen = np.random.default_rng(seed)
    curve = [val_mse(model, emb, val, phase)]
    best = copy.deepcopy((model.state_dict(), None if emb is None else emb.state_dict()))
    for epoch in range(1, phase.epochs + 1):
        order = gen.permutation(len(train))
        for lo in range(0, len(order), phase.batch):
            frames, actions = _tensors(train, order[lo:lo + phase.batch])
            loss = task_loss(model, emb, frames, actions, phase.history, phase.inner_lr,
                             phase.teacher_forcing, phase.form)
            if not math.isfinite(loss.item()):
                raise ValueError(f"video training diverged at epoch {epoch} (loss "
                                 f"{loss.item()}); lower the learning rate (now {phase.lr:g})")
            opt.zero_grad()
            loss.backward()
            opt.step()
        curve.append(val_mse(model, emb, val, phase))
        if curve[-1] <= min(curve[:-1]):
            best = copy.deepcopy((model.state_dict(),
                                  None if emb is None else emb.state_dict()))
        if progress is not None:
            progress(epoch, phase.epochs, curve[-1])
    model.load_state_dict(best[0])
    if emb is not None:
        emb.load_state_dict(best[1])
    return PhaseResult(model, emb, np.array(curve), int(np.argmin(curve)))
