"""Seeds for the beam on noisy data: term sets met by backward elimination.

The beam search grows sets one term at a time and keeps, at each size, the sets most
conserved on the fitting points. A law whose partial sums are all far from conserved (its
terms cancel only together: the double pendulum's energy, whose best subsets of 1–4 terms
have R 0.57, 0.32, 0.18, 0.15 at σ = 0.05 while every set the beam keeps is more
conserved) is then never reached, whatever the choice among a level's sets.

Backward elimination goes the other way: it starts from a pool of many terms, fits the
min-R combination of all of them, and drops one term at a time, the one whose removal
leaves the sum most conserved on the *held-out* points (the training points that are not
fitting points; on noisy data the fitting points' R rewards fitting their noise). Its path
passes through small sets whose terms are needed *together*, without any of their partial
sums being conserved. :func:`elimination_seeds` returns the path's sets of each size;
:func:`~dslsearch.sums.select.beam_search` adds them to its levels (``seeds``) and extends
them like its own sets, and the held-out choice (:mod:`dslsearch.sums.validate`) and the
judge decide as for every other set.

The pool: the simplest ``seed_pool`` terms of the library (it is ordered by size), then,
in a second pass, those and the best library extensions of the first path's sets (a term
of more nodes that completes them: ``ω1 ω2 cos(θ1 − θ2)`` beside ``ω1², ω2², cos θ1,
cos θ2``).

:func:`subset_seeds` adds the best sets of 2 to 4 terms among *every* subset of the
simplest terms, by held-out R: a law of a few simple terms whose partial sums are not
conserved and that the elimination's greedy path passes by (Lotka–Volterra's ``x``,
``y``, ``log x``, ``log y``), and, where the noise is known, those of the best by R whose
held-out noise ratio is lowest.

Each removal is solved in closed form: with the set's pencil diagonalised
(``B' T B = I``, ``B' W B = diag(lam)``), removing term ``i`` restricts the coefficients
to ``b' y = 0`` (``b = B[i]``), whose smallest R is the root ``mu`` of the secular
equation ``sum_j b_j² / (lam_j − mu) = 0`` in ``(lam_0, lam_1)``, with coefficients
``y_j ∝ b_j / (lam_j − mu)``: one eigendecomposition per step, not one per removal.
"""

from __future__ import annotations

import numpy as np

from dslsearch.acceptance import REST_SHARE
from dslsearch.fitting.objective import Segments, within
from dslsearch.fitting.optimise import solve_scatter
from dslsearch.sums.select import Cross, _extend, _set_basis

#: bisection steps of the secular equation (interval halved each step)
BISECTION = 60
#: sets of each size (the best by held-out R) whose noise ratio :func:`subset_seeds` asks
NOISE_CANDIDATES = 64


