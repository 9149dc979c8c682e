"""What the rank stages share: the progress callback type and the training tensors."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: progress callback: ``progress(stage name, done, total)``
Progress = Callable[[str, int, int], None]


def silent(stage: str, done: int, total: int) -> None:
    """A progress callback that does nothing."""


def train_pairs(dataset):
    """``(x (N, d), dxdt (N, d))`` float32 tensors of the training pairs, SI base units."""
    import torch

    x = torch.tensor(np.array(dataset.x_train), dtype=torch.float32)
    dxdt = torch.tensor(np.array(dataset.dxdt_train), dtype=torch.float32)
    return x, dxdt


def check_store_key(store, key, what: str) -> None:
    """A store and its key come together (the caller names the artifact)."""
    if store is not None and not key:
        raise ValueError(f"{what}: a store was passed without key=; pass the artifact key "
                         "(e.g. 'rank/<run>/screen') or no store")
