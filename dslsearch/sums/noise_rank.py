"""Noise-corrected ranking of term sets (errors in variables, in the beam).

On noisy points R of a sum is mostly the noise's, and the noise a sum carries depends on
its terms: the beam, ranking sets by R, prefers sums of quiet terms that approximate a law
to the law itself when the law's terms amplify the noise (Kepler's Runge–Lenz component
``px² y − px py x − y/r`` at σ = 0.1: R 0.24, against 0.20 for polynomial stand-ins of
three terms). The noise's part of the scatter matrices is known to first order from the
noise floor ``sigma (d,)``: with ``J_i`` the terms' gradients at point i,

    S_T = (1 − 1/M) sum_i J_i diag(sigma²) J_i',   S_W = sum_i (1 − 1/n_k(i)) J_i diag(sigma²) J_i'

(``M`` fitting points, ``n_k`` the points of a point's trajectory). The *corrected* R of a
set is the smallest root of ``(W − S_W) v = R_c (T − S_T) v``: about 0 for a law whatever
its noise (0.0002 for that component) and what an approximation's drift leaves (0.10 for
the best stand-in). :func:`noise_rows` computes each term's ``J diag(sigma)`` by central
differences along each variable (deterministic: no Monte Carlo draws), on the library's
standardised scale; :class:`NoiseCross` holds them beside the beam's products, and the
beam keeps, beside its sets by R, the best sets by R_c of each size
(:func:`dslsearch.sums.select.beam_search` with ``noise``).

A direction that carries mostly noise has a corrected total scatter near 0 and an R_c of
no meaning (a ratio of two noise fluctuations): a set or an added term whose new direction
keeps less than :data:`MIN_SIGNAL` of its plain total scatter after the correction is not
ranked.
"""

from __future__ import annotations

import math

import numpy as np

from dslsearch.fitting.objective import Segments

#: relative step of the central differences along each variable (times its noise std)
STEP = 1.0
#: a direction is ranked by R_c only where the correction leaves at least this share of
#: its total scatter (the rest is the noise's)
MIN_SIGNAL = 0.5


def noise_rows(lib, x_fit: np.ndarray, sigma: np.ndarray, step: float = STEP
               ) -> np.ndarray | None:
    """``(n, d, M)``: each kept term's first-order change under noise of one standard
    deviation in each variable, ``sigma_j ∂phi/∂x_j``, on the fitting points ``x_fit (M,
    d)``, divided by the norm of the term's centred values (the scale of ``lib.Z``). Rows
    not finite are 0 (such a term is ranked by R only). None where ``sigma`` is None or 0.
    Costs ``2 d`` evaluations of the library on the fitting points."""
    if sigma is None:
        return None
    sigma = np.asarray(sigma, np.float64)
    if not np.any(sigma > 0):
        return None
    x_fit = np.asarray(x_fit, np.float64)
    base = lib.values_at(x_fit)
    with np.errstate(all="ignore"):
        base -= base.mean(1, keepdims=True)
        norm = np.sqrt(np.einsum("nm,nm->n", base, base))
    out = np.zeros((lib.n_terms, sigma.size, x_fit.shape[0]))
    for j, s in enumerate(sigma):
        if not s > 0:
            continue
        e = np.zeros(sigma.size)
        e[j] = step * s
        with np.errstate(all="ignore"):
            out[:, j] = (lib.values_at(x_fit + e) - lib.values_at(x_fit - e)) / (2 * step)
    with np.errstate(all="ignore"):
        out /= np.where(norm > 0, norm, np.inf)[:, None, None]
    out[~np.isfinite(out).all((1, 2))] = 0.0
    return out


