"""The inner step with a learned embedding, and the tailored vector field for rollouts.

As for a symbolic law (:mod:`noether_search.model.inner`), one CNGrad step adapts the MLP's
per-example conditional-normalisation parameters on the Noether loss, from the identity:

    φ'_i = φ0 − λ ∇_{φ_i} L_Noether(x_i; g)          then predict f_{θ,φ'_i}(x_i)

(the paper's Eq. 3 with CNGrad instead of all of θ). The closed form of the step,
:func:`~noether_search.model.inner.adapted_forward`, needs only v = ∇_f L at φ0; this
module supplies v for the embedding's loss, keeping its dependence on θ *and* on the
embedding's weights when ``create_graph`` (so the task loss after the step trains both).

With ``max_step`` ρ the step is capped per example in the prediction it makes:

    Δ_i = f_{θ,φ'_i}(x_i) − f_θ(x_i)
    prediction f_θ(x_i) + Δ_i · min(1, ρ |f_θ(x_i)| / |Δ_i|)

so the adaptation changes a prediction by at most a fraction ρ of its norm. Where g_φ is
trained the step is small and the cap idle; where it extrapolates (states outside the
training range) its gradient can be large and point anywhere, and the cap bounds the harm.
"""

from __future__ import annotations

import torch
from torch import Tensor

from noether_search.model.inner import step_predict
from noether_search.model.mlp import MLP
from noether_search.neural.loss import noether_loss


def noether_grad_f(g, x: Tensor, f0: Tensor, dt: float, scale: Tensor, scheme: str, *,
                   create_graph: bool = False, normalise: str = "std") -> Tensor:
    """∇_f of the summed Noether loss at f = f0: row i is example i's own gradient.

    Args:
        g: the embedding, (B, d) -> (B, k).
        x: (B, d) states; f0: (B, d) predictions.
        scale: (k,) component scales (part of φ's graph when meta-training).
        create_graph: keep the result's dependence on f0 (θ) and on g's weights.
        normalise: the loss's normalisation (:func:`~noether_search.neural.loss.noether_loss`).

    Returns:
        (B, d).
    """
    with torch.enable_grad():
        f = f0 if create_graph else f0.detach().requires_grad_(True)
        loss = noether_loss(g, x, f, dt, scale, scheme, normalise).sum()
        (v,) = torch.autograd.grad(loss, f, create_graph=create_graph, allow_unused=True,
                                   materialize_grads=True)
    return v if create_graph else v.detach()


def noether_predict(model: MLP, g, x: Tensor, dt: float, inner_lr: float | Tensor,
                    scale: Tensor, *, create_graph: bool = False,
                    scheme: str = "central", max_step: float | None = None,
                    normalise: str = "std") -> Tensor:
    """Adapt φ per example by one step on the Noether loss of g, then predict f_{θ,φ'}(x).

    Args:
        model: the MLP (θ); not modified.
        g: the embedding, (B, d) -> (B, k); not modified.
        x: (B, d) states.
        dt: Δt (s) of the loss's step.
        inner_lr: λ, a float, a 0-d tensor or a (K,) tensor of rates.
        scale: (k,) component scales (:func:`~noether_search.neural.loss.embedding_scale`).
        create_graph: differentiate through the step (second order, for meta-training).
        scheme: finite-difference scheme of the loss ("central" or "forward").
        max_step: ρ > 0, the cap on |Δ_i| / |f_θ(x_i)| (module docstring); None: no cap.
        normalise: the loss's normalisation ("std" or "gradient"; ``scale`` of that mode).

    Returns:
        (B, d) adapted predictions, or (K, B, d) for a (K,) ``inner_lr``.
    """
    f0 = []

    def grad_f(x: Tensor, f: Tensor) -> Tensor:
        f0.append(f)
        return noether_grad_f(g, x, f, dt, scale, scheme, create_graph=create_graph,
                              normalise=normalise)

    pred = step_predict(model, x, inner_lr, create_graph, grad_f)
    return pred if max_step is None else cap_step(f0[0], pred, max_step)


def cap_step(f0: Tensor, pred: Tensor, max_step: float) -> Tensor:
    """``f0 + Δ · min(1, ρ |f0| / |Δ|)`` per example, Δ = pred − f0, norms over the last
    axis; f0 (B, d), pred (..., B, d) -> (..., B, d). Differentiable (the factor too)."""
    delta = pred - f0                                     # (..., B, d)
    norm = delta.norm(dim=-1, keepdim=True)               # (..., B, 1)
    cap = max_step * f0.norm(dim=-1, keepdim=True)        # (B, 1)
    factor = torch.where(norm > cap, cap / norm.clamp_min(1e-30), torch.ones_like(norm))
    return f0 + delta * factor


class NeuralField:
    """The tailored vector field x ↦ f_{θ,φ'(x)}(x) with a learned embedding, for rollouts.

    Args:
        model: the meta-trained MLP.
        g: the meta-trained embedding.
        dt: Δt (s) of the Noether loss: the training data's time step.
        inner_lr: λ.
        scale: (k,) component scales from the training states (fixed at test time).
        scheme: finite-difference scheme; the one used in meta-training.
        max_step: the cap ρ of the step (:func:`noether_predict`); the one used in
            meta-training.
        normalise: the loss's normalisation; the one used in meta-training.
    """

    def __init__(self, model: MLP, g, dt: float, inner_lr: float, scale: Tensor, *,
                 scheme: str = "central", max_step: float | None = None,
                 normalise: str = "std") -> None:
        self.model, self.g = model, g
        self.dt, self.inner_lr = float(dt), float(inner_lr)
        self.scale = scale.detach()
        self.scheme, self.max_step, self.normalise = scheme, max_step, normalise

    def __call__(self, x: Tensor) -> Tensor:
        """(B, d) states -> (B, d) detached tailored derivatives, in the dtype of x."""
        if x.ndim != 2:
            raise ValueError(f"NeuralField: expected states of shape (B, d), got "
                             f"{tuple(x.shape)}; add a batch dimension with x[None]")
        pred = noether_predict(self.model, self.g, x.detach(), self.dt, self.inner_lr,
                               self.scale, scheme=self.scheme, max_step=self.max_step,
                               normalise=self.normalise)
        return pred.detach().to(x.dtype)
