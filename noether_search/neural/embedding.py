"""The learned conserved quantity g_φ: an MLP embedding of a state, R^d → R^k.

    a_0 = x                              (B, d)
    a_l = tanh(layers[l](a_{l−1}))       (B, H)   for each hidden layer l
    g_φ(x) = readout(a_L)                (B, k)

Noether Networks (Alet et al. 2021, §3) meta-learn g_φ so that tailoring the predictor to
conserve it lowers the task loss; nothing else trains it. The components are not
constrained to be independent or normalised: the Noether loss divides each by its standard
deviation over the training states (:func:`noether_search.neural.loss.embedding_scale`), so
only the shape of g_φ matters, not its offset or scale.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Embedding(nn.Module):
    """d → hidden → hidden → k, tanh, the readout with bias.

    Args:
        dim: state dimension d.
        k: embedding dimension (the number of learned conserved quantities).
        hidden: width of the two hidden layers.
    """

    def __init__(self, dim: int, k: int = 2, hidden: int = 64):
        super().__init__()
        if dim < 1 or k < 1 or hidden < 1:
            raise ValueError(f"Embedding: dim, k and hidden must be >= 1, got dim={dim}, "
                             f"k={k}, hidden={hidden}")
        self.dim, self.k, self.hidden = dim, k, hidden
        self.linear1 = nn.Linear(dim, hidden)
        self.linear2 = nn.Linear(hidden, hidden)
        self.readout = nn.Linear(hidden, k)

    def forward(self, x: Tensor) -> Tensor:
        """(B, d) states -> (B, k) embedding; (..., B, d) -> (..., B, k)."""
        a = torch.tanh(self.linear1(x))                   # (..., B, H)
        a = torch.tanh(self.linear2(a))                   # (..., B, H)
        return self.readout(a)                            # (..., B, k)
