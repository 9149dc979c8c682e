"""The conservation loss: how much a law g changes over one step along a predicted derivative.

For a conservation law g: (B, d) → (B,) and a predicted derivative f, the loss on one example
is the change of g over one step of length Δt along f. The paper (§4.1) uses an explicit-Euler
step, ``scheme="forward"``:

    L_cons(x) = ((g(x) − g(x + f(x)·Δt)) / s)²

The default here is the centred step, ``scheme="central"``:

    L_cons(x) = ((g(x − f(x)·Δt/2) − g(x + f(x)·Δt/2)) / s)²

which has the same leading term (Δt ∇g·f)² but no O(Δt²) curvature bias: with the forward
step even the true dynamics violate conservation (the Euler step leaves the level set), so the
inner step pulls predictions away from the truth (measured in docs/TAILORING.md).

In both, ``s`` is the law's *scale*: the standard deviation of g over the training states
(:func:`law_scale`). Dividing by ``s`` makes the loss invariant to g → a·g + b, so ``p² − 3 cos q``
and ``2p² − 6 cos q + 1`` tailor identically, and one grid of inner learning rates suits every
law. ``s`` is fixed once per law from the training data and reused at test time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

#: A conservation law: a differentiable torch callable, states (B, d) -> values (B,).
LawFn = Callable[[Tensor], Tensor]

#: Finite-difference schemes for the conservation loss (see :func:`conservation_loss`).
SCHEMES: tuple[str, ...] = ("central", "forward")


def check_scheme(scheme: str) -> None:
    """Raise ValueError unless ``scheme`` is one of :data:`SCHEMES`."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme: expected one of {', '.join(map(repr, SCHEMES))}, got "
                         f"{scheme!r}")


def _eval_law(g: LawFn, x: Tensor) -> Tensor:
    """g(x) as a (B,) tensor; accepts a (B, 1) output.

    Raises:
        TypeError: if g does not return a tensor.
        ValueError: for any other output shape.
    """
    out = g(x)
    if not isinstance(out, Tensor):
        raise TypeError(f"law g: expected a torch.Tensor of shape ({x.shape[0]},), got "
                        f"{type(out).__name__}; write g with torch operations on x[:, i]")
    if out.shape == (x.shape[0], 1):
        out = out[:, 0]
    if out.shape != (x.shape[0],):
        raise ValueError(f"law g: expected output shape ({x.shape[0]},) for input "
                         f"{tuple(x.shape)}, got {tuple(out.shape)}; return one value per state")
    return out


def law_scale(g: LawFn, x: Tensor | np.ndarray) -> float:
    """The scale s of a law: the standard deviation of g over the (training) states x.

    Args:
        g: the conservation law, (B, d) -> (B,).
        x: (N, d) states, normally the training states.

    Returns:
        s > 0, a Python float.

    Raises:
        ValueError: if g is non-finite somewhere on x or constant on x (s = 0): such a law
            cannot tailor (a constant g has zero gradient), so there is nothing to scale.
    """
    with torch.no_grad():
        v = _eval_law(g, x if isinstance(x, Tensor) else torch.tensor(np.asarray(x))).double()
    if not bool(torch.isfinite(v).all()):
        bad = int((~torch.isfinite(v)).sum())
        raise ValueError(f"law g: non-finite on {bad} of {v.numel()} states; it cannot be "
                         "used as a tailoring loss on this data")
    s = float(v.std()) if v.numel() > 1 else 0.0
    if not s > 1e-12 * max(1.0, float(v.abs().max())):
        raise ValueError("law g: constant on the given states (std 0); a constant law cannot "
                         "tailor, drop it")
    return s


def conservation_loss(g: LawFn, x: Tensor, f: Tensor, dt: float, g_scale: float,
                      scheme: str = "central") -> Tensor:
    """Per-example conservation loss: the squared change of g/s over one step of length Δt.

    ``scheme="forward"`` is the paper's ((g(x) − g(x + f·Δt)) / s)². ``scheme="central"``
    is ((g(x − f·Δt/2) − g(x + f·Δt/2)) / s)²: the same first-order term Δt·∇g·f, but without
    the O(Δt²) curvature term ½Δt² fᵀ∇²g f, which for the true invariant is *not* zero and
    pulls the prediction off the true field (docs/TAILORING.md).

    Args:
        g: the conservation law, (B, d) -> (B,).
        x: (B, d) current states.
        f: (..., B, d) predicted time derivatives dx/dt (leading dims broadcast).
        dt: Δt, the data's time step (s).
        g_scale: s, from :func:`law_scale` on the training states.
        scheme: "central" (default) or "forward".

    Returns:
        (..., B) loss per example.
    """
    check_scheme(scheme)
    d = x.shape[-1]
    if scheme == "forward":
        y = x + f * dt                                    # (..., B, d) Euler step
        gy = _eval_law(g, y.reshape(-1, d)).reshape(y.shape[:-1])
        with torch.no_grad():
            gx = _eval_law(g, x)                           # (B,) data only, no θ dependence
        return ((gx - gy) / g_scale) ** 2
    half = f * (dt / 2)                                   # (..., B, d)
    ends = torch.stack(torch.broadcast_tensors(x - half, x + half))   # (2, ..., B, d)
    gv = _eval_law(g, ends.reshape(-1, d)).reshape(ends.shape[:-1])  # (2, ..., B)
    return ((gv[0] - gv[1]) / g_scale) ** 2
