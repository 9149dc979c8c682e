"""The vanilla MLP of Hamiltonian Neural Networks: state -> time derivative of the state.

    a_0 = x                                   (B, d)
    h_l = tanh(hidden_layers[l](a_{l-1}))     (B, H)   for each hidden layer l
    a_l = h_l                                 without φ
    a_l = γ_l ⊙ h_l + β_l                     with conditional normalisation φ (CNParams)
    f(x) = readout(a_L)                       (B, d)

Conditional normalisation (CN) is the per-example scale and shift that tailoring adapts
(docs/TAILORING.md); at the identity φ (γ = 1, β = 0) the network is exactly the plain MLP.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from noether_search.model.cn import CNParams


class Activations(NamedTuple):
    """One forward pass with its intermediate values, one entry per hidden layer."""

    z: tuple[Tensor, ...]  # (..., B, H) pre-activations hidden_layers[l](a_{l-1})
    h: tuple[Tensor, ...]  # (..., B, H) tanh(z_l), before conditional normalisation
    out: Tensor            # (..., B, d) the prediction, readout(a_L)


class MLP(nn.Module):
    """d -> hidden -> hidden -> d, tanh, orthogonal init, no bias on the output layer (HNN).

    The layers keep the names ``linear1``, ``linear2``, ``linear3`` (the keys of stored state
    dicts); code that works on the layers uses :attr:`hidden_layers` and :attr:`readout`.

    Args:
        dim: state dimension d.
        hidden: width of the two hidden layers (HNN: 200).
    """

    def __init__(self, dim: int, hidden: int = 200):
        super().__init__()
        self.dim = dim
        self.hidden = hidden
        self.linear1 = nn.Linear(dim, hidden)
        self.linear2 = nn.Linear(hidden, hidden)
        self.linear3 = nn.Linear(hidden, dim, bias=False)
        for layer in (self.linear1, self.linear2, self.linear3):
            nn.init.orthogonal_(layer.weight)  # HNN: orthogonal weights, default biases

    @property
    def hidden_layers(self) -> tuple[nn.Linear, ...]:
        """The hidden layers in order; each is followed by tanh (and CN when φ is given)."""
        return (self.linear1, self.linear2)

    @property
    def readout(self) -> nn.Linear:
        """The output layer: last hidden activation -> dx/dt (no bias, no CN after it)."""
        return self.linear3

    def activations(self, x: Tensor, phi: CNParams | None = None) -> Activations:
        """The forward pass, keeping every hidden layer's pre-activation and activation.

        Args:
            x: (B, d) states.
            phi: per-example CN parameters with fields (..., B, H) (leading dimensions, e.g.
                one per inner learning rate, broadcast), or None for the plain MLP.

        Returns:
            Activations(z, h, out) with ``out`` (B, d), or (..., B, d) with φ's leading dims.
        """
        zs, hs = [], []
        a = x                                             # (B, d)
        for l, layer in enumerate(self.hidden_layers):
            z = layer(a)                                  # (..., B, H)
            h = torch.tanh(z)
            zs.append(z)
            hs.append(h)
            a = h if phi is None else phi.gamma[l] * h + phi.beta[l]
        return Activations(tuple(zs), tuple(hs), self.readout(a))

    def forward(self, x: Tensor, phi: CNParams | None = None) -> Tensor:
        """(B, d) states -> (B, d) predicted dx/dt; (..., B, d) with φ (:meth:`activations`)."""
        return self.activations(x, phi).out
