"""Conservation pretraining of the embedding: make g_φ constant along each training trajectory.

Before meta-training, g_φ can be trained to be conserved by the true dynamics, whose
trajectories the data holds, with the scale-invariant objective of ConservNet (Ha & Jeong
2021): the variance of each component along the trajectories over its variance across all
the training states,

    L(φ) = Σ_j  W_j / T_j,
    W_j  = (1/N) Σ_t Σ_{i ∈ t} (g_j(x_i) − ḡ_j,t)²      within trajectories (ḡ_j,t: mean on t)
    T_j  = (1/N) Σ_i (g_j(x_i) − ḡ_j)²                  over all N states

0 ≤ L_j ≤ 1, L_j = 1 for a g_j that carries nothing of the trajectory it is on and 0 for
one that is constant on every trajectory and differs between them: a conserved quantity
that is not trivially constant (a constant g_j has T_j = 0; the ratio is undefined there
and never approached by gradient descent, since it makes L_j → 1, not 0). It is invariant to
g_j → a·g_j + b, as the Noether loss is. On a system with one invariant, such as a
one-degree-of-freedom pendulum, every minimiser is a function of that invariant.

It needs two training trajectories or more (with one, W = T).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from noether_search.neural.embedding import Embedding


@dataclass(frozen=True)
class PretrainResult:
    """Outcome of :func:`pretrain_embedding`.

    Attributes:
        embed_state: state dict of the pretrained embedding (detached, cloned): the epoch
            with the lowest loss (the start included).
        loss_history: (epochs + 1,) the loss L(φ) before each step and after the last.
        initial_loss, final_loss: L of the input and of the returned state (dimensionless,
            summed over the k components, so in [0, k]).
        best_epoch: the epoch whose state is returned (0 = the input).
        seconds: wall time.
    """

    embed_state: dict[str, Tensor]
    loss_history: np.ndarray
    initial_loss: float
    final_loss: float
    best_epoch: int
    seconds: float


def conservation_ratio(z: Tensor, labels: Tensor, n_groups: int) -> Tensor:
    """The objective L: Σ_j within-trajectory over total variance of z[:, j].

    Args:
        z: (N, k) embedding values on the training states.
        labels: (N,) int64 trajectory index of each state, in 0..n_groups − 1.
        n_groups: number of trajectories.

    Returns:
        0-d tensor (differentiable in z); the total variance is floored at 1e-12.
    """
    counts = torch.bincount(labels, minlength=n_groups).to(z.dtype)[:, None]      # (T, 1)
    sums = torch.zeros(n_groups, z.shape[1], dtype=z.dtype).index_add(0, labels, z)
    means = sums / counts.clamp_min(1)                                             # (T, k)
    within = ((z - means[labels]) ** 2).mean(dim=0)                                # (k,)
    total = ((z - z.mean(dim=0)) ** 2).mean(dim=0).clamp_min(1e-12)                # (k,)
    return (within / total).sum()


def pretrain_embedding(embed: Embedding, trajectories, *, epochs: int = 500,
                       lr: float = 1e-2) -> PretrainResult:
    """Train a copy of g_φ to be conserved along the given trajectories (full-batch Adam on
    :func:`conservation_ratio`).

    Args:
        embed: the initial embedding (left unchanged).
        trajectories: sequence of (n_t, d) state arrays, two or more, each with n_t >= 2.
        epochs: Adam steps (0: the input is returned).
        lr: Adam learning rate.

    Returns:
        :class:`PretrainResult`, deterministic for a given input embedding.

    Raises:
        ValueError: fewer than two trajectories, one shorter than 2 samples, a shape other
            than (n_t, embed.dim), non-finite states, or epochs < 0 or lr <= 0.
    """
    start = time.perf_counter()
    xs = [np.asarray(t, dtype=np.float64) for t in trajectories]
    if len(xs) < 2 or any(x.ndim != 2 or x.shape[0] < 2 or x.shape[1] != embed.dim
                          or not np.isfinite(x).all() for x in xs):
        raise ValueError(f"pretrain_embedding: expected two or more finite trajectories of "
                         f"shape (n >= 2, {embed.dim}), got shapes "
                         f"{[x.shape for x in xs]}")
    if epochs < 0 or not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"pretrain_embedding: epochs must be >= 0 and lr a positive number, "
                         f"got epochs={epochs!r}, lr={lr!r}")
    dtype = embed.input_shift.dtype
    x = torch.tensor(np.concatenate(xs), dtype=dtype)                         # (N, d)
    labels = torch.cat([torch.full((len(t),), i, dtype=torch.int64) for i, t in enumerate(xs)])
    g = copy.deepcopy(embed)
    opt = torch.optim.Adam(g.parameters(), lr=lr)
    history = []
    best = (math.inf, 0, {k: v.detach().clone() for k, v in g.state_dict().items()})
    for epoch in range(epochs + 1):
        loss = conservation_ratio(g(x), labels, len(xs))
        value = float(loss.detach())
        if not math.isfinite(value):
            break
        history.append(value)
        if value < best[0]:
            best = (value, epoch, {k: v.detach().clone() for k, v in g.state_dict().items()})
        if epoch == epochs:
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return PretrainResult(embed_state=best[2], loss_history=np.asarray(history),
                          initial_loss=history[0] if history else math.nan,
                          final_loss=best[0], best_epoch=best[1],
                          seconds=time.perf_counter() - start)
