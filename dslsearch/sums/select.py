"""Beam search over term sets, each scored by the closed-form fit of its coefficients.

For fixed terms ``phi_1 … phi_k`` the coefficients minimising R of ``sum_i c_i phi_i`` solve
the generalised eigenproblem ``W v = R T v`` (:func:`~dslsearch.fitting.optimise.solve_scatter`,
the closed form of the exhaustive search). With the library standardised (``T_jj = 1``), the
scatter matrices of a set extended by any term ``j`` need only the products of the set's
rows with every row, ``k x n`` numbers, so extending ``beam`` sets by every one of ``n``
terms costs ``O(beam * k * n * M)`` per level and one batched eigensolve of ``beam * n``
matrices of size ``k + 1``: linear in the size of the library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dslsearch.fitting.optimise import solve_scatter


@dataclass(frozen=True)
class TermSet:
    """A set of library terms and its R on the fitting points.

    Attributes:
        terms: sorted indices into the library's kept terms.
        R: the minimal R of a sum of these terms (coefficients fitted).
    """

    terms: tuple[int, ...]
    R: float


def rank_key(R: np.ndarray, size: np.ndarray, exact: float) -> np.ndarray:
    """Order of sets: by R, except that every set with ``R <= exact`` (conserved to
    round-off, where R's differences are noise) comes first, the fewest nodes first."""
    with np.errstate(divide="ignore"):
        return np.where(R <= exact, -1.0 / np.maximum(size, 1), R)


def _extend(Z: np.ndarray, Zw: np.ndarray, w_diag: np.ndarray, terms: tuple[int, ...]
            ) -> np.ndarray:
    """``(n,)`` minimal R of ``terms`` plus each library term (inf for terms already in)."""
    S = list(terms)
    n, k = Z.shape[0], len(S)
    T = np.empty((n, k + 1, k + 1))
    W = np.empty((n, k + 1, k + 1))
    # einsum, not BLAS: these products are k x n, too small to gain from threads, and a
    # threaded BLAS on busy cores spends far longer waiting than computing
    cross_t = np.einsum("km,nm->nk", Z[S], Z)                 # (n, k)
    cross_w = np.einsum("km,nm->nk", Zw[S], Zw)
    T[:, :k, :k] = cross_t[S]
    W[:, :k, :k] = cross_w[S]
    T[:, :k, k] = T[:, k, :k] = cross_t
    W[:, :k, k] = W[:, k, :k] = cross_w
    T[:, k, k] = 1.0
    W[:, k, k] = w_diag
    R, _ = solve_scatter(T, [W])
    R = np.where(np.isfinite(R[0]), R[0], np.inf)
    R[S] = np.inf
    return R


def swap_refine(Z: np.ndarray, Zw: np.ndarray, w_diag: np.ndarray, start: TermSet,
                sweeps: int = 3) -> TermSet:
    """Improve a set by exchanging one term at a time for the best library term.

    Each sweep tries, for every term of the set, all ``n`` replacements at once (the set
    without it, extended by every term); a replacement is kept when it lowers R. Stops after
    a sweep without change or after ``sweeps`` sweeps. Beam search adds terms and never
    removes one; this repairs an early choice that later terms made unnecessary.
    """
    terms, R = list(start.terms), start.R
    for _ in range(sweeps if R > 0 else 0):
        changed = False
        for i in range(len(terms)):
            rest = tuple(terms[:i] + terms[i + 1:])
            Rj = _extend(Z, Zw, w_diag, rest)
            j = int(np.argmin(Rj))
            if Rj[j] < R * (1.0 - 1e-9) and j != terms[i]:
                terms[i], R, changed = j, float(Rj[j]), True
        if not changed:
            break
    return TermSet(tuple(sorted(terms)), R)


def best_pairs(Z: np.ndarray, Zw: np.ndarray, w_diag: np.ndarray, size: np.ndarray,
               beam: int, exact: float, block: int = 512) -> list[TermSet]:
    """The ``beam`` best pairs of rows of ``Z`` (:func:`rank_key`), every pair tried.

    The 2x2 problem has a closed form: with ``T = [[1, t], [t, 1]]`` and
    ``W = [[a, w], [w, b]]`` the smallest R is the small root of
    ``(1 - t^2) R^2 - (a + b - 2wt) R + (ab - w^2) = 0``, taken in its cancellation-free
    form ``2C / (B + sqrt(B^2 - 4AC))``. ``O(n^2 M)``, in blocks of ``block`` rows.
    """
    n = Z.shape[0]
    best_r, best_key = np.empty(0), np.empty(0)
    best_ij = np.empty((0, 2), np.int64)
    for i0 in range(0, n, block):
        t = Z[i0:i0 + block] @ Z.T                                    # (b, n)
        w = Zw[i0:i0 + block] @ Zw.T
        a, b = w_diag[i0:i0 + block, None], w_diag[None, :]
        A, B, C = 1.0 - t * t, a + b - 2.0 * w * t, a * b - w * w
        with np.errstate(all="ignore"):
            R = 2.0 * C / (B + np.sqrt(np.clip(B * B - 4.0 * A * C, 0.0, None)))
        rows = np.arange(i0, i0 + t.shape[0])[:, None]
        R = np.where((np.arange(n)[None, :] > rows) & (A > 1e-10) & np.isfinite(R),
                     np.clip(R, 0.0, None), np.inf)
        flat = R.ravel()
        key = rank_key(flat, (size[rows] + size[None, :]).ravel(), exact)
        top = np.argpartition(key, min(beam, flat.size - 1))[:beam]
        best_r = np.concatenate([best_r, flat[top]])
        best_key = np.concatenate([best_key, key[top]])
        best_ij = np.concatenate([best_ij, np.stack([rows[top // n, 0], top % n], 1)])
    keep = np.argsort(best_key, kind="stable")[:beam]
    return [TermSet((int(best_ij[k, 0]), int(best_ij[k, 1])), float(best_r[k]))
            for k in keep if np.isfinite(best_r[k])]


def _ordered(sets: list[TermSet], size: np.ndarray, exact: float) -> list[TermSet]:
    keys = rank_key(np.asarray([ts.R for ts in sets]),
                    np.asarray([size[list(ts.terms)].sum() for ts in sets]), exact)
    order = sorted(range(len(sets)), key=lambda i: (keys[i], sets[i].terms))
    return [sets[i] for i in order]


def beam_search(Z: np.ndarray, Zw: np.ndarray, size: np.ndarray, max_terms: int, beam: int,
                exact: float, pair_screen: int = 2000,
                progress: Callable[[int], None] | None = None) -> list[list[TermSet]]:
    """The best term sets of each size, found by beam search.

    Args:
        Z, Zw: ``(n, M)`` standardised library values and their within-trajectory parts
            (:class:`~dslsearch.sums.library.TermLibrary`).
        size: ``(n,)`` nodes of each term (among sets conserved to round-off, fewer
            nodes rank first: :func:`rank_key`).
        max_terms: largest set size.
        beam: sets kept (and extended) at each size.
        pair_screen: every pair of the first (simplest) ``pair_screen`` terms is tried
            for the sets of two terms (a single term's own R says little about its
            partners); larger terms enter by extension of the sets kept.
        exact: stop once the best set's R is at most this.
        progress: called with each finished size.

    Returns:
        One list per size ``1, 2, …`` (possibly fewer than ``max_terms``), each up to
        ``beam`` distinct sets, best (:func:`rank_key`) first.
    """
    n = Z.shape[0]
    if n == 0:
        return []
    w_diag = np.einsum("nm,nm->n", Zw, Zw)                 # R of each term alone (T_jj = 1)
    order = np.argsort(rank_key(w_diag, size, exact), kind="stable")[:beam]
    levels = [[TermSet((int(j),), float(w_diag[j])) for j in order]]
    if progress:
        progress(1)
    if max_terms >= 2 and levels[0][0].R > exact and n >= 2:
        m = min(n, pair_screen)
        levels.append(best_pairs(Z[:m], Zw[:m], w_diag[:m], size[:m], beam, exact))
        if progress:
            progress(2)
    while len(levels) < max_terms and levels[-1][0].R > exact and len(levels) < n:
        found: dict[tuple[int, ...], float] = {}
        for current in levels[-1]:
            R = _extend(Z, Zw, w_diag, current.terms)
            key = rank_key(R, size[list(current.terms)].sum() + size, exact)
            for j in np.argsort(key, kind="stable")[:beam]:
                if not np.isfinite(R[j]):
                    break
                terms = tuple(sorted(current.terms + (int(j),)))
                found[terms] = min(found.get(terms, np.inf), float(R[j]))
        if not found:
            break
        level = [TermSet(terms, r) for terms, r in found.items()]
        level = _ordered(level, size, exact)[:beam]
        level[:4] = [swap_refine(Z, Zw, w_diag, ts) for ts in level[:4]]
        levels.append(_ordered(list(dict.fromkeys(level)), size, exact))
        if progress:
            progress(len(levels))
    return levels
