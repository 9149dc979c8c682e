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

The data also hold the time derivative ẋ at each state, and a conserved g satisfies
∇g(x)·ẋ = 0: its level sets contain the flow. With ``flow_weight`` w > 0 the objective
gains w times the flow-alignment loss (:func:`flow_alignment`),

    A(φ) = Σ_j mean_i ((∇g_j(x_i)·ẋ_i) / (|∇g_j(x_i)|·|ẋ_i| + ε))²,

the squared cosine between each component's gradient and the flow: 0 for a conserved g, 1
where the flow runs straight across its level sets, invariant to g_j → h(g_j) for any
monotone h (the gradient's length cancels). It measures directly how far the level sets
cross the true flow, which the ratio, built from states alone, sees only through the finite
sampling of each trajectory. A alone is minimised by a constant g (0/ε); the ratio keeps
g different on different trajectories. The flow term joins after the first quarter of the
steps, once the ratio has made g a function of the invariant: from a random g, with both
from the start, a component can settle where the flow crosses its level sets everywhere
(measured on the pendulum: a crossing of 0.4–0.5 state units/s against 0.003 with the
late start).
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
        loss_history: (epochs + 1,) the loss L(φ) before each step and after the last (with
            a flow weight, L + w·A from the step the flow term joins).
        initial_loss, final_loss: L of the input and of the returned state (dimensionless,
            summed over the k components, so in [0, k]; plus w·A with a flow weight, for
            the returned state, and for the input only when the flow term is on from the
            start).
        best_epoch: the epoch whose state is returned (0 = the input; with a flow weight,
            one from the step the flow term joins).
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


def flow_alignment(z_grad: Tensor, dxdt: Tensor, eps: float = 1e-8) -> Tensor:
    """The flow-alignment loss A from the embedding's input gradients.

    Args:
        z_grad: (k, N, d) ∇_x g_j at the N states, one slice per component j.
        dxdt: (N, d) the time derivative of the state at the same states (state units/s).
        eps: added to |∇g_j|·|ẋ| (a state at rest or a flat g_j counts 0).

    Returns:
        0-d tensor, Σ_j mean_i cos²(∇g_j(x_i), ẋ_i), in [0, k]; differentiable in z_grad.
    """
    dot = (z_grad * dxdt).sum(-1)                                                # (k, N)
    norm = z_grad.norm(dim=-1) * dxdt.norm(dim=-1) + eps                        # (k, N)
    return ((dot / norm) ** 2).mean(dim=1).sum()


def embedding_gradients(g, x: Tensor, create_graph: bool = False) -> Tensor:
    """(k, N, d) ∇_x g_j(x) for each component j of g at the states x (N, d)."""
    x = x.detach().requires_grad_(True)
    z = g(x)                                                                      # (N, k)
    return torch.stack([torch.autograd.grad(z[:, j].sum(), x, create_graph=create_graph,
                                            retain_graph=True)[0]
                        for j in range(z.shape[1])])


def flow_crossing(g, x, dxdt) -> np.ndarray:
    """(k,) RMS over the states of the flow's component across each component's level sets,
    (∇g_j/|∇g_j|)·ẋ, in state units/s: 0 for a conserved g. x, dxdt: (N, d)."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    f = torch.as_tensor(np.asarray(dxdt), dtype=torch.float32)
    grads = embedding_gradients(g, x)                                             # (k, N, d)
    across = (grads * f).sum(-1) / grads.norm(dim=-1).clamp_min(1e-12)            # (k, N)
    return across.pow(2).mean(dim=1).sqrt().detach().numpy()


def pretrain_embedding(embed: Embedding, trajectories, *, epochs: int = 500,
                       lr: float = 1e-2, derivatives=None,
                       flow_weight: float = 0.0) -> PretrainResult:
    """Train a copy of g_φ to be conserved along the given trajectories (full-batch Adam on
    :func:`conservation_ratio`, plus ``flow_weight`` times :func:`flow_alignment`).

    Args:
        embed: the initial embedding (left unchanged).
        trajectories: sequence of (n_t, d) state arrays, two or more, each with n_t >= 2.
        epochs: Adam steps (0: the input is returned).
        lr: Adam learning rate.
        derivatives: sequence of (n_t, d) time derivatives at those states (state units/s);
            needed with ``flow_weight`` > 0, ignored otherwise.
        flow_weight: w >= 0, the weight of the flow-alignment loss (0: the ratio alone).

    Returns:
        :class:`PretrainResult`, deterministic for a given input embedding.

    Raises:
        ValueError: fewer than two trajectories, one shorter than 2 samples, a shape other
            than (n_t, embed.dim), non-finite states, epochs < 0, lr <= 0, flow_weight < 0,
            or flow_weight > 0 without derivatives of the trajectories' shapes.
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
    f = _derivatives(xs, derivatives, flow_weight)
    dtype = embed.input_shift.dtype
    x = torch.tensor(np.concatenate(xs), dtype=dtype)                         # (N, d)
    f = None if f is None else torch.tensor(f, dtype=dtype)                   # (N, d)
    labels = torch.cat([torch.full((len(t),), i, dtype=torch.int64) for i, t in enumerate(xs)])
    g = copy.deepcopy(embed)
    opt = torch.optim.Adam(g.parameters(), lr=lr)
    history = []
    best = (math.inf, 0, {k: v.detach().clone() for k, v in g.state_dict().items()})
    flow_start = epochs // 4 if f is not None else epochs + 1
    for epoch in range(epochs + 1):
        loss = conservation_ratio(g(x), labels, len(xs))
        if epoch >= flow_start:
            loss = loss + flow_weight * flow_alignment(
                embedding_gradients(g, x, create_graph=True), f)
        value = float(loss.detach())
        if not math.isfinite(value):
            break
        history.append(value)
        if epoch == flow_start:       # the objective changed: compare from here on
            best = (math.inf, epoch, best[2])
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


def _derivatives(xs: list[np.ndarray], derivatives, flow_weight: float) -> np.ndarray | None:
    """(N, d) the derivatives concatenated as the states are, or None with flow_weight 0."""
    if not (flow_weight >= 0 and math.isfinite(flow_weight)):
        raise ValueError(f"pretrain_embedding: flow_weight must be a number >= 0, got "
                         f"{flow_weight!r}")
    if flow_weight == 0:
        return None
    fs = [] if derivatives is None else [np.asarray(t, dtype=np.float64) for t in derivatives]
    if len(fs) != len(xs) or any(f.shape != x.shape or not np.isfinite(f).all()
                                 for f, x in zip(fs, xs)):
        raise ValueError(f"pretrain_embedding: flow_weight > 0 needs finite derivatives of "
                         f"the trajectories' shapes {[x.shape for x in xs]}, got "
                         f"{None if derivatives is None else [f.shape for f in fs]}; pass "
                         f"derivatives= or flow_weight=0")
    return np.concatenate(fs)
