"""Evaluate a learned vector field: derivative MSE and rollout RMSE on the test trajectories.

Rollout: every test trajectory's first state is integrated with classical RK4 (one step
per sample interval of the data, all trajectories in one batch) and compared with the
true states. The default horizon (:func:`default_horizon`) belongs to the system that made
the data (``dataset.system.horizon(dataset)``: 88 steps pendulum, 58 spring, 19 real
pendulum); data without a system (files, arrays) use their shortest test trajectory.
Beyond the test data the true states come from ``dataset.system.truth(x0, t)`` (the ideal
systems integrate themselves from the same initial states; measured data have none).

RMSE is over steps 1..H (step 0 is the shared initial state), all test trajectories and
all coordinates, in SI base units.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from hamiltonian_data import Dataset
from hamiltonian_data.system import shortest_test_horizon

VectorField = Callable[[torch.Tensor], torch.Tensor]  # (B, d) -> (B, d) dx/dt


@dataclass(frozen=True, eq=False)
class RolloutResult:
    """Rollout of a vector field from the test initial states.

    Attributes:
        rmse: overall RMSE over steps 1..H, trajectories and coordinates.
        rmse_by_step: (H,) RMSE at steps 1..H.
        pred: (n_test, H+1, d) integrated states.
        true: (n_test, H+1, d) true states.
        horizon: H, number of integration steps.
        t: (H+1,) times [s] since the initial state (of the first test trajectory).
    """

    rmse: float
    rmse_by_step: np.ndarray
    pred: np.ndarray
    true: np.ndarray
    horizon: int
    t: np.ndarray


def default_horizon(dataset: Dataset) -> int:
    """Rollout steps used when none is given: the system's horizon for its data, else the
    shortest test trajectory."""
    if dataset.system is not None:
        return dataset.system.horizon(dataset)
    return shortest_test_horizon(dataset)


def _call(vector_field: VectorField, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    # No torch.no_grad: tailored models adapt with autograd inside the call.
    out = vector_field(x.to(dtype))
    return out.detach().to(torch.float64)


def rk4(vector_field: VectorField, x0: torch.Tensor, steps: torch.Tensor,
        dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Classical RK4.

    Args:
        vector_field: (B, d) -> (B, d).
        x0: (B, d) initial states.
        steps: (B, H) step sizes [s] (per trajectory, per step).
        dtype: dtype the vector field is called with (the state is kept in float64).

    Returns:
        (B, H+1, d) states, float64.
    """
    B, d = x0.shape
    x = x0.to(torch.float64)
    out = [x]
    for k in range(steps.shape[1]):
        h = steps[:, k:k + 1]                                  # (B, 1)
        k1 = _call(vector_field, x, dtype)
        k2 = _call(vector_field, x + 0.5 * h * k1, dtype)
        k3 = _call(vector_field, x + 0.5 * h * k2, dtype)
        k4 = _call(vector_field, x + h * k3, dtype)
        x = x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(x)
    return torch.stack(out, dim=1)                             # (B, H+1, d)


#: system.truth results kept per process: (system, x0, t) -> (B, T, d) states, a few entries
_TRUTH: dict = {}


def _truth(system, x0: np.ndarray, t: np.ndarray) -> np.ndarray | None:
    """``system.truth(x0, t)``, integrated once per process for the same system, initial
    states (B, d) and times (T,): the ideal systems integrate it (seconds), and every model
    of every seed is compared with the same truth. Returns a copy (or None)."""
    key = (system, x0.shape, x0.tobytes(), t.tobytes())
    try:
        hash(key)
    except TypeError:  # a system with unhashable fields: not kept
        return system.truth(x0, t)
    if key not in _TRUTH:
        if len(_TRUTH) >= 8:
            _TRUTH.pop(next(iter(_TRUTH)))
        _TRUTH[key] = system.truth(x0, t)
    true = _TRUTH[key]
    return None if true is None else true.copy()


