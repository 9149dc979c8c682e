"""Train the vanilla MLP baseline as HNN does, and keep it in the results store.

Training: full-batch Adam on the mean squared error of dx/dt, ``steps`` steps, float32.
A trained baseline is stored under ``baseline/<key hash>`` (layout in docs/STORE.md) where
the hash covers the dataset's content hash and the config; :func:`get_or_train` reuses it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from hamiltonian_data import Dataset
from noether_search.baseline.evaluate import derivative_mse
from noether_search.baseline.mlp import MLP
from noether_search.store import ResultsStore, StoreError

ENCODING_TYPE = "baseline"
ENCODING_VERSION = 1

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


def store_key(dataset: Dataset, config: BaselineConfig) -> str:
    """``baseline/<16 hex>``: hash of the dataset content and the config."""
    h = hashlib.sha256(f"{dataset.content_hash()}|{config.to_json()}".encode()).hexdigest()
    return f"baseline/{h[:16]}"


def _save(store: ResultsStore, key: str, dataset: Dataset, config: BaselineConfig,
          model: MLP, metrics: dict) -> None:
    with store.write(key, encoding_type=ENCODING_TYPE, encoding_version=ENCODING_VERSION,
                     config=config.to_json(), data_hash=dataset.content_hash(),
                     seed=config.seed, dim=dataset.dim, dataset_name=dataset.name,
                     metrics=json.dumps(metrics)) as f:
        weights = f.create_group("weights")
        weights.attrs["encoding-type"] = "state-dict"
        weights.attrs["encoding-version"] = 1
        for name, tensor in model.state_dict().items():
            weights.create_dataset(name, data=tensor.detach().cpu().numpy())


def _load(store: ResultsStore, key: str, dataset: Dataset,
          config: BaselineConfig) -> tuple[MLP, dict] | None:
    """The stored model, or None when the artifact does not match (it is then retrained)."""
    with store.read(key, encoding_type=ENCODING_TYPE) as f:
        if (f.attrs.get("data_hash") != dataset.content_hash()
                or f.attrs.get("config") != config.to_json()):
            return None
        state = {name: torch.from_numpy(np.array(ds[()])) for name, ds in f["weights"].items()}
        metrics = json.loads(f.attrs["metrics"])
    model = MLP(dataset.dim, config.hidden)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise StoreError(f"{store.path(key)}: stored weights do not fit the MLP ({exc}); "
                         "delete the file to retrain") from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, metrics


def get_or_train(store: ResultsStore, dataset: Dataset, config: BaselineConfig | None = None,
                 progress: Progress | None = None) -> BaselineResult:
    """Reuse the stored baseline for (dataset, config) or train and store one.

    Args:
        store: the run's results store.
        dataset: the data.
        config: default :meth:`BaselineConfig.for_dataset`.
        progress: see :func:`train_mlp`; not called when the baseline is reused.
    """
    config = BaselineConfig.for_dataset(dataset) if config is None else config
    key = store_key(dataset, config)
    if store.exists(key):
        loaded = _load(store, key, dataset, config)
        if loaded is not None:
            return BaselineResult(loaded[0], config, False, loaded[1], key)
    start = time.perf_counter()
    model = train_mlp(dataset, config, progress)
    seconds = time.perf_counter() - start
    train_mse, test_mse = derivative_mse(model, dataset)
    metrics = {"deriv_mse_train": train_mse, "deriv_mse_test": test_mse,
               "train_seconds": seconds}
    _save(store, key, dataset, config, model, metrics)
    return BaselineResult(model, config, True, metrics, key)
