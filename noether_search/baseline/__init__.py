"""The HNN vanilla MLP baseline: model, training, evaluation."""

from noether_search.baseline.evaluate import (RolloutResult, default_horizon, derivative_mse,
                                              rk4, rollout)
from noether_search.baseline.mlp import MLP
from noether_search.baseline.train import (BaselineConfig, BaselineResult, train_mlp)

__all__ = [
    "BaselineConfig", "BaselineResult", "MLP", "RolloutResult", "default_horizon",
    "derivative_mse", "rk4", "rollout", "train_mlp",
]