def rollout(vector_field: VectorField, dataset: Dataset, horizon: int | None = None,
            dtype: torch.dtype = torch.float32) -> RolloutResult:
    """Integrate ``vector_field`` from every test trajectory's first state, compare with truth.

    Args:
        vector_field: callable (B, d) float tensor -> (B, d) dx/dt; may use autograd.
        dataset: its ``test`` trajectories give initial states, step sizes and truth.
        horizon: steps H; default :func:`default_horizon`. Beyond the test trajectories'
            length only when the data's system gives the truth (``system.truth``): the
            ideal systems integrate it from the test initial states (noise-free after
            t = 0 even when the dataset has noise).
        dtype: dtype of the tensors passed to ``vector_field``.

    Raises:
        ValueError: horizon < 1, or longer than the test data and no system gives the truth.
    """
    H = default_horizon(dataset) if horizon is None else int(horizon)
    if H < 1:
        raise ValueError(f"horizon must be >= 1 step, got {H}")
    shortest = shortest_test_horizon(dataset)
    x0 = np.stack([tr.x[0] for tr in dataset.test])            # (n_test, d)
    if H <= shortest:
        steps = np.stack([np.diff(tr.t[:H + 1]) for tr in dataset.test])   # (n_test, H)
        true = np.stack([tr.x[:H + 1] for tr in dataset.test])             # (n_test, H+1, d)
        t = dataset.test[0].t[:H + 1] - dataset.test[0].t[0]
    else:
        t = np.arange(H + 1) * (dataset.test[0].t[1] - dataset.test[0].t[0])
        true = None if dataset.system is None else _truth(dataset.system, x0, t)
        if true is None:
            raise ValueError(f"horizon {H} is longer than the shortest test trajectory of "
                             f"{dataset.name!r} ({shortest} steps); choose horizon <= {shortest}")
        steps = np.broadcast_to(np.diff(t), (x0.shape[0], H)).copy()
    pred = rk4(vector_field, torch.from_numpy(x0), torch.from_numpy(steps), dtype).numpy()
    err2 = (pred[:, 1:] - true[:, 1:]) ** 2                   # (n_test, H, d)
    return RolloutResult(rmse=float(np.sqrt(err2.mean())),
                         rmse_by_step=np.sqrt(err2.mean(axis=(0, 2))),
                         pred=pred, true=true, horizon=H, t=t)


def derivative_mse(model: VectorField, dataset: Dataset,
                   dtype: torch.dtype = torch.float32) -> tuple[float, float]:
    """Mean squared error of predicted dx/dt on the train and test pairs (HNN's metric).

    Returns:
        (train MSE, test MSE), averaged over pairs and coordinates.
    """
    out = []
    for x, dxdt in ((dataset.x_train, dataset.dxdt_train), (dataset.x_test, dataset.dxdt_test)):
        pred = _call(model, torch.tensor(x), dtype).numpy()
        out.append(float(np.mean((pred - dxdt) ** 2)))
    return out[0], out[1]


def train_rollout_rmse(vector_field: VectorField, dataset: Dataset, horizon: int | None = None,
                       max_windows: int = 64, dtype: torch.dtype = torch.float32) -> float:
    """Long-term prediction RMSE on the *training* trajectories (a selection criterion that
    never looks at test data).

    Windows of ``horizon`` steps (default :func:`default_horizon`, capped at the training
    trajectories' length) start at evenly spaced samples of every training trajectory (at
    most ``max_windows`` in all); each is integrated with RK4 on the data's own time steps
    from its first state and compared with the data.

    Returns:
        RMSE over all windows, steps 1..H and coordinates (SI base units).
    """
    H = default_horizon(dataset) if horizon is None else int(horizon)
    H = max(1, min(H, min(len(tr) for tr in dataset.train) - 1))
    starts = [(i, s) for i, tr in enumerate(dataset.train) for s in range(0, len(tr) - H)]
    if len(starts) > max_windows:
        pick = np.linspace(0, len(starts) - 1, max_windows).round().astype(int)
        starts = [starts[j] for j in pick]
    x0 = np.stack([dataset.train[i].x[s] for i, s in starts])                  # (W, d)
    steps = np.stack([np.diff(dataset.train[i].t[s:s + H + 1]) for i, s in starts])  # (W, H)
    true = np.stack([dataset.train[i].x[s:s + H + 1] for i, s in starts])      # (W, H+1, d)
    pred = rk4(vector_field, torch.from_numpy(x0), torch.from_numpy(steps), dtype).numpy()
    return float(np.sqrt(((pred[:, 1:] - true[:, 1:]) ** 2).mean()))
