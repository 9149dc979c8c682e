"""The action-conditioned frame predictor: SVG (Denton & Fergus, 2018) without its prior.

A conv encoder maps each frame to a latent vector, the action is concatenated to it, a
recurrent model (stacked LSTM cells) advances the latent state, and its *output* (one latent
vector per predicted frame, the quantity the Noether inner step adapts) goes through a conv
decoder. The output is the input frame's code plus the LSTM's readout (a residual), so the
LSTM learns only how the code changes from one frame to the next; on 2 CPU cores this
trained far faster than producing the whole latent from the LSTM, which stayed at the
mean frame's error for 8 epochs. Training feeds true frames (teacher forcing, as SVG trains);
prediction is closed-loop: each predicted frame is encoded again as the next input, as SVG
generates at test time.
"""

from __future__ import annotations

import torch
from torch import nn

from noether_search.video.config import PredictorConfig


class FrameEncoder(nn.Module):
    """(B, S, S) frames in [0, 1] -> (B, latent) vectors in (−1, 1)."""

    def __init__(self, cfg: PredictorConfig):
        super().__init__()
        c, self.side = cfg.channels, cfg.size // 8
        self.convs = nn.Sequential(
            nn.Conv2d(1, c, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 4 * c, 4, 2, 1), nn.LeakyReLU(0.2))
        self.proj = nn.Linear(4 * c * self.side ** 2, cfg.latent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, S, _ = x.shape
        h = self.convs(x.unsqueeze(1))              # (B, 4c, S/8, S/8)
        return torch.tanh(self.proj(h.flatten(1)))  # (B, latent)


class FrameDecoder(nn.Module):
    """(..., latent) vectors -> (..., S, S) frames (about [0, 1]; unbounded).

    The output layer is linear: with a sigmoid, the dark background (most pixels) drives the
    logits negative at the start of training, the sigmoid saturates and the model never
    leaves the blank frame. Predictions are clipped to [0, 1] for evaluation.
    """

    def __init__(self, cfg: PredictorConfig):
        super().__init__()
        c, self.c, self.side = cfg.channels, cfg.channels, cfg.size // 8
        self.proj = nn.Linear(cfg.latent, 4 * c * self.side ** 2)
        self.deconvs = nn.Sequential(
            nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(4 * c, 2 * c, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(c, 1, 4, 2, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        lead = z.shape[:-1]
        h = self.proj(z.reshape(-1, z.shape[-1]))
        h = h.view(-1, 4 * self.c, self.side, self.side)   # (N, 4c, S/8, S/8)
        x = self.deconvs(h)                                  # (N, 1, S, S)
        return x.view(*lead, x.shape[-2], x.shape[-1])


class Predictor(nn.Module):
    """Encoder, action-conditioned LSTM and decoder (SVG without the prior); ``action_dim``
    action columns are concatenated to each frame's code (1: the pendulum's torque)."""

    def __init__(self, cfg: PredictorConfig, action_dim: int = 1):
        super().__init__()
        self.cfg = cfg
        self.encoder, self.decoder = FrameEncoder(cfg), FrameDecoder(cfg)
        sizes = [cfg.latent + action_dim] + [cfg.hidden] * cfg.layers
        self.cells = nn.ModuleList(nn.LSTMCell(sizes[i], cfg.hidden) for i in range(cfg.layers))
        self.readout = nn.Linear(cfg.hidden, cfg.latent)

    def outputs(self, history: torch.Tensor, actions: torch.Tensor, horizon: int,
                teacher: torch.Tensor | None = None) -> torch.Tensor:
        """The LSTM outputs, one per frame after the first.

        Args:
            history: (B, H, S, S) the H given frames x_0..x_{H−1}.
            actions: (B, ≥ H−1+horizon) torques a_0..a_{H+horizon−2} [N·m], or
                (B, ≥ H−1+horizon, A) with A action columns; a_t acts between frame t and
                t+1.
            horizon: number of frames to predict after the history.
            teacher: (B, H+horizon, S, S) true frames, or None. Given (training with
                teacher forcing, as SVG trains), every input is a true frame; None
                (prediction), frames after the history are the model's own predictions.

        Returns:
            (B, H−1+horizon, latent) outputs o_1..o_{H−1+horizon}; ``decoder(o_t)`` is the
            prediction of frame t.
        """
        B, H, S, _ = history.shape
        L = H - 1 + horizon
        state = [(history.new_zeros(B, self.cfg.hidden),) * 2 for _ in self.cells]
        if teacher is not None:                       # encode every input frame at once
            codes = self.encoder(teacher[:, :L].reshape(B * L, S, S)).view(B, L, -1)
        outs, frame = [], history[:, 0]
        for t in range(L):
            code = codes[:, t] if teacher is not None else self.encoder(frame)
            act = actions[:, t:t + 1] if actions.dim() == 2 else actions[:, t]
            inp = torch.cat([code, act], dim=1)                    # (B, latent+A)
            for i, cell in enumerate(self.cells):
                state[i] = cell(inp, state[i])
                inp = state[i][0]
            out = code + self.readout(inp)                         # (B, latent)
            outs.append(out)
            if teacher is None:
                frame = history[:, t + 1] if t + 1 < H else self.decoder(out).clamp(0.0, 1.0)
        return torch.stack(outs, dim=1)

    def forward(self, history: torch.Tensor, actions: torch.Tensor,
                horizon: int) -> torch.Tensor:
        """(B, horizon, S, S) predicted frames x̂_H..x̂_{H+horizon−1} (arguments as
        :meth:`outputs`)."""
        H = history.shape[1]
        return self.decoder(self.outputs(history, actions, horizon)[:, H - 1:])
