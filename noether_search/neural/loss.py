"""The Noether loss of a learned embedding: how much g_φ changes over one predicted step.

For the embedding g_φ: (B, d) → (B, k) and a predicted derivative f, the loss of one example
is the squared change of every component over one step of length Δt along f, each divided
by that component's scale s_j (its standard deviation over the training states):

    L_Noether(x) = Σ_j ((g_j(x − f·Δt/2) − g_j(x + f·Δt/2)) / s_j)²     (scheme="central")
    L_Noether(x) = Σ_j ((g_j(x) − g_j(x + f·Δt)) / s_j)²                (scheme="forward")

the paper's Eq. 2(b) for one step of a derivative predictor (§4.1), and with k = 1 exactly
:func:`noether_search.model.conservation.conservation_loss` of the law g_1. Dividing by s
makes the loss invariant to g_j → a·g_j + b, so the inner learning rate means the same for
every embedding during meta-training, when g_φ changes, as it does for a symbolic law.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from noether_search.model.conservation import check_scheme


def _embed(g, x: Tensor) -> Tensor:
    """g(x) as (B, k): a (B,) output is one component.

    Raises:
        ValueError: for any other output shape.
    """
    out = g(x)
    if out.ndim == 1:
        out = out[:, None]
    if out.ndim != 2 or out.shape[0] != x.shape[0]:
        raise ValueError(f"embedding g: expected output shape ({x.shape[0]}, k) for input "
                         f"{tuple(x.shape)}, got {tuple(out.shape)}")
    return out


def embedding_scale(g, x: Tensor | np.ndarray, *, differentiable: bool = False) -> Tensor:
    """The scale s of each component: its standard deviation over the states x.

    Args:
        g: the embedding, (B, d) -> (B, k).
        x: (N, d) states, normally the training states.
        differentiable: keep the graph to φ (meta-training recomputes s at every step and
            differentiates through it); otherwise a detached tensor.

    Returns:
        (k,) tensor, floored at 1e-8 so a component that is constant on x (no gradient, no
        use) cannot divide by zero.
    """
    x = x if isinstance(x, Tensor) else torch.tensor(np.asarray(x), dtype=torch.float32)
    with torch.enable_grad() if differentiable else torch.no_grad():
        v = _embed(g, x)                                  # (N, k)
        s = v.std(dim=0) if v.shape[0] > 1 else torch.ones_like(v[0])
        return s.clamp_min(1e-8)


def noether_loss(g, x: Tensor, f: Tensor, dt: float, scale: Tensor,
                 scheme: str = "central") -> Tensor:
    """Per-example Noether loss: the squared, scaled change of g_φ over one step along f.

    Args:
        g: the embedding, (B, d) -> (B, k) (or (B,) for k = 1).
        x: (B, d) current states.
        f: (..., B, d) predicted time derivatives dx/dt (leading dims broadcast).
        dt: Δt, the data's time step (s).
        scale: (k,) scales s from :func:`embedding_scale`.
        scheme: "central" (default) or "forward".

    Returns:
        (..., B) loss per example, summed over the k components.
    """
    check_scheme(scheme)
    d = x.shape[-1]
    if scheme == "forward":
        y = x + f * dt                                    # (..., B, d) Euler step
        gy = _embed(g, y.reshape(-1, d)).reshape(*y.shape[:-1], -1)   # (..., B, k)
        gx = _embed(g, x)                                 # (B, k) no θ, but φ dependence
        return (((gx - gy) / scale) ** 2).sum(-1)
    half = f * (dt / 2)                                   # (..., B, d)
    ends = torch.stack(torch.broadcast_tensors(x - half, x + half))   # (2, ..., B, d)
    gv = _embed(g, ends.reshape(-1, d)).reshape(*ends.shape[:-1], -1)  # (2, ..., B, k)
    return (((gv[0] - gv[1]) / scale) ** 2).sum(-1)
