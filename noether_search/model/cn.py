"""Conditional-normalisation (CN) parameters φ: a per-example scale and shift per hidden layer.

CNGrad (Alet et al. 2021, "Tailoring") inserts an element-wise affine map after each hidden
activation of the MLP, a_l = γ_l ⊙ h_l + β_l, with one row of γ_l, β_l per example. Because row
``i`` is used only by example ``i``, the gradient of a *summed* loss with respect to φ holds
every example's own gradient in its row: one ordinary backward pass gives all per-example
gradients, with no ``vmap`` and no per-example copies of the weights.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class CNParams(NamedTuple):
    """Per-example CN parameters φ, one entry per hidden layer of the MLP.

    Each tensor has shape (..., B, H): one row per example; leading dimensions (e.g. one per
    inner learning rate) broadcast against the hidden activations.
    """

    gamma: tuple[Tensor, ...]  # (..., B, H) scale after each hidden tanh
    beta: tuple[Tensor, ...]   # (..., B, H) shift after each hidden tanh

    @classmethod
    def identity(cls, model: torch.nn.Module, batch: int, *,
                 requires_grad: bool = False) -> CNParams:
        """The identity φ (γ = 1, β = 0) for ``batch`` examples, in the model's dtype and device.

        Args:
            model: the MLP (its ``hidden_layers`` give the widths).
            batch: number of examples B.
            requires_grad: make the tensors leaves that require grad (for the inner step).

        Returns:
            CNParams with tensors of shape (B, H) per hidden layer.
        """
        layers = model.hidden_layers
        w = layers[0].weight
        kw = dict(dtype=w.dtype, device=w.device)
        return cls(
            tuple(torch.ones(batch, layer.out_features, **kw).requires_grad_(requires_grad)
                  for layer in layers),
            tuple(torch.zeros(batch, layer.out_features, **kw).requires_grad_(requires_grad)
                  for layer in layers),
        )

    def tensors(self) -> tuple[Tensor, ...]:
        """All tensors of φ in one tuple, (γ_1, …, γ_L, β_1, …, β_L): inputs for autograd."""
        return (*self.gamma, *self.beta)

    def step(self, grads: tuple[Tensor, ...], lr: Tensor | float) -> CNParams:
        """One gradient step φ' = φ − lr·∇φ, with ``lr`` a scalar or a (K,) vector of rates.

        Args:
            grads: gradients in the order of :meth:`tensors`, each (B, H).
            lr: a float, a 0-d tensor, or a (K,) tensor; with (K,) the result has tensors
                (K, B, H), one adapted φ per learning rate.

        Returns:
            the adapted CNParams.
        """
        if isinstance(lr, Tensor) and lr.ndim == 1:
            lr = lr[:, None, None]                        # (K, 1, 1)
        stepped = [p - lr * g for p, g in zip(self.tensors(), grads)]
        n = len(self.gamma)
        return CNParams(tuple(stepped[:n]), tuple(stepped[n:]))
