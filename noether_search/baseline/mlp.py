"""The vanilla MLP of Hamiltonian Neural Networks: state -> time derivative of the state."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """d -> hidden -> hidden -> d, tanh, orthogonal init, no bias on the output layer (HNN).

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, d) states -> (B, d) predicted dx/dt."""
        B, d = x.shape
        h = torch.tanh(self.linear1(x))   # (B, hidden)
        h = torch.tanh(self.linear2(h))   # (B, hidden)
        return self.linear3(h)            # (B, d)
