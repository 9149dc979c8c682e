"""Tailoring screen: each law as a one-step test-time loss on the pre-trained MLP.

For every law and every inner learning rate λ on a grid (paper: 10^k, k ∈ {−3, −2.5, …, 1}),
the training task loss (MSE on dx/dt) after one inner step is measured; laws are then ranked by
the best of these. No training happens here: θ is the baseline's.

Cost per law: g and its input gradient at 2N points, two N×H×H matrix products (the forward
pass at φ0 is shared by all laws: it does not depend on g), and element-wise work on (K, N, H)
for all K learning rates at once (the adapted pre-activation is affine in the rate).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from noether_search.model.conservation import LawFn, check_scheme, law_scale
from noether_search.model.inner import adapted_forward, as_pairs, check_model, loss_grad_f
from noether_search.model.mlp import MLP, Activations

#: The paper's grid of inner learning rates: 10^k, k = −3, −2.5, …, 1 (9 values).
DEFAULT_LRS: np.ndarray = 10.0 ** np.arange(-3, 1.01, 0.5)


@dataclass(frozen=True)
class ScreenResult:
    """One law's screen.

    Attributes:
        best_lr: the inner learning rate with the lowest loss (nan if every rate failed).
        loss_by_lr: (K,) training MSE on dx/dt after one inner step, per rate; inf where the
            prediction was non-finite.
        best_loss: min of ``loss_by_lr`` (inf if every rate failed).
        gain: baseline_loss − best_loss (> 0: tailoring with this law helps; −inf if failed).
        baseline_loss: training MSE of the untailored model (same for every law).
        g_scale: the law's scale s (std of g on the training states; nan if it failed).
        error: None, or why the law failed as a whole (constant, non-finite, raised).
    """

    best_lr: float
    loss_by_lr: np.ndarray
    best_loss: float
    gain: float
    baseline_loss: float
    g_scale: float
    error: str | None = None


def _failed(n_lrs: int, baseline: float, message: str) -> ScreenResult:
    return ScreenResult(best_lr=math.nan, loss_by_lr=np.full(n_lrs, np.inf), best_loss=math.inf,
                        gain=-math.inf, baseline_loss=baseline, g_scale=math.nan, error=message)


def screen(model: MLP, laws: Sequence[LawFn], x: Tensor | np.ndarray,
           dxdt: Tensor | np.ndarray, dt: float, lrs: Sequence[float] | np.ndarray = DEFAULT_LRS,
           *, scheme: str = "central",
           progress: Callable[[int], None] | None = None) -> list[ScreenResult]:
    """Training loss after one tailoring step, for each law and each inner learning rate.

    Args:
        model: the pre-trained baseline MLP (θ, not modified).
        laws: conservation laws, each a torch callable (B, d) -> (B,).
        x: (N, d) training states.
        dxdt: (N, d) their true time derivatives (targets of the task loss).
        dt: Δt (s) of the conservation loss's Euler step.
        lrs: (K,) inner learning rates.
        scheme: finite-difference scheme of the conservation loss ("central" or "forward").
        progress: called with 1 after each law.

    Returns:
        one ScreenResult per law, in order. A law that raises, is non-finite or constant on
        ``x`` gets ``error`` set and infinite losses; a rate whose loss is non-finite gets inf.
        Nothing is raised for a single law.

    Raises:
        ValueError: if x and dxdt do not have the same (N, d) shape, or for an unknown scheme.
    """
    check_model(model)
    check_scheme(scheme)
    w = model.readout.weight
    x, dxdt = as_pairs(x, dxdt, model, "screen")
    lrs = np.asarray(lrs, dtype=np.float64).reshape(-1)                # (K,)
    lr_t = torch.as_tensor(lrs).to(dtype=w.dtype, device=w.device)

    with torch.no_grad():
        acts = model.activations(x)                       # shared: independent of the law
    baseline = float(((acts.out - dxdt) ** 2).mean())
    results = []
    for g in laws:
        results.append(_screen_one(model, g, x, dxdt, dt, lrs, lr_t, acts, baseline, scheme))
        if progress is not None:
            progress(1)
    return results


def _screen_one(model, g, x, dxdt, dt, lrs, lr_t, acts, baseline, scheme) -> ScreenResult:
    """Screen one law; every failure becomes a value (see :func:`screen`)."""
    n_lrs = len(lrs)
    try:
        s = law_scale(g, x)
        v = loss_grad_f(g, x, acts.out, dt, s, scheme)                     # (N, d)
        with torch.no_grad():
            pred = adapted_forward(model, acts, v, lr_t)                   # (K, N, d)
            losses = ((pred - dxdt) ** 2).mean(dim=(1, 2)).double().cpu().numpy()
    except Exception as exc:  # noqa: BLE001 - a per-law failure is recorded, not raised
        return _failed(n_lrs, baseline, f"{type(exc).__name__}: {exc}")
    losses = np.where(np.isfinite(losses), losses, np.inf)
    if not np.isfinite(losses).any():
        return ScreenResult(best_lr=math.nan, loss_by_lr=losses, best_loss=math.inf,
                            gain=-math.inf, baseline_loss=baseline, g_scale=s,
                            error="the tailored loss is non-finite at every learning rate")
    k = int(np.argmin(losses))
    best = float(losses[k])
    return ScreenResult(best_lr=float(lrs[k]), loss_by_lr=losses, best_loss=best,
                        gain=baseline - best, baseline_loss=baseline, g_scale=s)
