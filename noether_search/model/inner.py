"""The inner (tailoring) step: one gradient step of φ on the conservation loss, per example.

The step starts from the identity φ0 of the MLP's CN parameters and takes

    φ'_i = φ0 − λ ∇_{φ_i} L_cons(x_i)        (each example i its own φ'_i)

then predicts f_{θ,φ'}(x) (:class:`~noether_search.model.mlp.MLP` with ``phi``). With
``create_graph=True`` the result is differentiable with respect to θ through the step (second
order, as in MAML), for meta-training. :func:`tailored_predict` computes the step in closed
form; :func:`tailored_predict_autograd` is the generic definition it is tested against.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from noether_search.model.cn import CNParams
from noether_search.model.conservation import LawFn, check_scheme, conservation_loss
from noether_search.model.mlp import MLP, Activations


def check_model(model: torch.nn.Module) -> None:
    """Raise TypeError unless ``model`` is the MLP (tailoring needs its declared layers)."""
    if not isinstance(model, MLP):
        raise TypeError(f"model: expected a noether_search.model.MLP, got "
                        f"{type(model).__name__}; tailoring adapts the MLP's CN parameters, "
                        "so build the network with MLP(dim, hidden)")


def as_model_tensor(a: Tensor | np.ndarray, model: MLP) -> Tensor:
    """``a`` as a tensor in the model's dtype and device (numpy arrays are copied, so
    read-only arrays such as a Dataset's are fine)."""
    w = model.readout.weight
    if isinstance(a, Tensor):
        return a.to(dtype=w.dtype, device=w.device)
    return torch.tensor(np.asarray(a), dtype=w.dtype, device=w.device)


