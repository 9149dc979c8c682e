"""The HNN vanilla MLP baseline: training and evaluation (the model is :class:`noether_search.model.MLP`)."""

from noether_search.baseline.evaluate import (RolloutResult, default_horizon, derivative_mse,
                                              rk4, rollout)
from noether_search.baseline.train import BaselineConfig, BaselineResult, train_mlp

__all__ = [
    "BaselineConfig", "BaselineResult", "RolloutResult", "default_horizon",
    "derivative_mse", "rk4", "rollout", "train_mlp",
]