class NoiseCross:
    """The noise's part of the beam's products (:class:`~dslsearch.sums.select.Cross`),
    computed once per row and kept.

    Args:
        D: ``(n, d, M)`` the terms' noise rows (:func:`noise_rows`, complemented as the
            beam's rows are: :meth:`~dslsearch.sums.library.TermLibrary.complement_rows`),
            fitting points in their own order.
        seg_fit: the fitting points' trajectories.

    ``s_t(i)``, ``s_w(i)`` ``(n,)``: the noise's part of the total and within scatter of
    term ``i`` with every term; ``t_diag``, ``w_diag`` ``(n,)`` those of each term with
    itself.
    """

    def __init__(self, D: np.ndarray, seg_fit: Segments):
        n, d, M = D.shape
        labels = np.asarray(seg_fit.labels)
        share = 1.0 - 1.0 / np.bincount(labels)[labels]                  # (M,)
        self.D = D.reshape(n, d * M)
        self.Dw = (D * share).reshape(n, d * M)
        self.total = 1.0 - 1.0 / M
        self.t_diag = self.total * np.einsum("nk,nk->n", self.D, self.D)
        self.w_diag = np.einsum("nk,nk->n", self.Dw, self.D)
        # the rows of the beam's sets in single precision, both in one pass over D: a
        # correction of the ranking, not of the fit, and memory-bound; a term with a pole
        # in the data can pass single precision's range (inf there: ranked last)
        with np.errstate(over="ignore"):
            self._D32 = self.D.astype(np.float32)
        self._rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if i not in self._rows:
            both = np.einsum("nk,jk->jn", self._D32,
                             np.stack([self.D[i], self.Dw[i]]).astype(np.float32))
            self._rows[i] = (self.total * both[0].astype(np.float64),
                             both[1].astype(np.float64))
        return self._rows[i]

    def rows(self, terms) -> tuple[np.ndarray, np.ndarray]:
        """``(s_t (k, n), s_w (k, n))`` of ``terms``."""
        got = [self._row(int(i)) for i in terms]
        return np.stack([g[0] for g in got]), np.stack([g[1] for g in got])


def _basis(T: np.ndarray, W: np.ndarray, T_plain: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray] | None:
    """``(B (k, r), lam (r,))`` with ``B' T B = I``, ``B' W B = diag(lam)`` over the
    directions of ``T`` (corrected) that keep :data:`MIN_SIGNAL` of their plain scatter
    ``T_plain``; None where the whole set is the noise's."""
    lt, U = np.linalg.eigh(0.5 * (T + T.T))
    plain = np.einsum("ik,ij,jk->k", U, T_plain, U)
    keep = (lt > MIN_SIGNAL * plain) & (lt > 0)
    if not keep.all():
        return None
    A = U / np.sqrt(lt)
    lam, Q = np.linalg.eigh(A.T @ (0.5 * (W + W.T)) @ A)
    return A @ Q, lam


def corrected_r(cross, noise: NoiseCross, terms) -> float:
    """R_c of the set ``terms``, at least 0 (inf where its scatter is mostly the
    noise's)."""
    S = [int(t) for t in terms]
    t, w = cross.rows(S)
    st, sw = noise.rows(S)
    got = _basis(t[:, S] - st[:, S], w[:, S] - sw[:, S], t[:, S])
    return math.inf if got is None else max(float(got[1][0]), 0.0)


def corrected_extend(cross, noise: NoiseCross, terms, keep: int | None = None
                     ) -> np.ndarray:
    """``(n,)`` R_c of ``terms`` plus each library term, at least 0 (a value below 0 is
    the noise's own fluctuation); inf for terms already in, for a set whose own scatter is
    mostly the noise's, and where the added term's new direction keeps less than
    :data:`MIN_SIGNAL` of its scatter after the correction. Exact for the ``keep`` best
    (and any that could be among them), a lower bound for the others (None: exact for
    all).

    Like :func:`dslsearch.sums.select._extend`, the enlarged pencil is an arrowhead
    matrix in the set's corrected basis, solved by
    :func:`dslsearch.sums.select.smallest_roots`."""
    from dslsearch.sums.select import smallest_roots

    S = [int(t) for t in terms]
    n = noise.t_diag.size
    t, w = cross.rows(S)
    st, sw = noise.rows(S)
    tc, wc = t - st, w - sw                                                   # (k, n)
    got = _basis(tc[:, S], wc[:, S], t[:, S])
    if got is None:
        return np.full(n, np.inf)
    B, lam = got
    # a noise row out of single precision's range (a term with a pole) is inf, and its
    # candidate NaN here: not `ok`, so inf below
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        a, b = B.T @ tc, B.T @ wc                                             # (r, n)
        # the plain part of each candidate outside the set's span, for the signal test
        lp, Up = np.linalg.eigh(t[:, S])
        big = lp > 1e-10 * lp[-1]
        ap = (Up[:, big] / np.sqrt(lp[big])).T @ t
        rho2_plain = 1.0 - np.einsum("rn,rn->n", ap, ap)
        rho2 = (1.0 - noise.t_diag) - np.einsum("rn,rn->n", a, a)
        eWe = (cross.w_diag - noise.w_diag) - 2.0 * np.einsum("rn,rn->n", a, b) + \
            np.einsum("r,rn->n", lam, a * a)
        ok = (rho2_plain > 1e-10) & (rho2 > MIN_SIGNAL * rho2_plain)
        ok[S] = False
        rho = np.sqrt(np.where(ok, rho2, 1.0))
        beta = (b - lam[:, None] * a) / rho
        gamma = np.where(ok, eWe / (rho * rho), np.inf)
        R = smallest_roots(lam, beta, gamma, n if keep is None else keep + len(S))
    return np.where(ok & np.isfinite(R), R, np.inf)


