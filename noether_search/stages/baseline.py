"""The baseline stage: the HNN vanilla MLP, trained or reused from the store."""

from __future__ import annotations

import hashlib
import math
import time

import numpy as np

from hamiltonian_data import Dataset
from noether_search.baseline import BaselineConfig, BaselineResult, derivative_mse, train_mlp
from noether_search.baseline.train import Progress
from noether_search.model import MLP


class TrainingDiverged(ValueError):
    """Training produced non-finite weights or losses; nothing was stored."""


def baseline_key(dataset: Dataset, config: BaselineConfig) -> str:
    """``baseline/<16 hex>``: hash of the dataset content and the config."""
    h = hashlib.sha256(f"{dataset.content_hash()}|{config.to_json()}".encode()).hexdigest()
    return f"baseline/{h[:16]}"


def _frozen(model: MLP) -> MLP:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _reuse(store, key: str, dataset: Dataset, config: BaselineConfig) -> BaselineResult | None:
    """The stored baseline, or None when the artifact is of other data or settings."""
    import torch

    from noether_search.store import StoreError
    from noether_search.store.codecs import BASELINE

    rec = store.load_cached(key, BASELINE)  # None when damaged: trained again
    if rec is None or rec.data_hash != dataset.content_hash() or rec.config != config.to_json():
        return None
    if not all(np.isfinite(a).all() for a in rec.state.values()):
        return None  # never reuse a diverged model (stored by an older version)
    model = MLP(dataset.dim, config.hidden)
    try:
        model.load_state_dict({n: torch.from_numpy(a) for n, a in rec.state.items()})
    except RuntimeError as exc:
        raise StoreError(f"{store.path(key)}: stored weights do not fit the MLP ({exc}); "
                         "delete the file to retrain") from None
    return BaselineResult(_frozen(model), config, False, rec.metrics, key)


def _save(store, key: str, dataset: Dataset, result: BaselineResult) -> None:
    from noether_search.store.codecs import BASELINE, BaselineRecord

    state = {n: t.detach().cpu().numpy() for n, t in result.model.state_dict().items()}
    store.save(key, BASELINE, BaselineRecord(
        state=state, config=result.config.to_json(), data_hash=dataset.content_hash(),
        seed=result.config.seed, dim=dataset.dim, dataset_name=dataset.name,
        metrics=result.metrics))


def train_baseline(dataset: Dataset, config: BaselineConfig | None = None, store=None,
                   progress: Progress | None = None) -> BaselineResult:
    """Train the vanilla MLP on ``dataset`` (or reuse the stored one).

    Args:
        dataset: the data (``x_train``, ``dxdt_train`` (N, d)).
        config: training settings; default :meth:`BaselineConfig.for_dataset`.
        store: a :class:`~noether_search.store.ResultsStore`: reuse ``baseline/<hash>`` when
            it holds this data and config, else train and save it. None: in memory only.
        progress: ``progress(step, total, loss)``; not called when the baseline is reused.

    Returns:
        :class:`~noether_search.baseline.BaselineResult` (``trained`` False when reused).

    Raises:
        StoreError: the stored weights do not fit the MLP.
        TrainingDiverged: the weights or derivative errors came out NaN or infinite (huge
            values in the data, or a learning rate too large); nothing is stored.
    """
    config = BaselineConfig.for_dataset(dataset) if config is None else config
    key = baseline_key(dataset, config)
    if store is None:
        return _train(dataset, config, key, progress)
    with store.lock(key):  # a concurrent run trains once; the other reuses its result
        reused = _reuse(store, key, dataset, config) if store.exists(key) else None
        if reused is not None:
            return reused
        result = _train(dataset, config, key, progress)
        _save(store, key, dataset, result)
    return result


def _train(dataset: Dataset, config: BaselineConfig, key: str, progress) -> BaselineResult:
    start = time.perf_counter()
    model = train_mlp(dataset, config, progress)
    seconds = time.perf_counter() - start
    train_mse, test_mse = derivative_mse(model, dataset)
    metrics = {"deriv_mse_train": train_mse, "deriv_mse_test": test_mse,
               "train_seconds": seconds}
    finite = all(bool(p.isfinite().all()) for p in model.parameters())
    if not finite or not (math.isfinite(train_mse) and math.isfinite(test_mse)):
        raise TrainingDiverged(
            f"baseline training on {dataset.name!r} diverged: the "
            f"{'weights' if not finite else 'derivative errors'} became NaN or infinite "
            f"(learning rate {config.lr:g}, largest |x| in the training data "
            f"{float(np.abs(dataset.x_train).max()):.3g}, largest |dx/dt| "
            f"{float(np.abs(dataset.dxdt_train).max()):.3g}); nothing was stored. Rescale "
            "the data (other units) so values are of order 1 to 1e3, or lower the learning "
            "rate (BaselineConfig(lr=...))")
    return BaselineResult(model, config, True, metrics, key)
