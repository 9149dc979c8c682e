"""Conditional normalisation (CN) around the baseline MLP: per-example scale and shift.

The baseline MLP (``noether_search.baseline.mlp.MLP``) is

    f_θ(x) = linear3(tanh(linear2(tanh(linear1(x)))))

CNGrad (Alet et al. 2021, "Tailoring") inserts an element-wise affine map after each hidden
activation, with *per-example* parameters φ = (γ1, β1, γ2, β2):

    a1 = γ1 ⊙ tanh(linear1(x)) + β1        # (B, H1)
    a2 = γ2 ⊙ tanh(linear2(a1)) + β2       # (B, H2)
    f_{θ,φ}(x) = linear3(a2)               # (B, d)

At the identity (γ = 1, β = 0) this is exactly the MLP, so a pre-trained baseline is reused
unchanged. Only φ adapts in the inner (tailoring) step; θ (the MLP's weights) is trained in the
outer loop. Because row ``i`` of every φ tensor is used only by example ``i``, the gradient of a
*summed* loss with respect to φ holds every example's own gradient in its row: one ordinary
backward pass gives all per-example gradients, with no ``vmap`` and no per-example weight copies.

This module is functional: it never wraps or modifies the model, it only reads the attributes
``linear1``, ``linear2``, ``linear3`` of any module shaped like the baseline MLP.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class CNParams(NamedTuple):
    """Per-example conditional-normalisation parameters φ.

    Each field has shape ``(..., B, H)``: one row per example (leading dimensions, e.g. one per
    inner learning rate, broadcast against the hidden activations).
    """

    gamma1: Tensor  # (..., B, H1) scale after tanh(linear1(x))
    beta1: Tensor   # (..., B, H1) shift after tanh(linear1(x))
    gamma2: Tensor  # (..., B, H2) scale after tanh(linear2(.))
    beta2: Tensor   # (..., B, H2) shift after tanh(linear2(.))


def check_mlp(model: torch.nn.Module) -> None:
    """Check that ``model`` has the baseline MLP's layers (``linear1``, ``linear2``, ``linear3``).

    Raises:
        TypeError: naming the missing attribute.
    """
    for name in ("linear1", "linear2", "linear3"):
        if not isinstance(getattr(model, name, None), torch.nn.Linear):
            raise TypeError(
                f"model: expected the baseline MLP with torch.nn.Linear attributes linear1, "
                f"linear2, linear3; {type(model).__name__} has no Linear {name!r}. Pass a "
                f"noether_search.baseline.mlp.MLP (or a module with the same layer names)."
            )


def identity_cn(model: torch.nn.Module, batch: int, *, requires_grad: bool = False) -> CNParams:
    """The identity φ (γ = 1, β = 0) for ``batch`` examples, in the model's dtype and device.

    Args:
        model: the baseline MLP.
        batch: number of examples B.
        requires_grad: make the four tensors leaves that require grad (for the inner step).

    Returns:
        CNParams with fields of shape (B, H1), (B, H1), (B, H2), (B, H2).
    """
    check_mlp(model)
    w = model.linear1.weight
    h1, h2 = model.linear1.out_features, model.linear2.out_features
    kw = dict(dtype=w.dtype, device=w.device)
    return CNParams(
        torch.ones(batch, h1, **kw).requires_grad_(requires_grad),
        torch.zeros(batch, h1, **kw).requires_grad_(requires_grad),
        torch.ones(batch, h2, **kw).requires_grad_(requires_grad),
        torch.zeros(batch, h2, **kw).requires_grad_(requires_grad),
    )


def first_hidden(model: torch.nn.Module, x: Tensor) -> Tensor:
    """tanh(linear1(x)): the part of the network that φ does not touch.

    Args:
        x: (B, d) states.

    Returns:
        (B, H1) first hidden activation.
    """
    return torch.tanh(model.linear1(x))


def cn_forward(model: torch.nn.Module, x: Tensor, phi: CNParams, *,
               h1: Tensor | None = None) -> Tensor:
    """f_{θ,φ}(x): the MLP with per-example scale/shift after each hidden activation.

    Args:
        model: the baseline MLP (θ).
        x: (B, d) states.
        phi: CNParams with fields (..., B, H); leading dimensions broadcast.
        h1: optionally, ``first_hidden(model, x)`` already computed (B, H1); it does not
            depend on φ, so callers evaluating many φ for one x share it.

    Returns:
        (..., B, d) predicted time derivatives.
    """
    if h1 is None:
        h1 = first_hidden(model, x)                       # (B, H1)
    a1 = phi.gamma1 * h1 + phi.beta1                      # (..., B, H1)
    a2 = phi.gamma2 * torch.tanh(model.linear2(a1)) + phi.beta2   # (..., B, H2)
    return model.linear3(a2)                              # (..., B, d)


def cn_step(phi: CNParams, grads: tuple[Tensor, ...], lr: Tensor | float) -> CNParams:
    """One gradient step φ' = φ − lr·∇φ, with ``lr`` a scalar or a (K,) vector of rates.

    Args:
        phi: CNParams with fields (B, H).
        grads: gradients of the same shapes as ``phi``'s fields.
        lr: a float, a 0-d tensor, or a (K,) tensor; with (K,) the result has fields
            (K, B, H), one adapted φ per learning rate.

    Returns:
        the adapted CNParams.
    """
    if isinstance(lr, Tensor) and lr.ndim == 1:
        lr = lr[:, None, None]                            # (K, 1, 1)
    return CNParams(*(p - lr * g for p, g in zip(phi, grads)))