def corrected_refine(cross, noise: NoiseCross, terms: tuple[int, ...], R: float,
                     sweeps: int = 3) -> tuple[tuple[int, ...], float]:
    """``(terms', R_c')``: :func:`dslsearch.sums.select.swap_refine` by R_c: each sweep
    exchanges, one term at a time, a term for the library term that lowers R_c most."""
    terms = list(terms)
    for _ in range(sweeps):
        changed = False
        for i in range(len(terms)):
            rest = tuple(terms[:i] + terms[i + 1:])
            Rj = corrected_extend(cross, noise, rest, keep=1)
            j = int(np.argmin(Rj))
            if Rj[j] < R - 1e-9 * abs(R) - 1e-12 and j != terms[i]:
                terms[i], R, changed = j, float(Rj[j]), True
        if not changed:
            break
    return tuple(sorted(terms)), R


def corrected_pairs(Z: np.ndarray, Zw: np.ndarray, noise: NoiseCross, m: int, beam: int,
                    block: int = 256) -> list[tuple[tuple[int, int], float]]:
    """The ``beam`` best pairs of the first ``m`` rows by R_c, every pair tried: the
    closed form of :func:`dslsearch.sums.select.best_pairs` with the corrected 2x2
    pencil (``T`` no longer unit on its diagonal): the small root of
    ``det(W − R T) = 0``, at least 0. Pairs with a term or a direction mostly noise are
    left out."""
    m = min(m, Z.shape[0])
    Zm, Zwm, D, Dw = Z[:m], Zw[:m], noise.D[:m], noise.Dw[:m]
    td, wd = 1.0 - noise.t_diag[:m], np.einsum("nm,nm->n", Zwm, Zwm) - noise.w_diag[:m]
    best_r, best_ij = np.empty(0), np.empty((0, 2), np.int64)
    for i0 in range(0, m, block):
        i1 = min(i0 + block, m)
        tp = Zm[i0:i1] @ Zm.T
        t = tp - noise.total * (D[i0:i1] @ D.T)
        w = Zwm[i0:i1] @ Zwm.T - Dw[i0:i1] @ D.T
        t11, t22 = td[i0:i1, None], td[None, :]
        w11, w22 = wd[i0:i1, None], wd[None, :]
        A = t11 * t22 - t * t
        B = w11 * t22 + w22 * t11 - 2.0 * w * t
        C = w11 * w22 - w * w
        with np.errstate(all="ignore"):
            R = np.clip((B - np.sqrt(np.clip(B * B - 4.0 * A * C, 0.0, None))) / (2.0 * A),
                        0.0, None)
        rows = np.arange(i0, i1)[:, None]
        ok = ((np.arange(m)[None, :] > rows) & (t11 > MIN_SIGNAL) & (t22 > MIN_SIGNAL)
              & (A > MIN_SIGNAL * (1.0 - tp * tp)) & (1.0 - tp * tp > 1e-10)
              & np.isfinite(R))
        flat = np.where(ok, R, np.inf).ravel()
        top = np.argpartition(flat, min(beam, flat.size - 1))[:beam]
        top = top[np.isfinite(flat[top])]
        best_r = np.concatenate([best_r, flat[top]])
        best_ij = np.concatenate([best_ij, np.stack([rows[top // m, 0], top % m], 1)])
    order = np.argsort(best_r, kind="stable")[:beam]
    return [((int(best_ij[k, 0]), int(best_ij[k, 1])), float(best_r[k])) for k in order]
