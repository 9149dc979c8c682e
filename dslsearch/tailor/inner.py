"""The inner (tailoring) step: one gradient step of φ on a conservation loss, per example.

For a conservation law g: (B, d) → (B,) and the MLP's predicted derivative f = f_{θ,φ}(x), the
loss on one example is the change of g over one step of length Δt along f. The paper
(§4.1; REFERENCE item 7) uses an explicit-Euler step, ``scheme="forward"``:

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

The inner step starts from the identity φ0 of the CN layers (:mod:`.cnmlp`) and takes

    φ'_i = φ0 − λ ∇_{φ_i} L_cons(x_i)        (each example i its own φ'_i)

then predicts f_{θ,φ'}(x). With ``create_graph=True`` the result is differentiable with
respect to θ through the step (second order, as in MAML), for meta-training.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from .cnmlp import CNParams, check_mlp, cn_forward, cn_step, first_hidden, identity_cn

#: A conservation law: a differentiable torch callable, states (B, d) -> values (B,).
Law = Callable[[Tensor], Tensor]


def as_model_tensor(a: Tensor | np.ndarray, model: torch.nn.Module) -> Tensor:
    """``a`` as a tensor in the model's dtype and device (numpy arrays are copied, so
    read-only arrays such as a Dataset's are fine)."""
    w = model.linear1.weight
    if isinstance(a, Tensor):
        return a.to(dtype=w.dtype, device=w.device)
    return torch.tensor(np.asarray(a), dtype=w.dtype, device=w.device)


def as_pairs(x: Tensor | np.ndarray, dxdt: Tensor | np.ndarray, model: torch.nn.Module,
             who: str) -> tuple[Tensor, Tensor]:
    """``(x, dxdt)`` as model tensors, checked to be both (N, d).

    Raises:
        ValueError: naming the caller ``who`` and the shapes received.
    """
    x = as_model_tensor(x, model)
    dxdt = as_model_tensor(dxdt, model)
    if x.ndim != 2 or x.shape != dxdt.shape:
        raise ValueError(f"{who}: x and dxdt must both be (N, d); got {tuple(x.shape)} and "
                         f"{tuple(dxdt.shape)}")
    return x, dxdt


def _eval_law(g: Law, x: Tensor) -> Tensor:
    """g(x) as a (B,) tensor; accepts a (B, 1) output. Raises ValueError on other shapes."""
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


def law_scale(g: Law, x: Tensor | np.ndarray) -> float:
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


#: Finite-difference schemes for the conservation loss (see :func:`conservation_loss`).
SCHEMES: tuple[str, ...] = ("central", "forward")


