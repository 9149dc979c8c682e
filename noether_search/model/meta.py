"""Meta-tailoring: train θ so that the task loss is low *after* the inner tailoring step.

Starting from the pre-trained MLP, each outer step computes, for a batch,

    φ'_i = φ0 − λ ∇φ L_cons(x_i)              (inner step, graph kept: create_graph=True)
    L_task = mean_i |f_{θ,φ'_i}(x_i) − dx_i/dt|²
    θ ← Adam(θ, ∇θ L_task)                    (second order: through ∇φ L_cons)

(paper Algorithm 1 with a fixed law g). The input model is never modified:
training happens on a deep copy whose state dict is returned.

The inner learning rate λ is fixed by default (the caller passes the screen's best rate for the
law). With ``learn_inner_lr=True`` log λ is trained by the same optimiser (Meta-SGD style); it
is off by default because a learned λ may shrink toward 0, turning every law into plain
fine-tuning and blurring the comparison between laws that the ranking relies on.

After every epoch the post-step loss on all training pairs is measured; by default the state
with the lowest one (the input model included) is returned. With validation pairs
(``val=(x_val, dxdt_val)``, held out from ``x``) their post-step loss is measured too and
chooses the returned state instead, so the choice is never judged on the points trained on.
Restarting Adam on a model that is already well trained can first *raise* the loss (its
first steps have size ≈ lr in every weight), and on the ideal spring 100 epochs at lr 1e-3
do not recover from that; keeping the best state means meta-tailoring never returns
something worse than the one-step tailored input model on the data that chooses.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from noether_search.model.conservation import LawFn, check_scheme, law_scale
from noether_search.model.inner import as_pairs, check_model, tailored_predict
from noether_search.model.mlp import MLP


@dataclass(frozen=True)
class MetaResult:
    """Outcome of one meta-tailoring run.

    Attributes:
        model_state: state dict of the meta-tailored copy (tensors detached, cloned).
        inner_lr: λ used at the end (the input one unless ``learn_inner_lr``).
        train_loss_history: (epochs,) post-step training MSE on all of x after each epoch
            (shorter if training diverged).
        final_train_loss: post-step training MSE of the returned model on all of x; inf if
            training diverged (so a ranking never picks it).
        initial_train_loss: the same for the input model (before meta-tailoring).
        g_scale: the law's scale s used (pass it to TailoredField with this model).
        best_epoch: the epoch whose state is returned (0 = the input model's weights).
        diverged: True if a non-finite loss or parameter stopped training; model_state is
            then the best (or last) finite state.
        seconds: wall time of the run.
        val_loss_history: (epochs,) post-step MSE on the validation pairs after each epoch
            (empty without ``val``).
        final_val_loss: the returned state's post-step validation MSE (nan without
            ``val``; inf if training diverged).
        initial_val_loss: the same for the input model (nan without ``val``).
    """

    model_state: dict[str, Tensor]
    inner_lr: float
    train_loss_history: np.ndarray
    final_train_loss: float
    initial_train_loss: float
    g_scale: float
    best_epoch: int
    diverged: bool
    seconds: float
    val_loss_history: np.ndarray = field(default_factory=lambda: np.zeros(0))
    final_val_loss: float = math.nan
    initial_val_loss: float = math.nan


class _Checkpoint(NamedTuple):
    """The network after an epoch: its post-step training (and validation) loss, weights and
    inner rate."""

    loss: float
    epoch: int                 # 0 = the input model
    state: dict[str, Tensor]
    inner_lr: float
    val_loss: float = math.nan

    @property
    def score(self) -> float:
        """What chooses the kept state: the validation loss when there is one."""
        return self.loss if math.isnan(self.val_loss) else self.val_loss


def post_step_loss(model: MLP, g: LawFn, x: Tensor, dxdt: Tensor, dt: float,
                   inner_lr: float, g_scale: float, *, scheme: str = "central",
                   chunk: int = 8192) -> float:
    """Training MSE on dx/dt after one inner step (no graph kept), as a Python float.

    Args:
        model: the MLP.
        g: the conservation law.
        x: (N, d) states; dxdt: (N, d) true derivatives.
        dt: Δt (s); inner_lr: λ; g_scale: s; scheme: of the conservation loss.
        chunk: examples per evaluation (bounds memory; the result does not depend on it).
    """
    total = 0.0
    for i in range(0, x.shape[0], chunk):
        pred = tailored_predict(model, g, x[i:i + chunk], dt, inner_lr, g_scale,
                                scheme=scheme).detach()
        total += float(((pred - dxdt[i:i + chunk]) ** 2).sum())
    return total / dxdt.numel()


def meta_tailor(model: MLP, g: LawFn, x: Tensor | np.ndarray, dxdt: Tensor | np.ndarray,
                dt: float, inner_lr: float, epochs: int = 100, lr: float = 1e-3,
                batch_size: int | None = None, seed: int = 0,
                progress: Callable[[int], None] | None = None, *, g_scale: float | None = None,
                learn_inner_lr: bool = False, weight_decay: float = 0.0,
                scheme: str = "central", keep_best: bool = True,
                val: tuple[Tensor | np.ndarray, Tensor | np.ndarray] | None = None
                ) -> MetaResult:
    """Fine-tune a copy of the MLP so its predictions are good after one tailoring step.

    Args:
        model: the pre-trained baseline MLP (left unchanged).
        g: the conservation law, a differentiable torch callable (B, d) -> (B,).
        x: (N, d) training states; dxdt: (N, d) their true derivatives.
        dt: Δt (s) of the conservation loss.
        inner_lr: λ > 0, normally the screen's best rate for g.
        epochs: passes over the training pairs.
        lr: Adam learning rate for θ (and log λ).
        batch_size: examples per outer step; None = full batch (one step per epoch).
        seed: seeds the batch order (full batch is deterministic anyway).
        progress: called with 1 after each epoch.
        g_scale: the law's scale s; default: ``law_scale`` of g on x.
        learn_inner_lr: also train log λ.
        weight_decay: Adam's L2 weight decay on θ.
        scheme: finite-difference scheme of the conservation loss ("central" or "forward");
            use the same one in the screen and in TailoredField.
        keep_best: return the state (among the input and the end of every epoch) with the
            lowest post-step training loss (validation loss with ``val``); otherwise the
            last state.
        val: ``(x_val (M, d), dxdt_val (M, d))`` validation pairs, not trained on: their
            post-step loss chooses the state kept.

    Returns:
        MetaResult.

    Raises:
        ValueError: for bad shapes or hyper-parameters, or a law that is constant or
            non-finite on x (see ``law_scale``).
    """
    start = time.perf_counter()
    _check_arguments(model, inner_lr, epochs, batch_size, scheme)
    x, dxdt = as_pairs(x, dxdt, model, "meta_tailor")
    xv, dv = (None, None) if val is None else as_pairs(*val, model, "meta_tailor (val)")
    s = law_scale(g, x) if g_scale is None else float(g_scale)
    net, log_lr, opt = _outer_setup(model, inner_lr, lr, weight_decay, learn_inner_lr)
    gen = torch.Generator().manual_seed(seed)
    bs = x.shape[0] if batch_size is None else min(batch_size, x.shape[0])

    def checkpoint(epoch: int, lam: float) -> _Checkpoint | None:
        return _checkpoint(net, g, (x, dxdt), (xv, dv), dt, lam, s, scheme, epoch)

    initial = checkpoint(0, inner_lr) or _Checkpoint(math.inf, 0, _snapshot(net), inner_lr,
                                                     math.nan if xv is None else math.inf)
    best = last = initial
    history: list[float] = []
    val_history: list[float] = []
    diverged = False
    for epoch in range(1, epochs + 1):
        finite = _outer_epoch(net, opt, log_lr, g, x, dxdt, dt, s, scheme,
                              _batches(x.shape[0], bs, gen))
        cur = checkpoint(epoch, float(log_lr.detach().exp())) if finite else None
        if cur is None:
            diverged = True
            break
        history.append(cur.loss)
        val_history.append(cur.val_loss)
        last = cur
        if cur.score < best.score:
            best = cur
        if progress is not None:
            progress(1)

    out = best if keep_best else last
    return MetaResult(model_state=out.state, inner_lr=out.inner_lr,
                      train_loss_history=np.asarray(history, dtype=np.float64),
                      final_train_loss=math.inf if diverged else out.loss,
                      initial_train_loss=initial.loss, g_scale=s, best_epoch=out.epoch,
                      diverged=diverged, seconds=time.perf_counter() - start,
                      val_loss_history=np.asarray(val_history if xv is not None else [],
                                                  dtype=np.float64),
                      final_val_loss=math.inf if diverged and xv is not None else out.val_loss,
                      initial_val_loss=initial.val_loss)


def _checkpoint(net: MLP, g: LawFn, pairs: tuple[Tensor, Tensor],
                val: tuple[Tensor | None, Tensor | None], dt: float, lam: float, s: float,
                scheme: str, epoch: int) -> _Checkpoint | None:
    """The post-step losses (training, validation) and a copy of the weights; None if a loss
    is non-finite."""
    loss = post_step_loss(net, g, *pairs, dt, lam, s, scheme=scheme)
    vloss = math.nan if val[0] is None else post_step_loss(net, g, *val, dt, lam, s,
                                                           scheme=scheme)
    if not (math.isfinite(loss) and (val[0] is None or math.isfinite(vloss))):
        return None
    return _Checkpoint(loss, epoch, _snapshot(net), lam, vloss)


def _check_arguments(model: MLP, inner_lr: float, epochs: int, batch_size: int | None,
                     scheme: str) -> None:
    """Raise TypeError / ValueError naming the first bad argument of :func:`meta_tailor`."""
    check_model(model)
    check_scheme(scheme)
    if not (inner_lr > 0 and math.isfinite(inner_lr)):
        raise ValueError(f"meta_tailor: inner_lr must be a positive finite number, got "
                         f"{inner_lr!r}; use the screen's best_lr")
    if epochs < 0:
        raise ValueError(f"meta_tailor: epochs must be >= 0, got {epochs}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"meta_tailor: batch_size must be None (full batch) or >= 1, got "
                         f"{batch_size}")


def _outer_setup(model: MLP, inner_lr: float, lr: float, weight_decay: float,
                 learn_inner_lr: bool) -> tuple[MLP, Tensor, torch.optim.Adam]:
    """A trainable copy of the model, log λ (a leaf, trained if ``learn_inner_lr``), and Adam
    over both (no weight decay on log λ)."""
    net = copy.deepcopy(model)
    for p in net.parameters():
        p.requires_grad_(True)
    w = net.readout.weight
    log_lr = torch.tensor(math.log(inner_lr), dtype=w.dtype, device=w.device,
                          requires_grad=learn_inner_lr)
    groups = [{"params": list(net.parameters()), "weight_decay": weight_decay}]
    if learn_inner_lr:
        groups.append({"params": [log_lr], "weight_decay": 0.0})
    return net, log_lr, torch.optim.Adam(groups, lr=lr)


def _snapshot(net: MLP) -> dict[str, Tensor]:
    """A detached copy of the network's state dict."""
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _batches(n: int, bs: int, gen: torch.Generator) -> Iterator[slice | Tensor]:
    """Indices of one epoch's batches: in order for a full batch, else shuffled by ``gen``."""
    order = torch.randperm(n, generator=gen) if bs < n else None
    for i in range(0, n, bs):
        yield slice(i, i + bs) if order is None else order[i:i + bs]


def _outer_epoch(net: MLP, opt: torch.optim.Optimizer, log_lr: Tensor, g: LawFn, x: Tensor,
                 dxdt: Tensor, dt: float, g_scale: float, scheme: str,
                 batches: Iterator[slice | Tensor]) -> bool:
    """One epoch of outer steps: inner step with its graph, task loss, Adam on θ (and log λ).

    Returns:
        False as soon as a batch's task loss is non-finite (training has diverged).
    """
    for idx in batches:
        pred = tailored_predict(net, g, x[idx], dt, log_lr.exp(), g_scale, create_graph=True,
                                scheme=scheme)                               # (b, d)
        loss = ((pred - dxdt[idx]) ** 2).mean()
        if not bool(torch.isfinite(loss)):
            return False
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return True
