"""The HNN vanilla MLP baseline: training (stored and reused) and evaluation."""

from noether_search.baseline.evaluate import (RolloutResult, default_horizon, derivative_mse,
                                              rk4, rollout)
from noether_search.baseline.train import (BaselineConfig, BaselineResult, get_or_train,
                                           store_key, train_mlp)

__all__ = [
    "BaselineConfig", "BaselineResult", "RolloutResult", "default_horizon",
    "derivative_mse", "get_or_train", "rk4", "rollout", "store_key", "train_mlp",
]