def check_scheme(scheme: str) -> None:
    """Raise ValueError unless ``scheme`` is one of :data:`SCHEMES`."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme: expected one of {', '.join(map(repr, SCHEMES))}, got "
                         f"{scheme!r}")


def conservation_loss(g: Law, x: Tensor, f: Tensor, dt: float, g_scale: float,
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
            gx = _eval_law(g, x)                          # (B,) data only, no θ dependence
        return ((gx - gy) / g_scale) ** 2
    half = f * (dt / 2)                                   # (..., B, d)
    ends = torch.stack(torch.broadcast_tensors(x - half, x + half))   # (2, ..., B, d)
    gv = _eval_law(g, ends.reshape(-1, d)).reshape(ends.shape[:-1])  # (2, ..., B)
    return ((gv[0] - gv[1]) / g_scale) ** 2


def inner_adapt(model: torch.nn.Module, g: Law, x: Tensor, dt: float, g_scale: float, *,
                create_graph: bool = False,
                scheme: str = "central") -> tuple[CNParams, tuple[Tensor, ...], Tensor]:
    """Per-example gradients of the conservation loss with respect to φ at the identity.

    One backward pass of the *summed* loss: row i of each gradient is example i's own
    gradient, because row i of φ only affects example i.

    Args:
        model: the baseline MLP (θ).
        g: the conservation law.
        x: (B, d) states.
        dt: Δt (s).
        g_scale: the law's scale s.
        create_graph: keep the graph of the gradients (for second-order meta-training).
        scheme: finite-difference scheme of the loss (:func:`conservation_loss`).

    Returns:
        (φ0, ∇φ L, h1): the identity CNParams (B, H), the four gradients (B, H), and the
        shared first hidden activation (B, H1).
    """
    check_mlp(model)
    with torch.enable_grad():
        phi0 = identity_cn(model, x.shape[0], requires_grad=True)
        h1 = first_hidden(model, x)                       # (B, H1)
        f0 = cn_forward(model, x, phi0, h1=h1)            # (B, d)
        loss = conservation_loss(g, x, f0, dt, g_scale, scheme).sum()
        if loss.requires_grad:
            grads = torch.autograd.grad(loss, tuple(phi0), create_graph=create_graph,
                                        allow_unused=True, materialize_grads=True)
        else:                                             # g ignores its input
            grads = tuple(torch.zeros_like(p) for p in phi0)
    return phi0, grads, h1


def tailored_predict_autograd(model: torch.nn.Module, g: Law, x: Tensor, dt: float,
                              inner_lr: float | Tensor, g_scale: float, *,
                              create_graph: bool = False, scheme: str = "central") -> Tensor:
    """Reference CNGrad: the same result as :func:`tailored_predict`, by generic autograd.

    Builds φ0, differentiates the summed loss with respect to it, steps, and runs
    :func:`~.cnmlp.cn_forward` again. Slower (about twice the element-wise work); kept as the
    definition that the closed form of :func:`tailored_predict` is tested against.
    Arguments and return value as for :func:`tailored_predict`.
    """
    x = x.to(model.linear1.weight.dtype)
    phi0, grads, h1 = inner_adapt(model, g, x, dt, g_scale, create_graph=create_graph,
                                   scheme=scheme)
    if not create_graph:
        grads = tuple(gr.detach() for gr in grads)
        phi0 = CNParams(*(p.detach() for p in phi0))
    phi1 = cn_step(phi0, grads, inner_lr)
    with torch.enable_grad() if create_graph else torch.no_grad():
        return cn_forward(model, x, phi1, h1=h1 if create_graph else h1.detach())


class Hidden(NamedTuple):
    """The MLP's forward pass at φ0 with its intermediate values (see :func:`hidden_states`)."""

    h1: Tensor  # (B, H1) tanh(linear1(x))
    z2: Tensor  # (B, H2) linear2(h1), pre-activation
    h2: Tensor  # (B, H2) tanh(z2)
    f0: Tensor  # (B, d)  linear3(h2) = model(x)


def hidden_states(model: torch.nn.Module, x: Tensor) -> Hidden:
    """The MLP's forward pass at φ0, keeping the intermediate values.

    Args:
        x: (B, d) states.

    Returns:
        Hidden(h1, z2, h2, f0).
    """
    h1 = torch.tanh(model.linear1(x))                     # (B, H1)
    z2 = model.linear2(h1)                                # (B, H2)
    h2 = torch.tanh(z2)                                   # (B, H2)
    return Hidden(h1, z2, h2, model.linear3(h2))          # f0: (B, d)


def loss_grad_f(g: Law, x: Tensor, f0: Tensor, dt: float, g_scale: float, scheme: str, *,
                create_graph: bool = False) -> Tensor:
    """∇_f of the summed conservation loss at f = f0: row i is example i's own gradient.

    Args:
        x: (B, d) states; f0: (B, d) predictions (part of θ's graph when create_graph).
        create_graph: keep the dependence of the result on f0 (hence on θ).

    Returns:
        (B, d); zeros if g does not depend on its input.
    """
    with torch.enable_grad():
        f = f0 if create_graph else f0.detach().requires_grad_(True)
        loss = conservation_loss(g, x, f, dt, g_scale, scheme).sum()
        if not loss.requires_grad:                        # g ignores its input
            return torch.zeros_like(f0)
        (v,) = torch.autograd.grad(loss, f, create_graph=create_graph, allow_unused=True,
                                   materialize_grads=True)
    return v


