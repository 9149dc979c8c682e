"""Meta-training a Noether Network: the predictor θ and the embedding φ through the inner step.

The paper's Algorithm 1 for a derivative predictor on state pairs. Each outer step, full
batch over the training pairs (x_i, dx_i/dt):

    s        = std of g_φ over the batch, per component      (differentiable in φ)
    φ'_i     = φ0 − λ ∇_{φ_i} L_Noether(x_i; g_φ, s)          (inner step, graph kept)
    L_task   = mean_i |f_{θ,φ'_i}(x_i) − dx_i/dt|²
    θ ← Adam(θ, ∇θ L_task),   φ ← Adam(φ, ∇φ L_task)         (second order, two rates)

With ``plain_weight`` w > 0 the outer loss is L_task + w · mean_i |f_θ(x_i) − dx_i/dt|²:
the unadapted predictor is also held to the data, so that where the step does little
(states where g_φ was not trained) θ alone still predicts well.

so the embedding is trained only by how much conserving it improves the predictions: a
constant or useless g_φ gives no gain, and nothing pulls it that way (paper App. B). θ starts
from the pre-trained baseline (as meta-tailoring with a symbolic law does) and φ from the
given embedding: a seeded random initialisation, or one pretrained to be conserved along the
training trajectories (:mod:`noether_search.neural.pretrain`); ``embed_lr`` 0 keeps it
fixed. The inputs are never modified; the state with the lowest
post-step training loss (the starting one included) is returned, as in
:func:`noether_search.model.meta_tailor`.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from noether_search.model.conservation import check_scheme
from noether_search.model.inner import as_pairs, check_model
from noether_search.model.mlp import MLP
from noether_search.neural.embedding import Embedding
from noether_search.neural.loss import check_normalise, embedding_scale
from noether_search.neural.tailor import noether_predict


@dataclass(frozen=True)
class NeuralMetaResult:
    """Outcome of one meta-training run.

    Attributes:
        model_state: state dict of the meta-trained MLP (detached, cloned).
        embed_state: state dict of the meta-trained embedding.
        inner_lr: λ.
        scale: (k,) component scales of the returned embedding on the training states.
        train_loss_history: (epochs,) post-step training MSE on dx/dt after each epoch.
        final_train_loss: that of the returned state [(state units / s)²]; inf if diverged
            before any finite state after the start.
        initial_train_loss: that of the inputs (baseline θ, initial φ).
        best_epoch: the epoch whose state is returned (0 = the inputs).
        diverged: True if a non-finite loss stopped training.
        seconds: wall time.
    """

    model_state: dict[str, Tensor]
    embed_state: dict[str, Tensor]
    inner_lr: float
    scale: np.ndarray
    train_loss_history: np.ndarray
    final_train_loss: float
    initial_train_loss: float
    best_epoch: int
    diverged: bool
    seconds: float


def _check(model, embed, inner_lr: float, epochs: int, lr: float, embed_lr: float,
           scheme: str, max_step: float | None, plain_weight: float) -> None:
    """Raise TypeError / ValueError naming the first bad argument of :func:`meta_train`."""
    check_model(model)
    check_scheme(scheme)
    if not isinstance(embed, Embedding) or embed.dim != model.dim:
        raise TypeError(f"embed: expected an Embedding of dimension {model.dim}, got "
                        f"{type(embed).__name__}"
                        f"{'' if not isinstance(embed, Embedding) else f' of {embed.dim}'}")
    for name, value in (("inner_lr", inner_lr), ("lr", lr)):
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(f"meta_train: {name} must be a positive finite number, got "
                             f"{value!r}")
    if not (embed_lr >= 0 and math.isfinite(embed_lr)):
        raise ValueError(f"meta_train: embed_lr must be a finite number >= 0 (0: the "
                         f"embedding is kept fixed), got {embed_lr!r}")
    if epochs < 0:
        raise ValueError(f"meta_train: epochs must be >= 0, got {epochs}")
    if not (plain_weight >= 0 and math.isfinite(plain_weight)):
        raise ValueError(f"meta_train: plain_weight must be a finite number >= 0, got "
                         f"{plain_weight!r}")
    if max_step is not None and not (max_step > 0 and math.isfinite(max_step)):
        raise ValueError(f"meta_train: max_step must be None or a positive finite number, "
                         f"got {max_step!r}")


def meta_train(model: MLP, embed: Embedding, x: Tensor | np.ndarray,
               dxdt: Tensor | np.ndarray, dt: float, inner_lr: float, *, epochs: int = 100,
               lr: float = 1e-3, embed_lr: float = 1e-3, scheme: str = "central",
               max_step: float | None = None, plain_weight: float = 0.0,
               normalise: str = "std", progress: Callable[[int], None] | None = None) -> NeuralMetaResult:
    """Meta-train copies of the MLP and the embedding jointly (Algorithm 1, full batch).

    Args:
        model: the pre-trained MLP (θ0; left unchanged).
        embed: the initial embedding (φ0; left unchanged).
        x: (N, d) training states; dxdt: (N, d) their true derivatives.
        dt: Δt (s) of the Noether loss (the data's time step).
        inner_lr: λ > 0 of the inner step.
        epochs: outer steps (one per epoch, full batch).
        lr: Adam rate of θ (λ_out); embed_lr: Adam rate of φ (λ_emb); 0 keeps φ fixed
            (an embedding pretrained to be conserved, only θ meta-trained).
        scheme: the Noether loss's finite-difference scheme.
        max_step: cap ρ on the step's relative change of a prediction
            (:func:`~noether_search.neural.tailor.noether_predict`); None: no cap.
        plain_weight: w, the weight of the unadapted predictor's task loss in the outer
            loss (0: Algorithm 1's outer loss alone). The returned state is chosen by the
            post-step loss alone either way.
        normalise: the Noether loss's normalisation ("std", or "gradient": each
            component's change over its gradient's length; :mod:`~noether_search.neural.loss`).
        progress: called with 1 after each epoch.

    Returns:
        :class:`NeuralMetaResult` holding the state with the lowest post-step training loss.

    Raises:
        TypeError / ValueError: naming a bad argument.
    """
    start = time.perf_counter()
    _check(model, embed, inner_lr, epochs, lr, embed_lr, scheme, max_step, plain_weight)
    check_normalise(normalise)
    x, dxdt = as_pairs(x, dxdt, model, "meta_train")
    net, g = copy.deepcopy(model), copy.deepcopy(embed).to(x.dtype)
    for p in net.parameters():
        p.requires_grad_(True)
    for p in g.parameters():
        p.requires_grad_(embed_lr > 0)
    groups = [{"params": list(net.parameters()), "lr": lr}]
    if embed_lr > 0:
        groups.append({"params": list(g.parameters()), "lr": embed_lr})
    opt = torch.optim.Adam(groups)
    losses: list[float] = []
    best = (math.inf, 0, None)
    diverged = False
    for epoch in range(epochs + 1):        # the loss of state `epoch`, then a step from it
        scale = embedding_scale(g, x, differentiable=embed_lr > 0,
                                normalise=normalise)                         # (k,)
        pred = noether_predict(net, g, x, dt, inner_lr, scale, create_graph=True,
                               scheme=scheme, max_step=max_step,
                               normalise=normalise)                          # (N, d)
        loss = ((pred - dxdt) ** 2).mean()
        value = float(loss.detach())
        if not math.isfinite(value):
            diverged = True
            break
        losses.append(value)
        if value < best[0]:
            best = (value, epoch, (_snapshot(net), _snapshot(g)))
        if epoch == epochs:
            break
        opt.zero_grad(set_to_none=True)
        if plain_weight > 0:
            loss = loss + plain_weight * ((net(x) - dxdt) ** 2).mean()
        loss.backward()
        opt.step()
        if progress is not None:
            progress(1)
    model_state, embed_state = best[2]
    g.load_state_dict(embed_state)
    return NeuralMetaResult(
        model_state=model_state, embed_state=embed_state, inner_lr=float(inner_lr),
        scale=embedding_scale(g, x, normalise=normalise).double().numpy(),
        train_loss_history=np.asarray(losses[1:], dtype=np.float64),
        final_train_loss=best[0], initial_train_loss=losses[0] if losses else math.nan,
        best_epoch=best[1], diverged=diverged, seconds=time.perf_counter() - start)


def _snapshot(module: torch.nn.Module) -> dict[str, Tensor]:
    """A detached copy of a module's state dict."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}
