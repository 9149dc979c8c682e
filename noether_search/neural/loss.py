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

With ``normalise="gradient"`` each component's change is instead divided by the length of
its own gradient at the state, times a length ℓ_j fixed over the states:

    L_Noether(x) = Σ_j ((g_j(x − f·Δt/2) − g_j(x + f·Δt/2)) / (|∇_x g_j(x)| · ℓ_j))²
    ℓ_j = s_j / sqrt(mean over the training states of |∇_x g_j|²)

For one component this is (to first order in Δt) the squared distance the step moves
across the level set of g_j, in units of ℓ_j: invariant, state by state, to any smooth
monotone warp g_j → h(g_j) up to the one constant ℓ, where the default loss weighs each
state by h'(g_j)². ℓ keeps the mean weight of the default loss, so the same inner rates
suit both.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from noether_search.model.conservation import check_scheme

NORMALISE = ("std", "gradient")


def check_normalise(normalise: str) -> None:
    """Raise ValueError unless ``normalise`` is one of :data:`NORMALISE`."""
    if normalise not in NORMALISE:
        raise ValueError(f"normalise: expected one of {NORMALISE}, got {normalise!r}")


def _grad_norm(g, x: Tensor) -> Tensor:
    """|∇_x g_j(x)| per state and component, (B, d) -> (B, k); with its graph to g's
    weights (and to x when x has one) where gradients are enabled, detached otherwise."""
    keep = torch.is_grad_enabled()
    with torch.enable_grad():
        xx = x if x.requires_grad else x.detach().requires_grad_(True)
        out = _embed(g, xx)                               # (B, k)
        norms = [torch.autograd.grad(out[:, j].sum(), xx, create_graph=keep,
                                     retain_graph=True)[0].norm(dim=-1)
                 for j in range(out.shape[1])]
    norms = torch.stack(norms, dim=-1)                    # (B, k)
    return norms if keep else norms.detach()


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


def embedding_scale(g, x: Tensor | np.ndarray, *, differentiable: bool = False,
                    normalise: str = "std") -> Tensor:
    """The scale s of each component: its standard deviation over the states x; with
    ``normalise="gradient"`` the length ℓ_j = s_j / sqrt(mean_x |∇g_j(x)|²) (state units).

    Args:
        g: the embedding, (B, d) -> (B, k).
        x: (N, d) states, normally the training states.
        differentiable: keep the graph to φ (meta-training recomputes s at every step and
            differentiates through it); otherwise a detached tensor.

    Returns:
        (k,) tensor, floored at 1e-8 so a component that is constant on x (no gradient, no
        use) cannot divide by zero.
    """
    check_normalise(normalise)
    x = x if isinstance(x, Tensor) else torch.tensor(np.asarray(x), dtype=torch.float32)
    with torch.enable_grad() if differentiable else torch.no_grad():
        v = _embed(g, x)                                  # (N, k)
        s = v.std(dim=0) if v.shape[0] > 1 else torch.ones_like(v[0])
        if normalise == "gradient":
            rms = _grad_norm(g, x).pow(2).mean(dim=0).sqrt().clamp_min(1e-12)   # (k,)
            s = s / (rms if differentiable else rms.detach())
        return s.clamp_min(1e-8) if differentiable else s.clamp_min(1e-8).detach()


def noether_loss(g, x: Tensor, f: Tensor, dt: float, scale: Tensor,
                 scheme: str = "central", normalise: str = "std") -> Tensor:
    """Per-example Noether loss: the squared, scaled change of g_φ over one step along f.

    Args:
        g: the embedding, (B, d) -> (B, k) (or (B,) for k = 1).
        x: (B, d) current states.
        f: (..., B, d) predicted time derivatives dx/dt (leading dims broadcast).
        dt: Δt, the data's time step (s).
        scale: (k,) scales s from :func:`embedding_scale`.
        scheme: "central" (default) or "forward".
        normalise: "std" (default): divide by ``scale`` s; "gradient": by
            |∇_x g_j(x)| · ``scale`` ℓ (module docstring), the scale of the same mode of
            :func:`embedding_scale`.

    Returns:
        (..., B) loss per example, summed over the k components.
    """
    check_scheme(scheme)
    check_normalise(normalise)
    d = x.shape[-1]
    if normalise == "gradient":
        scale = scale * _grad_norm(g, x).clamp_min(1e-12)  # (B, k)
    if scheme == "forward":
        y = x + f * dt                                    # (..., B, d) Euler step
        gy = _embed(g, y.reshape(-1, d)).reshape(*y.shape[:-1], -1)   # (..., B, k)
        gx = _embed(g, x)                                 # (B, k) no θ, but φ dependence
        return (((gx - gy) / scale) ** 2).sum(-1)
    half = f * (dt / 2)                                   # (..., B, d)
    ends = torch.stack(torch.broadcast_tensors(x - half, x + half))   # (2, ..., B, d)
    gv = _embed(g, ends.reshape(-1, d)).reshape(*ends.shape[:-1], -1)  # (2, ..., B, k)
    return (((gv[0] - gv[1]) / scale) ** 2).sum(-1)
