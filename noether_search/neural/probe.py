"""The linear probe: how well a known quantity is an affine function of the learned embedding.

Least squares of y on [z, 1] over the given states, and the coefficient of determination

    R² = 1 − Σ (y − ŷ)² / Σ (y − ȳ)²

R² ≈ 1 means the embedding spans the quantity (e.g. the energy) up to an affine map; R² ≈ 0
means it carries no linear information about it. A monotone but non-linear function of the
quantity (e.g. E³) is conserved as well and has a lower R², so the probe also reports the
largest absolute Spearman rank correlation of y with one component of z (``scipy.stats``),
1 for any strictly monotone function of y. The probe only reads the embedding; it
never trains anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ProbeResult:
    """Affine fit y ≈ z·coef + intercept.

    Attributes:
        r2: coefficient of determination on the probed states (nan if y is constant).
        coef: (k,) coefficients; intercept: the offset.
        n: number of states.
        spearman: max over the components j of |Spearman ρ(z_j, y)| (nan if undefined).
    """

    r2: float
    coef: np.ndarray
    intercept: float
    n: int
    spearman: float = math.nan


def linear_probe(z: np.ndarray, y: np.ndarray) -> ProbeResult:
    """Fit y by an affine function of z (numpy least squares) and report R².

    Args:
        z: (N, k) embeddings (or (N,) for k = 1).
        y: (N,) the quantity probed, e.g. the known invariant on the same states.

    Returns:
        :class:`ProbeResult`.

    Raises:
        ValueError: if the shapes disagree, N < 2, or a value is non-finite.
    """
    z = np.asarray(z, dtype=np.float64)
    z = z[:, None] if z.ndim == 1 else z
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if z.ndim != 2 or z.shape[0] != y.shape[0] or y.shape[0] < 2:
        raise ValueError(f"linear_probe: expected z (N, k) and y (N,) with N >= 2, got "
                         f"{z.shape} and {y.shape}")
    if not (np.isfinite(z).all() and np.isfinite(y).all()):
        raise ValueError("linear_probe: z and y must be finite; the embedding or the probed "
                         "quantity is NaN or infinite on some states")
    design = np.hstack([z, np.ones((z.shape[0], 1))])     # (N, k + 1)
    sol, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ sol
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((resid ** 2).sum()) / total if total > 0 else math.nan
    return ProbeResult(r2=r2, coef=sol[:-1], intercept=float(sol[-1]), n=int(y.shape[0]),
                       spearman=rank_correlation(z, y))


def rank_correlation(z: np.ndarray, y: np.ndarray) -> float:
    """max_j |Spearman ρ(z[:, j], y)| for z (N, k), y (N,); nan when every component or y
    is constant."""
    from scipy.stats import spearmanr

    rho = []
    for j in range(z.shape[1]):
        if np.ptp(z[:, j]) > 0 and np.ptp(y) > 0:
            rho.append(abs(float(spearmanr(z[:, j], y)[0])))
    return max(rho) if rho else math.nan
