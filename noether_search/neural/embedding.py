"""The learned conserved quantity g_φ: an MLP embedding of a state, R^d → R^k.

    a_0 = (x − μ) / σ                    (B, d)   μ, σ: (d,) input shift and scale
    a_l = tanh(layers[l](a_{l−1}))       (B, H)   for each hidden layer l
    g_φ(x) = readout(a_L)                (B, k)

Noether Networks (Alet et al. 2021, §3) meta-learn g_φ so that tailoring the predictor to
conserve it lowers the task loss; nothing else trains it. The components are not
constrained to be independent or normalised: the Noether loss divides each by its standard
deviation over the training states (:func:`noether_search.neural.loss.embedding_scale`), so
only the shape of g_φ matters, not its offset or scale.

μ and σ are buffers, 0 and 1 (the raw state) unless :meth:`Embedding.normalise_inputs` sets
them to the mean and standard deviation of the training states: every coordinate then
enters the tanh layers on the same scale, so the units of the state (rad against
kg·m²/s, say) do not decide which directions the random initial g_φ varies along. They
are part of the state dict, so a stored embedding keeps them, and nothing trains them.
"""

from __future__ import annotations

import numpy as np
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
        self.register_buffer("input_shift", torch.zeros(dim))
        self.register_buffer("input_scale", torch.ones(dim))

    def normalise_inputs(self, x: Tensor | np.ndarray) -> Embedding:
        """Set μ, σ to the mean and standard deviation of the states x (N, d); a coordinate
        constant on x keeps σ = 1. Returns self.

        Raises:
            ValueError: if x is not (N, d) with N >= 2 and finite.
        """
        x = torch.as_tensor(np.asarray(x, dtype=np.float64))
        if x.ndim != 2 or x.shape[1] != self.dim or x.shape[0] < 2 or not x.isfinite().all():
            raise ValueError(f"normalise_inputs: expected finite states of shape (N >= 2, "
                             f"{self.dim}), got {tuple(x.shape)}")
        std = x.std(dim=0)
        std = torch.where(std > 0, std, torch.ones_like(std))
        dtype = self.input_shift.dtype
        self.input_shift.copy_(x.mean(dim=0).to(dtype))
        self.input_scale.copy_(std.to(dtype))
        return self

    def forward(self, x: Tensor) -> Tensor:
        """(B, d) states -> (B, k) embedding; (..., B, d) -> (..., B, k)."""
        x = (x - self.input_shift) / self.input_scale      # (..., B, d)
        a = torch.tanh(self.linear1(x))                   # (..., B, H)
        a = torch.tanh(self.linear2(a))                   # (..., B, H)
        return self.readout(a)                            # (..., B, k)
