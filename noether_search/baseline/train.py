"""Train the vanilla MLP baseline as HNN does.

Training: full-batch Adam on the mean squared error of dx/dt, ``steps`` steps, float32.
:func:`noether_search.stages.train_baseline` keeps a trained baseline in a results store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import torch

from hamiltonian_data import Dataset
from noether_search.baseline.mlp import MLP

Progress = Callable[[int, int, float], None]  # (step done, total steps, loss)


@dataclass(frozen=True)
class BaselineConfig:
    """Training settings of the vanilla MLP (HNN defaults)."""

    hidden: int = 200            # width of both hidden layers
    steps: int = 2000            # full-batch Adam steps
    lr: float = 1e-3             # Adam learning rate
    weight_decay: float = 1e-4   # Adam weight decay (for_dataset: the system's setting)
    seed: int = 0                # torch seed for the orthogonal initialisation

    @classmethod
    def for_dataset(cls, dataset: Dataset, **overrides) -> BaselineConfig:
        """HNN's settings for ``dataset``: weight decay from its system
        (``System.baseline_weight_decay``; 1e-4 for data without a system)."""
        base = cls() if dataset.system is None else cls(
            weight_decay=dataset.system.baseline_weight_decay)
        return replace(base, **overrides)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True, eq=False)
class BaselineResult:
    """A trained (or reloaded) baseline.

    Attributes:
        model: the MLP (eval mode).
        config: its training settings.
        trained: True if trained by this call, False if loaded from the store.
        metrics: ``deriv_mse_train``, ``deriv_mse_test``, ``final_loss``, ``train_seconds``.
        key: the store key.
    """

    model: MLP
    config: BaselineConfig
    trained: bool
    metrics: dict
    key: str


def train_mlp(dataset: Dataset, config: BaselineConfig = BaselineConfig(),
              progress: Progress | None = None) -> MLP:
    """Train an MLP on ``dataset``'s train pairs.

    Args:
        dataset: uses ``x_train`` (N, d) and ``dxdt_train`` (N, d).
        config: settings; ``seed`` fixes the initialisation (global RNG state is restored).
        progress: called as ``progress(step, total, loss)`` about 100 times.

    Returns:
        The trained model in eval mode, float32.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = MLP(dataset.dim, config.hidden)
    x = torch.tensor(dataset.x_train, dtype=torch.float32)             # (N, d)
    target = torch.tensor(dataset.dxdt_train, dtype=torch.float32)     # (N, d)
    optim = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    every = max(1, config.steps // 100)
    model.train()
    for step in range(1, config.steps + 1):
        loss = ((model(x) - target) ** 2).mean()
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        if progress is not None and (step % every == 0 or step == config.steps):
            progress(step, config.steps, float(loss.detach()))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model

