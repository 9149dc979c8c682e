"""The Noether inner step on pixels: adapt the LSTM outputs so a learned embedding is conserved.

Following the paper's App. D, the embedding g_φ is an MLP on the last two LSTM outputs and
the most recent action, ``e_t = g_φ(o_{t−1}, o_t, a_{t−1}) ∈ R^k``, and the Noether loss is
the paper's Eq. 2(b) over the predicted frames,

    L_Noether = Σ_{t=H}^{H+T−1} |e_t − e_{t−1}|²,

whose first term compares with e_{H−1}, computed from outputs inside the history (from
ground-truth frames). One SGD step on the predicted outputs o_H..o_{H+T−1} (not on network
weights: the paper found this better for this domain), then the decoder renders the adapted
outputs. Meta-training backpropagates the task loss through that step (second order:
``create_graph=True``), so φ learns a quantity whose conservation improves predictions.
"""

from __future__ import annotations

import torch
from torch import nn

from noether_search.video.config import NoetherConfig


class Embedding(nn.Module):
    """g_φ: (..., 2·latent + A) -> (..., k), a 3-layer MLP (A action columns, 1 for the
    pendulum's torque)."""

    def __init__(self, latent: int, cfg: NoetherConfig, action_dim: int = 1):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 * latent + action_dim, cfg.hidden), nn.Tanh(),
                                 nn.Linear(cfg.hidden, cfg.hidden), nn.Tanh(),
                                 nn.Linear(cfg.hidden, cfg.embed_dim))

    def forward(self, prev: torch.Tensor, cur: torch.Tensor, action: torch.Tensor):
        """``prev``, ``cur`` (..., latent) consecutive outputs, ``action`` (...,) one column
        or (..., A) -> (..., k)."""
        if action.dim() == prev.dim() - 1:
            action = action.unsqueeze(-1)
        return self.net(torch.cat([prev, cur, action], dim=-1))


def noether_loss(emb: Embedding, outs: torch.Tensor, actions: torch.Tensor,
                 history: int, form: str = "b") -> torch.Tensor:
    """Per-sequence Noether loss (the paper's Eq. 2) of the predicted part of ``outs``.

    Args:
        emb: the embedding g_φ.
        outs: (B, L, latent) LSTM outputs o_1..o_L (as ``Predictor.outputs``).
        actions: (B, ≥ L) torques a_0.. [N·m], or (B, ≥ L, A) with A action columns.
        history: H, the number of given frames (≥ 3); outputs o_H.. are predictions.
        form: ``"b"``, Eq. 2(b): consecutive embeddings, Σ_{t ≥ H} |e_t − e_{t−1}|²;
            ``"a"``, Eq. 2(a): every one against the history's, Σ_{t ≥ H} |e_t − e_{H−1}|².

    Returns:
        (B,) the loss of each sequence.
    """
    # outs[:, j] is o_{j+1}; e_t uses o_{t-1}, o_t, a_{t-1} for t = H-1 .. L
    prev, cur = outs[:, history - 3:-1], outs[:, history - 2:]
    e = emb(prev, cur, actions[:, history - 2:outs.shape[1]])    # (B, L-H+2, k)
    if form == "a":
        return (e[:, 1:] - e[:, :1]).pow(2).sum(dim=(1, 2))
    if form != "b":
        raise ValueError(f"noether_loss: form={form!r}; use 'a' or 'b' (the paper's Eq. 2)")
    return (e[:, 1:] - e[:, :-1]).pow(2).sum(dim=(1, 2))


def inner_step(emb: Embedding, outs: torch.Tensor, actions: torch.Tensor, history: int,
               lr: float, create_graph: bool, form: str = "b") -> torch.Tensor:
    """One SGD step of the Noether loss on the predicted outputs o_H..o_L.

    Each sequence's loss depends only on its own outputs, so the gradient of the batch sum
    is every sequence's own gradient. Returns the adapted (B, L, latent) outputs (the
    history part unchanged); with ``create_graph`` the result stays differentiable with
    respect to φ and to the predictor (meta-training), otherwise it is detached from φ's
    graph of the step (prediction).
    """
    if not outs.requires_grad:
        outs = outs.detach().requires_grad_(True)
    loss = noether_loss(emb, outs, actions, history, form).sum()
    (grad,) = torch.autograd.grad(loss, outs, create_graph=create_graph)
    mask = torch.zeros_like(outs[:1, :, :1])
    mask[:, history - 1:] = 1.0                                  # adapt predictions only
    return outs - lr * mask * grad
