"""Noise-corrected (errors-in-variables) coefficients of a sum of terms.

The coefficients ``v`` of ``g = sum_i v_i phi_i`` that minimise R = W / T solve
``W v = R T v`` (W, T the within and total scatter matrices of the terms' values). When
the state is measured with noise, each term's values carry noise, which adds
``S_W = sum_i (1 - 1/n_k(i)) C_i`` to W and ``S_T = sum_i (1 - 1/N) C_i`` to T
(``C_i``, ``(k, k)``: the covariance of the terms' values under the measurement noise at
point i). The plain fit then trades conservation for less noise (attenuation): it leans
towards terms that carry less noise, so the true law's fitted form is not conserved up to
the noise (its noise ratio exceeds 1) and approximations with quieter terms compete with
it. The corrected fit solves ``(W - S_W) v = R_c (T - S_T) v`` instead: for a true
invariant ``W v`` is noise only, so its corrected R is about 0 and its noise ratio about 1.

:func:`noise_scatter` estimates ``S_W`` and ``S_T`` by Monte Carlo with antithetic pairs
of perturbed copies of the points (first-order exact, as the linear propagation
``J_i diag(sigma²) J_i'``, without derivatives of the terms); :func:`corrected_fit` solves
the corrected pencil.
"""

from __future__ import annotations

import numpy as np

from dslsearch.fitting.objective import Segments, centred, within

#: antithetic pairs of perturbed copies of the points in :func:`noise_scatter`
EIV_DRAWS = 8
#: the corrected fit is used only when the plain fit's observed within-trajectory scatter
#: is at least this fraction of the scatter the noise predicts for it (otherwise the data
#: are conserved far below the noise floor's estimate, noise-free data: no correction)
MIN_NOISE_SHARE = 0.5


def noise_scatter(values, x: np.ndarray, seg: Segments, sigma: np.ndarray,
                  draws: int = EIV_DRAWS, seed: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """``(S_T, S_W)``, ``(k, k)`` each: the noise's contribution to the total and within
    scatter matrices of ``values(x) (k, N)``.

    ``values`` maps points ``(N, d)`` to the terms' values ``(k, N)``; ``x (N, d)`` the
    points, ``seg`` their trajectories, ``sigma (d,)`` the noise std per variable (units
    of x). With ``e ~ N(0, diag(sigma²))`` (``draws`` fixed-seed draws), ``D = (values(x +
    e) − values(x − e)) / 2`` has covariance ``J diag(sigma²) J'`` to first order at each
    point, whatever the terms' curvature; ``S_T`` is the mean over draws of ``Dc Dc'``
    (D centred) and ``S_W`` of ``Dw Dw'`` (D minus its per-trajectory means), whose
    expectations are the sums over points of the weights ``(1 - 1/N)`` and ``(1 - 1/n_k)``
    times that covariance. None where a perturbed value is not finite.
    """
    x = np.asarray(x, np.float64)
    rng = np.random.default_rng(seed)
    S_T = S_W = 0.0
    for _ in range(draws):
        e = rng.standard_normal(x.shape) * np.asarray(sigma, np.float64)
        with np.errstate(all="ignore"):
            D = 0.5 * (np.asarray(values(x + e)) - np.asarray(values(x - e)))      # (k, N)
        if not np.isfinite(D).all():
            return None
        Dc = centred(D)
        Dw = within(Dc, seg)
        S_T = S_T + Dc @ Dc.T
        S_W = S_W + Dw @ Dw.T
    return S_T / draws, S_W / draws


def corrected_fit(T: np.ndarray, W: np.ndarray, S_T: np.ndarray, S_W: np.ndarray,
                  rel_tol: float = 1e-6) -> tuple[float, np.ndarray] | None:
    """``(R_c, v)``: the smallest root of ``(W − S_W) v = R_c (T − S_T) v`` and its vector
    ``(k,)`` (any scale), over the directions in which the noise-free total scatter
    ``T − S_T`` is positive (eigenvalues above ``rel_tol`` of its largest: a direction
    carrying noise only cannot be told apart from a conserved one). None when there is no
    such direction. ``R_c`` may be slightly negative (the noise's own fluctuation)."""
    Tc = T - S_T
    Tc = 0.5 * (Tc + Tc.T)
    lt, U = np.linalg.eigh(Tc)
    if lt[-1] <= 0:
        return None
    keep = lt > rel_tol * lt[-1]
    A = U[:, keep] / np.sqrt(lt[keep])
    Wc = W - S_W
    lam, Q = np.linalg.eigh(A.T @ (0.5 * (Wc + Wc.T)) @ A)
    return float(lam[0]), A @ Q[:, 0]


def noise_share(v: np.ndarray, W: np.ndarray, S_W: np.ndarray) -> float:
    """``v' W v / v' S_W v``: the observed within-trajectory scatter of the sum with
    coefficients ``v (k,)`` over what the noise predicts for it (about 1 for a true
    invariant on noisy data, far below 1 on noise-free data; inf where the noise predicts
    none)."""
    predicted = float(v @ S_W @ v)
    return float(v @ W @ v) / predicted if predicted > 0 else np.inf