def held_out_r(G: np.ndarray, labels_out: np.ndarray, rest: bool = False) -> np.ndarray:
    """``(B,)`` R of each row of ``G (B, N_out)`` on the held-out points, whose trajectory
    is ``labels_out (N_out,)`` (``0..K-1``): within-trajectory over total sum of squares;
    inf where the total is 0.

    With ``rest`` (and at least 4 trajectories): the larger of that and R on the
    trajectories left after the fewest of those carrying
    :data:`~dslsearch.acceptance.REST_SHARE` of the row's
    between-trajectory sum of squares (largest first) are left out, where two or more
    remain. A sum conserved on every trajectory keeps about its R; one whose spread a
    trajectory far off the others carries (``θ1²`` beside a double pendulum that turned
    over and stays at ``θ1 ≈ −3 … −14``) is scored by the others too, where it drifts."""
    K = int(labels_out.max()) + 1
    counts = np.bincount(labels_out, minlength=K).astype(np.float64)
    Gc = G - G.mean(1, keepdims=True)
    onehot = np.zeros((labels_out.size, K))
    onehot[np.arange(labels_out.size), labels_out] = 1.0
    means = (Gc @ onehot) / counts                                   # (B, K)
    resid = Gc - means[:, labels_out]
    total = np.einsum("bn,bn->b", Gc, Gc)
    with np.errstate(divide="ignore", invalid="ignore"):
        R = np.einsum("bn,bn->b", resid, resid) / total
    R = np.where(total > 0, R, np.inf)
    if not rest or K < 4:
        return R
    b = counts * means ** 2                                          # (B, K) shares of B
    order = np.argsort(-b, axis=1, kind="stable")
    share = np.cumsum(np.take_along_axis(b, order, 1), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = share / share[:, -1:]
    m = (share < REST_SHARE).sum(1) + 1                              # (B,) left out
    out = np.zeros_like(b, dtype=bool)
    np.put_along_axis(out, order, np.arange(K)[None, :] < m[:, None], 1)
    keep = ~out[:, labels_out]                                       # (B, N_out)
    n = keep.sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = (Gc * keep).sum(1) / n
        Tr = np.einsum("bn,bn->b", (Gc - mean[:, None]) * keep, Gc - mean[:, None])
        Wr = np.einsum("bn,bn->b", resid * keep, resid)
        Rr = np.where(Tr > 0, Wr / Tr, np.inf)
    return np.maximum(R, np.where(K - m >= 2, Rr, R))


def removals(T: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(R (k,), C (k, k))``: for each term ``i`` of a set with total and within scatter
    ``T``, ``W`` ``(k, k)``, the smallest R of the set without it and its coefficients
    (row ``i``, zero at ``i``; ``C[i]' T C[i] = 1``). NaN rows where the set's pencil is
    degenerate (a removal that the closed form cannot resolve)."""
    k = T.shape[0]
    B, lam = _set_basis(T, W)                                # (k, r), (r,)
    R, C = np.full(k, np.nan), np.full((k, k), np.nan)
    if lam.size < 2:
        return R, C
    b = B                                                    # row i: the constraint b' y = 0
    lo = np.full(k, lam[0])
    hi = np.full(k, lam[1])
    free = b[:, 0] ** 2 <= 1e-24 * np.einsum("ir,ir->i", b, b)   # removal costs nothing
    for _ in range(BISECTION):
        mid = 0.5 * (lo + hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.einsum("ir,ir->i", b * b, 1.0 / (lam[None, :] - mid[:, None]))
        up = f < 0                                           # f increases on (lam_0, lam_1)
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    mu = 0.5 * (lo + hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        Y = b / (lam[None, :] - mu[:, None])                 # (k, r)
    Y[free] = 0.0
    Y[free, 0] = 1.0
    mu[free] = lam[0]
    Y /= np.sqrt(np.einsum("ir,ir->i", Y, Y))[:, None]
    ok = np.isfinite(Y).all(1) & (hi - lo <= 1e-9 * max(abs(lam[1]), 1e-300) + 1e-300)
    ok &= lam[1] - lam[0] > 1e-12 * max(abs(lam[1]), 1e-300)
    C[ok] = Y[ok] @ B.T
    R[ok] = np.clip(mu[ok], 0.0, None)
    return R, C


def eliminate(Zf: np.ndarray, Zfw: np.ndarray, Zo: np.ndarray, labels_out: np.ndarray,
              smallest: int = 1, width: int = 1, rest: bool = False
              ) -> dict[int, list[tuple[tuple[int, ...], float]]]:
    """Backward elimination over the rows of a pool of terms, ``width`` sets wide.

    Args:
        Zf: ``(P, M)`` the pool's values on the fitting points, centred and scaled;
            Zfw: ``(P, M')`` their within-trajectory parts (:func:`within`).
        Zo: ``(P, N_out)`` the same terms on the held-out points, scaled as ``Zf``.
        labels_out: ``(N_out,)`` trajectory of each held-out point, ``0..K-1``.
        smallest: stop at sets of this many terms.
        width: sets kept at each size (1: plain backward elimination).
        rest: score the held-out R with its rest too (:func:`held_out_r`).

    Returns:
        ``{size: [(rows, held-out R), …]}`` for every size from ``P − 1`` down to
        ``smallest``: the ``width`` sets of that size with the lowest held-out R among
        those one removal away from the sets kept one size up (rows of the pool, sorted;
        best first). Each removal's coefficients are fitted on the fitting points
        (:func:`removals`), its R measured on the held-out points.
    """
    T, W = Zf @ Zf.T, Zfw @ Zfw.T
    level = [tuple(range(Zf.shape[0]))]
    path: dict[int, list[tuple[tuple[int, ...], float]]] = {}
    while len(level[0]) > smallest:
        found: dict[tuple[int, ...], float] = {}
        for rows in level:
            idx = np.asarray(rows)
            _, C = removals(T[np.ix_(idx, idx)], W[np.ix_(idx, idx)])
            ok = np.nonzero(np.isfinite(C).all(1))[0]
            if not ok.size:
                continue
            score = held_out_r(C[ok] @ Zo[idx], labels_out, rest)
            for i, r in zip(ok.tolist(), score.tolist()):
                key = rows[:i] + rows[i + 1:]
                if np.isfinite(r) and r < found.get(key, np.inf):
                    found[key] = r
        if not found:
            break
        best = sorted(found.items(), key=lambda kv: (kv[1], kv[0]))[:width]
        path[len(best[0][0])] = best
        level = [rows for rows, _ in best]
    return path


def polish(rows: tuple[int, ...], Zf: np.ndarray, Zfw: np.ndarray, Zo: np.ndarray,
           labels_out: np.ndarray, sweeps: int = 3, rest: bool = False) -> tuple[int, ...]:
    """``rows`` (a set of pool rows) improved by exchanging one term at a time for the
    pool term that gives the lowest held-out R (coefficients fitted on the fitting
    points); arguments as :func:`eliminate`. Elimination drops a term early when others
    stand in for it (``cos θ1`` beside ``θ1²`` and ``sin(cos θ1)``) and cannot take it
    back; the exchange can. Stops after a sweep without change or after ``sweeps``."""
    T, W = Zf @ Zf.T, Zfw @ Zfw.T
    current = list(rows)
    idx = np.asarray(current)
    R, V = solve_scatter(T[np.ix_(idx, idx)][None], [W[np.ix_(idx, idx)][None]])
    best = (float(held_out_r(V[0] @ Zo[idx], labels_out, rest)[0])
            if np.isfinite(V).all() else np.inf)
    for _ in range(sweeps):
        changed = False
        for i in range(len(current)):
            others = np.asarray([j for j in range(Zf.shape[0]) if j not in current])
            if not others.size:
                return tuple(sorted(current))
            sets = np.repeat(np.asarray(current)[None], others.size, 0)
            sets[:, i] = others
            _, V = solve_scatter(T[sets[:, :, None], sets[:, None, :]],
                                 [W[sets[:, :, None], sets[:, None, :]]])
            score = held_out_r(np.einsum("bk,bkn->bn", V[0], Zo[sets]), labels_out, rest)
            score = np.where(np.isfinite(score), score, np.inf)
            j = int(np.argmin(score))
            if score[j] < best * (1.0 - 1e-9):
                current[i], best, changed = int(others[j]), float(score[j]), True
        if not changed:
            break
    return tuple(sorted(current))


def subset_seeds(values, pool: np.ndarray, fit: np.ndarray, seg_fit: Segments,
                 labels_out: np.ndarray, max_terms: int, top: int = 3,
                 most: int = 20000, rest: bool = False, noise=None, by_noise: int = 0,
                 candidates: int = NOISE_CANDIDATES) -> list[tuple[int, ...]]:
    """The ``top`` sets of each size from 2 to ``max_terms`` with the lowest held-out R
    among *every* subset of ``pool`` (the simplest terms; sizes with more than ``most``
    subsets are skipped); arguments as :func:`elimination_seeds`. A law of a few simple
    terms (``x − a log x + b y − c log y``) is found whatever its partial sums, where the
    elimination's greedy path can pass it by.

    With ``noise`` (``noise(j)``: ``(P, N)`` term ``j``'s first-order changes under the
    measurement noise, :class:`~dslsearch.sums.validate.TermValues`) and ``by_noise`` > 0,
    also the ``by_noise`` sets of each size, among its ``candidates`` best by held-out R,
    whose held-out noise ratio is lowest (a ratio below 1 counts as 1, then held-out R
    decides): the held-out choice prefers the lowest noise ratio, and a law whose terms
    amplify the noise (``log x`` near ``x = 0``) has a higher R than quieter stand-ins but
    not a higher noise ratio (Lotka–Volterra at σ = 0.1: the law ranked 6th to 45th of
    1820 sets of 4 terms by held-out R)."""
    from itertools import combinations
    from math import comb

    terms = [int(j) for j in pool if values(int(j)) is not None]
    if len(terms) < 2:
        return []
    F, mean, norm = _scaled(values, terms, fit)
    Zf, Zfw, Zo = _standardised(values, terms, fit, seg_fit, (F, mean, norm))
    T, W = Zf @ Zf.T, Zfw @ Zfw.T
    rows = _noise_rows(noise, terms, F, norm[:, 0]) if noise is not None and by_noise > 0 \
        else None
    out: list[tuple[int, ...]] = []
    for k in range(2, min(max_terms, len(terms)) + 1):
        if comb(len(terms), k) > most:
            break
        sets = np.asarray(list(combinations(range(len(terms)), k)), np.int64)
        _, V = solve_scatter(T[sets[:, :, None], sets[:, None, :]],
                             [W[sets[:, :, None], sets[:, None, :]]])
        score = held_out_r(np.einsum("bk,bkn->bn", V[0], Zo[sets]), labels_out, rest)
        score = np.where(np.isfinite(score), score, np.inf)
        order = np.argsort(score, kind="stable")
        picked = [int(i) for i in order[:top] if np.isfinite(score[i])]
        if rows is not None:
            picked += _quietest(rows, sets, V[0], score, order[:candidates], picked,
                                fit, labels_out, by_noise)
        out += [tuple(terms[j] for j in sets[i]) for i in picked]
    return out


def _noise_rows(noise, terms: list[int], F: np.ndarray, norm: np.ndarray):
    """``(F (p, N), D (p, P, N))``: the terms' values ``F`` and noise draws divided by
    ``norm (p,)`` (:func:`_scaled`: as the standardised rows of :func:`_standardised`);
    None when a term has no noise rows (then no set is scored by its noise ratio)."""
    D = [noise(t) for t in terms]
    if any(d is None for d in D):
        return None
    norm = np.where(norm > 0, norm, 1.0)
    return F / norm[:, None], np.stack(D) / norm[:, None, None]


def _quietest(rows, sets: np.ndarray, V: np.ndarray, score: np.ndarray,
              candidates: np.ndarray, picked: list[int], fit: np.ndarray,
              labels_out: np.ndarray, n: int) -> list[int]:
    """The ``n`` sets among ``candidates`` (indices into ``sets``, not ``picked``) of
    lowest held-out noise ratio taken at least 1, then lowest held-out R ``score``;
    ``V (B, k)``: each set's coefficients of the standardised terms ``rows``."""
    from dslsearch.sums.validate import _held_out_scored

    F, D = rows
    scored = []
    with np.errstate(all="ignore"):
        for i in candidates:
            i = int(i)
            if i in picked or not np.isfinite(score[i]) or not np.isfinite(V[i]).all():
                continue
            s = sets[i]
            ratio = _held_out_scored(V[i], F[s], D[s], fit, labels_out)[1]
            if np.isfinite(ratio):
                scored.append((max(ratio, 1.0), score[i], i))
    return [i for _, _, i in sorted(scored)[:n]]


def _scaled(values, terms: list[int], fit: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(F (p, N), mean (p, 1), norm (p, 1))``: ``values(t)`` of each term on all points,
    and its mean and centred norm on the fitting points ``fit (N,)``."""
    F = np.stack([values(t) for t in terms])
    Ff = F[:, fit]
    mean = Ff.mean(1, keepdims=True)
    norm = np.sqrt(np.einsum("pm,pm->p", Ff - mean, Ff - mean))[:, None]
    return F, mean, norm


def _standardised(values, terms: list[int], fit: np.ndarray, seg_fit: Segments,
                  scaled=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(Zf, Zfw, Zo)`` of :func:`eliminate` from ``values(t)`` ``(N,)`` of each term
    (``scaled``: their :func:`_scaled`, computed here when None)."""
    F, mean, norm = _scaled(values, terms, fit) if scaled is None else scaled
    Zf = (F[:, fit] - mean) / norm
    return Zf, within(Zf, seg_fit), (F[:, ~fit] - mean) / norm


def elimination_seeds(values, pool: np.ndarray, cross: Cross, fit: np.ndarray,
                      seg_fit: Segments, labels_out: np.ndarray, max_terms: int,
                      extend: int = 2, exact: float = 0.0,
                      width: int = 1, rest: bool = False) -> list[tuple[int, ...]]:
    """Term sets of 1 to ``max_terms`` terms met by backward elimination (two passes).

    Args:
        values: ``values(j)``: ``(N,)`` values of the beam's term ``j`` on all training
            points (None where not finite: such terms are left out of the pool).
        pool: ``(P,)`` the beam's terms to start from (the simplest).
        cross: the beam's :class:`~dslsearch.sums.select.Cross` (its rows: the beam's
            terms on the fitting points), for the extensions of the second pass.
        fit: ``(N,)`` bool, the fitting points; seg_fit: their trajectories;
            labels_out: ``(N_out,)`` trajectory of each held-out point.
        max_terms: largest seed.
        extend: the best library extensions (by R on the fitting points) of each first
            path set of 2 to ``max_terms`` terms added to the pool of the second pass.
        exact: the beam's ``exact`` (:func:`~dslsearch.sums.select._extend`'s floor).
        width: sets kept at each size of the elimination.
        rest: score every held-out R with its rest too (:func:`held_out_r`).

    Returns:
        The second pass's sets of ``max_terms`` terms and fewer (beam term indices,
        sorted), largest first; empty when fewer than two pool terms are finite.
    """
    terms = [int(j) for j in pool if values(int(j)) is not None]
    seeds: list[tuple[int, ...]] = []
    for second in (False, True):
        if len(terms) < 2:
            return []
        Z = _standardised(values, terms, fit, seg_fit)
        path = eliminate(*Z, labels_out, width=width, rest=rest)
        found = [rows for k in range(min(max_terms, len(terms) - 1), 0, -1) if k in path
                 for rows, _ in path[k]]
        if second:
            found += [polish(rows, *Z, labels_out, rest=rest) for rows in found]
        sets = list(dict.fromkeys(tuple(sorted(terms[i] for i in rows)) for rows in found))
        if second:
            return sets
        added = []
        for s in sets:
            if len(s) >= 2:
                R = _extend(cross, s, extend, floor=exact)
                added += [int(j) for j in np.argsort(R, kind="stable")[:extend]
                          if np.isfinite(R[j])]
        terms = sorted(set(terms) | {j for j in added if values(j) is not None})
    return seeds