def as_pairs(x: Tensor | np.ndarray, dxdt: Tensor | np.ndarray, model: MLP,
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


def loss_grad_f(g: LawFn, x: Tensor, f0: Tensor, dt: float, g_scale: float, scheme: str, *,
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


def adapted_forward(model: MLP, acts: Activations, v: Tensor,
                    inner_lr: float | Tensor) -> Tensor:
    """f_{θ,φ'}(x) after one CNGrad step from the identity, in closed form.

    Backpropagation at φ0 gives u_l = ∂L/∂a_l: u_L = v·W_out and u_{l−1} = (u_l ⊙ (1 − h_l²))·W_l.
    The CN gradients are ∇β_l = u_l and ∇γ_l = u_l ⊙ h_l, so the stepped activations are

        a_l' = (1 − λ u_l ⊙ h_l) ⊙ h_l' − λ u_l = h_l' − λ u_l ⊙ (1 + h_l ⊙ h_l')

    with h_1' = h_1 (the input x does not change), h_l' = tanh(z_l') and z_l' the next layer
    of a_{l−1}'. This is exactly ``model(x, φ')`` for φ' = φ0 − λ∇φL. Since a_1' is affine in
    λ, so is z_2' = z_2 − λ (u_1 ⊙ (1 + h_1²))·W_2ᵀ: K learning rates cost one H×H product
    there, not K; with two hidden layers the rest is element-wise.

    Args:
        acts: the forward pass at φ0 (:meth:`MLP.activations`); at least two hidden layers.
        v: (B, d) ∇_f L at φ0 (:func:`loss_grad_f`).
        inner_lr: λ, a float, a 0-d tensor, or a (K,) tensor of rates.

    Returns:
        (B, d), or (K, B, d) for a (K,) ``inner_lr``.
    """
    lam = inner_lr
    if isinstance(lam, Tensor) and lam.ndim == 1:
        lam = lam[:, None, None]                          # (K, 1, 1)
    layers, h = model.hidden_layers, acts.h
    u = [v @ model.readout.weight]                        # [u_L]: (B, H)
    for layer, h_l in zip(layers[:0:-1], h[:0:-1]):       # l = L … 2
        u.insert(0, (u[0] * (1 - h_l * h_l)) @ layer.weight)   # u_{l−1}: (B, H)
    z = acts.z[1] - lam * (((1 + h[0] * h[0]) * u[0]) @ layers[1].weight.T)  # z_2': (..., B, H)
    for l in range(1, len(layers)):
        if l > 1:
            z = layers[l](a)                              # z_l' = layer(a_{l−1}'): (..., B, H)
        hp = torch.tanh(z)                                # h_l'
        a = hp - lam * ((1 + h[l] * hp) * u[l])           # a_l': (..., B, H)
    return model.readout(a)                               # (..., B, d)


def tailored_predict(model: MLP, g: LawFn, x: Tensor, dt: float, inner_lr: float | Tensor,
                     g_scale: float, *, create_graph: bool = False,
                     scheme: str = "central") -> Tensor:
    """Adapt φ per example by one step on the conservation loss, then predict f_{θ,φ'}(x).

    Args:
        model: the MLP (θ); its parameters are not modified.
        g: the conservation law, (B, d) -> (B,).
        x: (B, d) states (cast to the model's dtype).
        dt: Δt (s) used in the step of the loss.
        inner_lr: λ, a float or a 0-d tensor (a learned rate), or a (K,) tensor of rates.
        g_scale: the law's scale s (:func:`~noether_search.model.conservation.law_scale`).
        create_graph: differentiate through the inner step (second-order meta-training);
            otherwise the result is computed without a graph.
        scheme: finite-difference scheme of the loss (``conservation_loss``).

    Returns:
        (B, d) adapted predictions, or (K, B, d) for a (K,) ``inner_lr``.
    """
    return step_predict(model, x, inner_lr, create_graph,
                        lambda x, f0: loss_grad_f(g, x, f0, dt, g_scale, scheme,
                                                  create_graph=create_graph))


def step_predict(model: MLP, x: Tensor, inner_lr: float | Tensor, create_graph: bool,
                 grad_f) -> Tensor:
    """One CNGrad step of φ against a loss given by its gradient in the predictions, then
    the prediction: ``grad_f(x, f0) -> (B, d)`` is ∂loss/∂f at the unadapted predictions
    ``f0 (B, d)``. Shapes as :func:`tailored_predict`; shared with the learned embedding."""
    check_model(model)
    x = x.to(model.readout.weight.dtype)
    with torch.enable_grad() if create_graph else torch.no_grad():
        acts = model.activations(x)
    v = grad_f(x, acts.out)
    with torch.enable_grad() if create_graph else torch.no_grad():
        return adapted_forward(model, acts, v, inner_lr)


def tailored_predict_autograd(model: MLP, g: LawFn, x: Tensor, dt: float,
                              inner_lr: float | Tensor, g_scale: float, *,
                              create_graph: bool = False, scheme: str = "central") -> Tensor:
    """Reference CNGrad: the same result as :func:`tailored_predict`, by generic autograd.

    Builds φ0, differentiates the summed loss with respect to it (one backward pass: row i of
    each gradient is example i's own), steps, and runs ``model(x, φ')``. Slower (about twice
    the element-wise work); kept as the definition that the closed form is tested against.
    Arguments and return value as for :func:`tailored_predict`.
    """
    check_model(model)
    x = x.to(model.readout.weight.dtype)
    with torch.enable_grad():
        phi0 = CNParams.identity(model, x.shape[0], requires_grad=True)
        loss = conservation_loss(g, x, model(x, phi0), dt, g_scale, scheme).sum()
        if loss.requires_grad:
            grads = torch.autograd.grad(loss, phi0.tensors(), create_graph=create_graph,
                                        allow_unused=True, materialize_grads=True)
        else:                                             # g ignores its input
            grads = tuple(torch.zeros_like(p) for p in phi0.tensors())
    if not create_graph:
        grads = tuple(gr.detach() for gr in grads)
        phi0 = CNParams(*(tuple(p.detach() for p in ps) for ps in phi0))
    with torch.enable_grad() if create_graph else torch.no_grad():
        return model(x, phi0.step(grads, inner_lr))


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
        g_scale: the law's scale s from the training states (``law_scale``).
        scheme: finite-difference scheme of the loss; must match the one used for training.
    """

    def __init__(self, model: MLP, g: LawFn, dt: float, inner_lr: float,
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
