"""Plain fine-tuning: the control of meta-tailoring.

The pre-trained MLP is trained further with the task loss alone (MSE on dx/dt, no tailoring
step), full batch with Adam, for as many epochs and at the same learning rates as
meta-tailoring. It tells whether a Noether model's gain comes from its conservation law or
merely from the extra training. Like :func:`~noether_search.model.meta.meta_tailor`, the state
with the lowest training loss (the input model's included) is returned — with validation pairs
(``val=``, held out from the training pairs), the one with the lowest validation loss — and
the input model is never modified.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from noether_search.model.inner import as_pairs, check_model
from noether_search.model.mlp import MLP


@dataclass(frozen=True)
class FineTuneResult:
    """Outcome of one fine-tuning run.

    Attributes:
        model_state: state dict of the returned copy (tensors detached, cloned).
        train_loss_history: (epochs,) training MSE on dx/dt after each epoch (shorter if
            training diverged).
        final_train_loss: training MSE of the returned state [(state units / s)²].
        initial_train_loss: the same for the input model.
        best_epoch: the epoch whose state is returned (0 = the input model's weights).
        diverged: True if a non-finite loss stopped training.
        seconds: wall time of the run.
        val_loss_history: (epochs,) validation MSE after each epoch (empty without ``val``).
        final_val_loss: validation MSE of the returned state (nan without ``val``).
    """

    model_state: dict[str, Tensor]
    train_loss_history: np.ndarray
    final_train_loss: float
    initial_train_loss: float
    best_epoch: int
    diverged: bool
    seconds: float
    val_loss_history: np.ndarray = field(default_factory=lambda: np.zeros(0))
    final_val_loss: float = math.nan


def fine_tune(model: MLP, x: Tensor | np.ndarray, dxdt: Tensor | np.ndarray, epochs: int = 100,
              lr: float = 1e-3, *,
              val: tuple[Tensor | np.ndarray, Tensor | np.ndarray] | None = None
              ) -> FineTuneResult:
    """Train a copy of the MLP further on the training pairs with the plain MSE on dx/dt.

    Args:
        model: the pre-trained baseline MLP (left unchanged).
        x: (N, d) training states; dxdt: (N, d) their true derivatives.
        epochs: full-batch Adam steps.
        lr: Adam learning rate.
        val: ``(x_val (M, d), dxdt_val (M, d))`` validation pairs, not trained on: the state
            with the lowest MSE on them is returned instead.

    Returns:
        :class:`FineTuneResult` holding the state with the lowest training (validation) loss.

    Raises:
        ValueError: bad shapes, ``epochs`` < 0 or a non-positive ``lr``.
    """
    start = time.perf_counter()
    check_model(model)
    if epochs < 0:
        raise ValueError(f"fine_tune: epochs must be >= 0, got {epochs}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"fine_tune: lr must be a positive finite number, got {lr!r}")
    x, dxdt = as_pairs(x, dxdt, model, "fine_tune")
    xv, dv = (None, None) if val is None else as_pairs(*val, model, "fine_tune (val)")
    net = copy.deepcopy(model)
    for p in net.parameters():
        p.requires_grad_(True)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses: list[float] = []
    vlosses: list[float] = []
    best = (math.inf, 0, None, math.nan)     # (score, epoch, state, training loss)
    diverged = False
    for epoch in range(epochs + 1):         # the loss of state `epoch`, then a step from it
        loss = ((net(x) - dxdt) ** 2).mean()
        value = float(loss.detach())
        vvalue = value if xv is None else _mse(net, xv, dv)
        if not (math.isfinite(value) and math.isfinite(vvalue)):
            diverged = True
            break
        losses.append(value)
        vlosses.append(vvalue)
        if vvalue < best[0]:
            best = (vvalue, epoch, {k: v.detach().clone() for k, v in net.state_dict().items()},
                    value)
        if epoch == epochs:
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    has_val = xv is not None
    return FineTuneResult(model_state=best[2], train_loss_history=np.asarray(losses[1:]),
                          final_train_loss=math.inf if diverged else best[3],
                          initial_train_loss=losses[0] if losses else math.nan,
                          best_epoch=best[1], diverged=diverged,
                          seconds=time.perf_counter() - start,
                          val_loss_history=np.asarray(vlosses[1:] if has_val else []),
                          final_val_loss=(math.inf if diverged else best[0]) if has_val
                          else math.nan)


def _mse(net: MLP, x: Tensor, dxdt: Tensor) -> float:
    """MSE of ``net`` on (x, dxdt), no graph kept."""
    with torch.no_grad():
        return float(((net(x) - dxdt) ** 2).mean())