def adapted_forward(model: torch.nn.Module, hid: Hidden, v: Tensor,
                    inner_lr: float | Tensor) -> Tensor:
    """f_{θ,φ'}(x) after one CNGrad step from the identity, in closed form.

    With u2 = ∂L/∂a2 = v·W3 and u1 = ∂L/∂a1 = (u2 ⊙ (1 − h2²))·W2 (backpropagation at φ0),
    the CN gradients are ∇β = u and ∇γ = u ⊙ h, so the stepped activations are

        a1' = (1 − λ u1 ⊙ h1) ⊙ h1 − λ u1     = h1 − λ u1 ⊙ (1 + h1²)
        z2' = linear2(a1')                     = z2 − λ (u1 ⊙ (1 + h1²))·W2ᵀ
        h2' = tanh(z2')
        a2' = (1 − λ u2 ⊙ h2) ⊙ h2' − λ u2    = h2' − λ u2 ⊙ (1 + h2 ⊙ h2')
        f'  = linear3(a2')

    which is exactly :func:`~.cnmlp.cn_forward` at φ' = φ0 − λ∇φL. Since z2' is affine in λ,
    K learning rates cost one H×H product, not K: the rest is element-wise.

    Args:
        hid: the forward pass at φ0 (:func:`hidden_states`).
        v: (B, d) ∇_f L at φ0 (:func:`loss_grad_f`).
        inner_lr: λ, a float, a 0-d tensor, or a (K,) tensor of rates.

    Returns:
        (B, d), or (K, B, d) for a (K,) ``inner_lr``.
    """
    lam = inner_lr
    if isinstance(lam, Tensor) and lam.ndim == 1:
        lam = lam[:, None, None]                          # (K, 1, 1)
    h1, z2, h2 = hid.h1, hid.z2, hid.h2
    u2 = v @ model.linear3.weight                         # (B, H2)
    u1 = (u2 * (1 - h2 * h2)) @ model.linear2.weight      # (B, H1)
    dz2 = ((1 + h1 * h1) * u1) @ model.linear2.weight.T   # (B, H2)
    h2p = torch.tanh(z2 - lam * dz2)                      # (..., B, H2)
    a2 = h2p - lam * ((1 + h2 * h2p) * u2)                # (..., B, H2)
    return model.linear3(a2)                              # (..., B, d)


def tailored_predict(model: torch.nn.Module, g: Law, x: Tensor, dt: float,
                     inner_lr: float | Tensor, g_scale: float, *,
                     create_graph: bool = False, scheme: str = "central") -> Tensor:
    """Adapt φ per example by one step on the conservation loss, then predict f_{θ,φ'}(x).

    Args:
        model: the baseline MLP (θ); its parameters are not modified.
        g: the conservation law, (B, d) -> (B,).
        x: (B, d) states (cast to the model's dtype).
        dt: Δt (s) used in the step of the loss.
        inner_lr: λ, a float or a 0-d tensor (a learned rate), or a (K,) tensor of rates.
        g_scale: the law's scale s (:func:`law_scale` on the training states).
        create_graph: differentiate through the inner step (second-order meta-training);
            otherwise the result is computed without a graph.
        scheme: finite-difference scheme of the loss (:func:`conservation_loss`).

    Returns:
        (B, d) adapted predictions, or (K, B, d) for a (K,) ``inner_lr``.
    """
    check_mlp(model)
    x = x.to(model.linear1.weight.dtype)
    with torch.enable_grad() if create_graph else torch.no_grad():
        hid = hidden_states(model, x)
    v = loss_grad_f(g, x, hid.f0, dt, g_scale, scheme, create_graph=create_graph)
    with torch.enable_grad() if create_graph else torch.no_grad():
        return adapted_forward(model, hid, v, inner_lr)


class TailoredField:
    """The tailored vector field x ↦ f_{θ,φ'(x)}(x): adapt per query, then predict.

    Meant for a rollout integrator that calls it at every step with a batch of states. Works
    inside or outside ``torch.no_grad`` (it enables grad internally for the inner step) and
    never accumulates gradients in the model.

    Args:
        model: the (meta-tailored) MLP.
        g: the conservation law, (B, d) -> (B,).
        dt: Δt (s) of the conservation loss: the *training data's* time step, whatever step
            the integrator takes.
        inner_lr: λ.
        g_scale: the law's scale s from the training states (:func:`law_scale`).
        scheme: finite-difference scheme of the loss; must match the one used for training.
    """

    def __init__(self, model: torch.nn.Module, g: Law, dt: float, inner_lr: float,
                 g_scale: float, *, scheme: str = "central") -> None:
        check_scheme(scheme)
        self.model = model
        self.g = g
        self.dt = float(dt)
        self.inner_lr = float(inner_lr)
        self.g_scale = float(g_scale)
        self.scheme = scheme

    def __call__(self, x: Tensor) -> Tensor:
        """Tailored derivatives for a batch of states.

        Args:
            x: (B, d) states, any float dtype.

        Returns:
            (B, d) detached predictions in the dtype of ``x``.
        """
        if x.ndim != 2:
            raise ValueError(f"TailoredField: expected states of shape (B, d), got "
                             f"{tuple(x.shape)}; add a batch dimension with x[None]")
        pred = tailored_predict(self.model, self.g, x.detach(), self.dt, self.inner_lr,
                                self.g_scale, scheme=self.scheme)
        return pred.detach().to(x.dtype)
