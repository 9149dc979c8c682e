"""Merging survivors that are one function up to sign, scale and additive constant."""

from __future__ import annotations

import numpy as np


def standardise(V: np.ndarray) -> np.ndarray:
    """``(V - mean) / std`` along the last axis, ``(n, N)``; rows with zero spread stay 0."""
    Vc = V - V.mean(-1, keepdims=True)
    sd = np.sqrt((Vc * Vc).mean(-1, keepdims=True))
    with np.errstate(all="ignore"):
        return np.where(sd > 0, Vc / sd, 0.0)


def merge_groups(V: np.ndarray, order: np.ndarray, tol: float = 1e-6) -> list[list[int]]:
    """Group rows of ``V (n, N)`` (values of survivors on the training points) whose
    standardised values agree up to sign: ``1 - |corr| <= tol``.

    Args:
        V: finite values, one row per survivor.
        order: survivor indices in preference order (simplest first); the first member of
            each group is its representative, and groups come in order of representatives.
        tol: tolerance on ``1 - |correlation|``.

    Returns:
        groups of row indices, each starting with its representative.
    """
    Z = standardise(V)
    N = V.shape[1]
    groups: list[list[int]] = []
    reps: list[np.ndarray] = []
    for i in order:
        z = Z[i]
        placed = False
        for g, r in zip(groups, reps):
            if 1.0 - abs(float(z @ r) / N) <= tol:
                g.append(int(i))
                placed = True
                break
        if not placed:
            groups.append([int(i)])
            reps.append(z)
    return groups
