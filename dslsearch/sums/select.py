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

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np



@dataclass(frozen=True)
class TermSet:
    """A set of library terms and its R on the fitting points.

    Attributes:
        terms: sorted indices into the library's kept terms.
        R: the minimal R of a sum of these terms (coefficients fitted).
    """

    terms: tuple[int, ...]
    R: float


def rank_key(R: np.ndarray, size: np.ndarray, exact: float, node_weight: float = 0.0,
             factor: np.ndarray | None = None) -> np.ndarray:
    """Order of sets: by ``R * 10**(node_weight * size)`` (by R alone for ``node_weight``
    0), except that every set with ``R <= exact`` (conserved to round-off, where R's
    differences are noise) comes first, the fewest nodes first. ``factor``: the factors
    ``10**(node_weight * size)`` computed before (:func:`_factors`)."""
    with np.errstate(divide="ignore", over="ignore"):
        if node_weight and factor is None:
            factor = 10.0 ** (node_weight * np.asarray(size))
        scaled = R if not node_weight else R * factor
        return np.where(R <= exact, -1.0 / np.maximum(size, 1), scaled)


class _Factors:
    """``10**(node_weight * (nodes + size))`` of sets of ``nodes`` nodes extended by terms
    of ``size (n,)`` nodes, and ``size + nodes``, computed once per ``nodes``: every set
    of a level with the same number of nodes shares them."""

    def __init__(self, size: np.ndarray):
        self.size, self._done = size, {}

    def __call__(self, nodes: int, node_weight: float) -> tuple[np.ndarray, np.ndarray]:
        key = (int(nodes), float(node_weight))
        if key not in self._done:
            total = nodes + self.size
            with np.errstate(over="ignore"):
                factor = 10.0 ** (node_weight * np.asarray(total)) if node_weight else None
            self._done[key] = (total, factor)
        return self._done[key]


def weights(size: np.ndarray, node_weights: tuple[float, ...]) -> np.ndarray:
    """``(q, n)`` factors ``10**(w * size)`` of the q rankings ``node_weights`` (one row
    of ones for a weight 0: the ranking by R alone)."""
    size = np.asarray(size, float)
    return np.stack([10.0 ** (w * size) for w in node_weights])


class Cross:
    """Products of library rows with every row, computed once per row and kept.

    ``t(i) = Z @ Z[i]`` and ``w(i) = Zw @ Zw[i]``, ``(n,)`` each: the total and within
    scatter of term ``i`` with every term. Beam sets share most of their terms, so each row
    is needed many times; memory is ``2 n`` floats per distinct term of the sets visited.
    """

    def __init__(self, Z: np.ndarray, Zw: np.ndarray):
        self.Z, self.Zw = Z, Zw
        self.w_diag = np.einsum("nm,nm->n", Zw, Zw)          # R of each term alone
        self._rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._parent: Cross | None = None
        self._index: np.ndarray | None = None

    def subset(self, index: np.ndarray) -> "Cross":
        """The products of the rows ``index (n',)`` (sorted, distinct) among themselves:
        a :class:`Cross` of ``Z[index]``, ``Zw[index]`` whose rows are taken from this
        one's (computed here once, shared by both). Each product is a dot product of two
        rows alone, so the values are those of a fresh ``Cross`` of the subset."""
        index = np.asarray(index, np.int64)
        sub = Cross.__new__(Cross)
        sub.Z = sub.Zw = None                        # never read: rows come from this one
        sub.w_diag = self.w_diag[index]
        sub._rows, sub._parent, sub._index = {}, self, index
        return sub

    def _row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if i not in self._rows:
            if self._parent is not None:
                t, w = self._parent._row(int(self._index[i]))
                self._rows[i] = (t[self._index], w[self._index])
            else:
                # einsum, not BLAS: a threaded BLAS on busy cores waits far longer than it
                # computes these matrix-vector products
                self._rows[i] = (np.einsum("nm,m->n", self.Z, self.Z[i]),
                                 np.einsum("nm,m->n", self.Zw, self.Zw[i]))
        return self._rows[i]

    def rows(self, terms) -> tuple[np.ndarray, np.ndarray]:
        """``(t (k, n), w (k, n))`` of ``terms``."""
        got = [self._row(i) for i in terms]
        return np.stack([g[0] for g in got]), np.stack([g[1] for g in got])


def _set_basis(T: np.ndarray, W: np.ndarray, rel_tol: float = 1e-10
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(B (k, r), lam (r,))``: ``B' T B = I``, ``B' W B = diag(lam)``, lam ascending;
    directions of T below ``rel_tol`` of its largest eigenvalue are dropped."""
    lt, U = np.linalg.eigh(T)
    keep = lt > rel_tol * max(lt[-1], 0.0)
    A = U[:, keep] / np.sqrt(lt[keep])
    lam, Q = np.linalg.eigh(A.T @ W @ A)
    return A @ Q, lam


def _above(lam: np.ndarray, beta: np.ndarray, gamma: np.ndarray, limit: np.ndarray,
           floor: float) -> np.ndarray:
    """``(c,)`` True where the smallest eigenvalue of arrowhead matrix j (``lam (r,)``,
    ``beta (r, c)``, ``gamma (c,)``) is certainly above ``limit[q, j]`` for every q
    (``limit (q, c)``) and each ``limit[q, j] > floor``.

    Below ``lam[0]`` the smallest eigenvalue mu is the one root of the decreasing secular
    function ``s(t) = gamma − t − sum_i beta_i² / (lam_i − t)``, so ``s(t) > 0`` means
    ``mu > t``. Only a clear verdict counts: ``t`` well below ``lam[0]`` (by 1e-6 of their
    size) and ``s(t)`` above 1e-9 of the size of its terms."""
    with np.errstate(all="ignore"):
        gap = lam[0] - limit                                              # (q, c)
        den = lam[None, :, None] - limit[:, None, :]                      # (q, r, c)
        terms = (beta * beta)[None] / den
        s = gamma[None] - limit - terms.sum(1)
        size = np.abs(gamma)[None] + np.abs(limit) + np.abs(terms).sum(1)
        clear = ((gap > 1e-6 * (np.abs(lam[0]) + np.abs(limit))) & (s > 1e-9 * size)
                 & (limit > floor) & np.isfinite(s))
    return clear.all(0)


def above_bound(limits: list[float], factors: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The largest of the limits ``limits[q] / factors[q, idx]`` (lower bounds of the
    eigenvalues :func:`_above` placed above them)."""
    return np.max(np.stack([t / f[idx] for t, f in zip(limits, factors)]), axis=0)


def smallest_roots(lam: np.ndarray, beta: np.ndarray, gamma: np.ndarray, keep: int,
                   scale: np.ndarray | None = None, floor: float = np.inf) -> np.ndarray:
    """Smallest eigenvalue of each arrowhead matrix ``[[diag(lam), beta], [beta', gamma]]``,
    exact for the ``keep`` smallest (and any that could be among them), a lower bound for
    the others.

    Args:
        lam: ``(r,)`` ascending, the same for every matrix.
        beta: ``(r, n)`` borders; gamma: ``(n,)`` corners.
        keep: how many of the smallest are needed exactly.
        scale: ``(q, n)`` positive factors of q rankings (None: one, by the eigenvalue
            alone): exact for the ``keep`` smallest of ``eigenvalue * scale[i]``, each i.

    Bounds per matrix: replacing ``diag(lam)`` by ``lam[0]·I`` lowers the matrix, so the
    2×2 problem ``[[lam[0], |beta|], [|beta|, gamma]]`` bounds the eigenvalue from below;
    keeping only the first border entry (a subspace) bounds it from above. Only matrices
    whose lower bound does not exceed the ``keep``-th smallest upper bound can be among the
    ``keep`` smallest; those are solved by ``eigvalsh``. Negative round-off is clipped to 0.

    With ``floor`` finite, a candidate whose eigenvalue the secular function places above
    every ranking's limit (:func:`_above`; each limit above ``floor``) is not solved: it
    gets that limit as its lower bound. The ``keep`` smallest are the same, with the same
    values, bit for bit; only the bounds of the others change (each still above every
    limit, and above ``floor``: ``floor`` is the caller's ``exact``, below which sets
    rank by size, not by R).
    """
    if lam.size == 0:
        return np.clip(gamma, 0.0, None)

    def two_by_two(a, b2, c):
        return 0.5 * ((a + c) - np.sqrt((a - c) ** 2 + 4.0 * b2))

    with np.errstate(invalid="ignore"):                  # gamma = inf: excluded terms
        low = two_by_two(lam[0], np.einsum("rn,rn->n", beta, beta), gamma)
        up = two_by_two(lam[0], beta[0] ** 2, gamma)
    low, up = np.where(np.isfinite(gamma), low, np.inf), np.where(np.isfinite(gamma), up, np.inf)
    k = min(keep, up.size) - 1
    need = np.zeros(up.size, bool)
    factors = np.ones((1, up.size)) if scale is None else scale
    limits = []
    for f in factors:
        with np.errstate(invalid="ignore"):
            ranked_up, ranked_low = up * f, low * f
        threshold = np.partition(ranked_up, k)[k] if k >= 0 else -np.inf
        limits.append(threshold * (1.0 + 1e-9) + 1e-300)
        need |= ranked_low <= limits[-1]
    need = np.nonzero(need)[0]
    R = low.copy()
    if need.size > keep and floor < np.inf:
        above = _above(lam, beta[:, need], gamma[need],
                       np.stack([t / f[need] for t, f in zip(limits, factors)]), floor)
        R[need[above]] = np.maximum(low[need[above]], above_bound(limits, factors,
                                                                  need[above]))
        need = need[~above]
    if need.size:
        r = lam.size
        A = np.zeros((need.size, r + 1, r + 1))
        A[:, np.arange(r), np.arange(r)] = lam
        A[:, :r, r] = A[:, r, :r] = beta[:, need].T
        A[:, r, r] = gamma[need]
        R[need] = np.linalg.eigvalsh(A)[:, 0]
    return np.clip(R, 0.0, None)


def _extend(cross: Cross, terms: tuple[int, ...], keep: int, rel_tol: float = 1e-10,
            scale: np.ndarray | None = None, floor: float = np.inf) -> np.ndarray:
    """``(n,)`` minimal R of ``terms`` plus each library term: exact for the ``keep`` best
    (and any that could be among them; with ``scale`` ``(q, n)``, the ``keep`` best of
    each ranking ``R * scale[i]``), a lower bound for the others; inf for terms already in
    and for terms in the span of ``terms``. ``floor``: :func:`smallest_roots`'s (the
    search's ``exact``; inf: every candidate that could rank high solved exactly).

    The set's own pencil is diagonalised once (``B``, ``lam``); each candidate term is
    split into its part in that span (``a``) and the rest (norm ``rho``), which makes the
    enlarged pencil an arrowhead matrix (:func:`smallest_roots`): ``O(k n)`` per set after
    the cached row products, and eigensolves only for the few that can rank high.
    """
    S = list(terms)
    ct, cw = cross.rows(S)                                     # (k, n)
    B, lam = _set_basis(ct[:, S], cw[:, S])
    a, b = B.T @ ct, B.T @ cw                                  # (r, n)
    rho2 = 1.0 - np.einsum("rn,rn->n", a, a)
    eWe = cross.w_diag - 2.0 * np.einsum("rn,rn->n", a, b) + np.einsum(
        "r,rn->n", lam, a * a)
    ok = rho2 > rel_tol
    rho = np.sqrt(np.where(ok, rho2, 1.0))
    beta = (b - lam[:, None] * a) / rho
    gamma = np.where(ok, eWe / (rho * rho), np.inf)
    gamma[S] = np.inf
    R = smallest_roots(lam, beta, gamma, keep + len(S), scale, floor)
    R = np.where(ok & np.isfinite(R), R, np.inf)
    R[S] = np.inf
    return R


def swap_refine(cross: Cross, start: TermSet, exact: float = 0.0, sweeps: int = 3
                ) -> TermSet:
    """Improve a set by exchanging one term at a time for the best library term.

    Each sweep tries, for every term of the set, all ``n`` replacements at once (the set
    without it, extended by every term); a replacement is kept when it lowers R. Stops after
    a sweep without change or after ``sweeps`` sweeps; a set already at ``R <= exact`` is
    left as it is (lower R is round-off there). Beam search adds terms and never removes
    one; this repairs an early choice that later terms made unnecessary.
    """
    terms, R = list(start.terms), start.R
    for _ in range(sweeps if R > exact else 0):
        changed = False
        for i in range(len(terms)):
            rest = tuple(terms[:i] + terms[i + 1:])
            Rj = _extend(cross, rest, 1, floor=exact)
            j = int(np.argmin(Rj))
            if Rj[j] < R * (1.0 - 1e-9) and j != terms[i]:
                terms[i], R, changed = j, float(Rj[j]), True
        if not changed:
            break
    return TermSet(tuple(sorted(terms)), R)


def prune(cross: Cross, start: TermSet, exact: float) -> TermSet:
    """Drop terms of a set conserved to round-off (``R <= exact``) while it stays so: the
    beam may reach an exact set only through a term whose coefficient is round-off."""
    terms = list(start.terms)
    while len(terms) > 1:
        rests = [terms[:i] + terms[i + 1:] for i in range(len(terms))]
        R = [max(float(_set_basis(*(m[:, r] for m in cross.rows(r)))[1][:1].min(
            initial=np.inf)), 0.0) for r in rests]
        i = int(np.argmin(R))
        if R[i] > exact:
            break
        terms = rests[i]
    return TermSet(tuple(sorted(terms)), start.R) if len(terms) < len(start.terms) else start


def best_pairs(Z: np.ndarray, Zw: np.ndarray, w_diag: np.ndarray, size: np.ndarray,
               beam: int, exact: float, block: int = 512,
               node_weights: tuple[float, ...] = (0.0,)) -> list[TermSet]:
    """The ``beam`` best pairs of rows of ``Z`` by each ranking :func:`rank_key` with
    ``node_weights`` (together, without repeats; best by the first ranking first), every
    pair tried.

    The 2x2 problem has a closed form: with ``T = [[1, t], [t, 1]]`` and
    ``W = [[a, w], [w, b]]`` the smallest R is the small root of
    ``(1 - t^2) R^2 - (a + b - 2wt) R + (ab - w^2) = 0``, taken in its cancellation-free
    form ``2C / (B + sqrt(B^2 - 4AC))``. ``O(n^2 M)``, in blocks of ``block`` rows.
    """
    n = Z.shape[0]
    best_r, best_ij = np.empty(0), np.empty((0, 2), np.int64)
    # 10**(nw * nodes) of every pair's number of nodes, looked up: the same values
    top_size = 2 * int(np.max(size, initial=0)) + 1
    with np.errstate(over="ignore"):
        tables = {nw: 10.0 ** (nw * np.arange(top_size)) for nw in node_weights if nw}
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
        pair_size = (size[rows] + size[None, :]).ravel()
        top = np.unique(np.concatenate([
            np.argpartition(rank_key(flat, pair_size, exact, nw,
                                     tables[nw][pair_size] if nw else None),
                            min(beam, flat.size - 1))[:beam] for nw in node_weights]))
        best_r = np.concatenate([best_r, flat[top]])
        best_ij = np.concatenate([best_ij, np.stack([rows[top // n, 0], top % n], 1)])
    sets = [TermSet((int(i), int(j)), float(r)) for (i, j), r in zip(best_ij, best_r)
            if np.isfinite(r)]
    return _kept(sets, size, exact, beam, node_weights)


def _set_sizes(sets: list[TermSet], size: np.ndarray) -> np.ndarray:
    """``(len(sets),)`` nodes of each set (its terms' ``size`` summed)."""
    lengths = {len(ts.terms) for ts in sets}
    if len(lengths) == 1:                  # one size of set: one gather, integer sums
        return size[np.asarray([ts.terms for ts in sets], np.int64)].sum(1)
    return np.asarray([size[list(ts.terms)].sum() for ts in sets])


def _ordered(sets: list[TermSet], size: np.ndarray, exact: float,
             node_weight: float = 0.0) -> list[TermSet]:
    if not sets:
        return []
    keys = rank_key(np.asarray([ts.R for ts in sets]), _set_sizes(sets, size), exact,
                    node_weight)
    if len({len(ts.terms) for ts in sets}) == 1:      # by key, then the terms in order
        terms = np.asarray([ts.terms for ts in sets], np.int64)
        order = np.lexsort((*terms.T[::-1], keys)).tolist()
    else:
        keys = keys.tolist()
        order = sorted(range(len(sets)), key=lambda i: (keys[i], sets[i].terms))
    return [sets[i] for i in order]


def smallest(key: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` smallest of ``key (n,)`` in ascending order, ties by index:
    ``np.argsort(key, kind="stable")[:k]``, sorting only the entries up to the k-th
    smallest value."""
    if k >= key.size:
        return np.argsort(key, kind="stable")
    if k <= 0:
        return np.zeros(0, np.int64)
    threshold = np.partition(key, k - 1)[k - 1]
    if np.isnan(threshold):                               # NaN sorts last: sort them all
        return np.argsort(key, kind="stable")[:k]
    idx = np.nonzero(key <= threshold)[0]                 # every tie of the k-th included
    return idx[np.argsort(key[idx], kind="stable")][:k]


def _kept(sets: list[TermSet], size: np.ndarray, exact: float, beam: int,
          node_weights: tuple[float, ...]) -> list[TermSet]:
    """The ``beam`` best of ``sets`` by each ranking (:func:`rank_key` with each of
    ``node_weights``), without repeats, in the order of the first ranking."""
    if not sets:
        return []
    kept = {ts for nw in node_weights for ts in _ordered(sets, size, exact, nw)[:beam]}
    return _ordered(list(kept), size, exact, node_weights[0])


def _next_level(cross: Cross, level: list[TermSet], size: np.ndarray, exact: float,
                beam: int, rankings: tuple[float, ...], scale: np.ndarray) -> list[TermSet]:
    """The sets of one more term: each set of ``level`` extended by its ``beam`` best
    library terms by each ranking, then the ``beam`` best of all by each (:func:`_kept`)."""
    found: dict[tuple[int, ...], float] = {}
    factors = _Factors(size)
    for current in level:
        R = _extend(cross, current.terms, beam, scale=scale if len(rankings) > 1 else None,
                    floor=exact)
        nodes = size[list(current.terms)].sum()
        for nw in rankings:
            total, factor = factors(nodes, nw)
            key = rank_key(R, total, exact, nw, factor)
            for j in smallest(key, beam):
                if not np.isfinite(R[j]):
                    break
                terms = tuple(sorted(current.terms + (int(j),)))
                found[terms] = min(found.get(terms, np.inf), float(R[j]))
    return _kept([TermSet(t, r) for t, r in found.items()], size, exact, beam, rankings)


def set_r(cross: Cross, terms: tuple[int, ...]) -> float:
    """The minimal R of a sum of ``terms`` (indices into the cross's rows)."""
    ct, cw = cross.rows(list(terms))
    lam = _set_basis(ct[:, list(terms)], cw[:, list(terms)])[1]
    return max(float(lam[0]), 0.0) if lam.size else math.inf


def _seeded(level: list[TermSet], seeds: tuple[tuple[int, ...], ...], cross: Cross,
            size: np.ndarray, exact: float) -> list[TermSet]:
    """``level`` with the ``seeds`` of its size that it lacks, each with its R, ordered
    as levels are (:func:`_ordered`); ``level`` itself without such seeds."""
    k = len(level[0].terms) if level else 0
    have = {ts.terms for ts in level}
    extra = [TermSet(t, set_r(cross, t)) for t in dict.fromkeys(seeds)
             if len(t) == k and t not in have]
    extra = [ts for ts in extra if math.isfinite(ts.R)]
    return _ordered(level + extra, size, exact) if extra else level


def with_subsets(levels: list[list[TermSet]], cross: Cross, size: np.ndarray,
                 exact: float) -> list[list[TermSet]]:
    """``levels`` (one list per size, as :func:`beam_search` returns them) with every set
    of one term less than a set of the next size joined to its level (each with its R,
    ordered as levels are): the beam only adds terms, so a law of ``k`` terms is reached
    only where one of its partial sums ranks among the kept sets; a set of ``k + 1`` terms
    that holds it (the law plus a term that fits some of the noise) can rank there when
    the law itself does not. Only the sets of ``levels`` give subsets (the beam's, its
    seeds' and the second beam's), not the subsets added here (no cascade); single terms
    are left as they are.

    Kepler at σ = 0.1: the Runge–Lenz component ``x py² − px py y − x/r`` was never among
    the sets of three terms, while the same terms with ``x`` were among those of four."""
    below = []
    for k, level in enumerate(levels):
        above = levels[k + 1] if k + 1 < len(levels) and k >= 1 else []
        subs = tuple(dict.fromkeys(tuple(t for t in ts.terms if t != d)
                                   for ts in above for d in ts.terms))
        below.append(_seeded(level, subs, cross, size, exact) if subs else level)
    return below


def simpler_forms(formulas) -> list[tuple[int, ...]]:
    """For each formula of ``formulas`` (a sequence of :class:`~dslsearch.formula.Formula`,
    one per term), the indices of the others it becomes when its outer operations of one
    argument are peeled off one by one (``sin(cos θ)`` → ``cos θ`` → ``θ``), nearest first:
    the same term through a function of one argument."""
    from dslsearch.ops import arity_of

    where = {f: j for j, f in enumerate(formulas)}
    out = []
    for f in formulas:
        found = []
        while arity_of(f.op) == 1:
            f = f.args[0]
            if f in where and f.has_input:
                found.append(where[f])
        out.append(tuple(found))
    return out


def with_simpler(level: list[TermSet], chosen: tuple[int, ...], simpler, cross: Cross,
                 size: np.ndarray, exact: float) -> list[TermSet]:
    """``level`` with every set that differs from ``chosen`` (a set of the level's size,
    sorted term indices) in one term, replaced by one of its simpler forms (``simpler[t]``:
    :func:`simpler_forms`, terms of ``chosen`` excluded), each with its R, ordered as
    levels are; ``level`` itself when there is none.

    On noisy data a term and a function of it fit a law about equally well where the
    term's range is small (``sin(cos θ2)`` and ``cos θ2`` of the double pendulum at
    σ = 0.1, with ``θ2`` small, are nearly affine in each other): the beam keeps the set it
    reached first, and the term's own form need not be among its sets at all."""
    have = set(chosen)
    variants = tuple(tuple(sorted(have - {t} | {s})) for t in chosen
                     for s in simpler[t] if s not in have)
    return _seeded(level, variants, cross, size, exact) if variants else level


class _Corrected:
    """The beam's sets by noise-corrected R (:mod:`dslsearch.sums.noise_rank`), one size
    after the other: each method returns the size's best ``beam`` sets (sorted term
    indices) and keeps them to extend."""

    def __init__(self, cross: Cross, noise, beam: int, refine: int):
        self.cross, self.noise, self.beam, self.refine = cross, noise, beam, refine
        self.sets: list[tuple[tuple[int, ...], float]] = []

    def _keep(self, found: dict) -> tuple[tuple[int, ...], ...]:
        self.sets = sorted(found.items(), key=lambda kv: (kv[1], kv[0]))[:self.beam]
        return tuple(t for t, _ in self.sets)

    def pairs(self, Z: np.ndarray, Zw: np.ndarray, m: int) -> tuple[tuple[int, ...], ...]:
        from dslsearch.sums.noise_rank import corrected_pairs

        return self._keep(dict(corrected_pairs(Z, Zw, self.noise, m, self.beam)))

    def next_level(self, level: list[TermSet]) -> tuple[tuple[int, ...], ...]:
        """The best sets one term larger than the sets kept and the ``beam`` best of
        ``level`` (the beam's previous size, by R)."""
        from dslsearch.sums.noise_rank import corrected_extend, corrected_refine

        found: dict[tuple[int, ...], float] = {}
        for terms in dict.fromkeys([t for t, _ in self.sets]
                                   + [ts.terms for ts in level[:self.beam]]):
            R = corrected_extend(self.cross, self.noise, terms, keep=self.beam)
            for j in smallest(R, self.beam):
                if not np.isfinite(R[j]):
                    break
                t = tuple(sorted(terms + (int(j),)))
                found[t] = min(found.get(t, np.inf), float(R[j]))
        best = sorted(found.items(), key=lambda kv: (kv[1], kv[0]))[:self.refine]
        for terms, R in best:
            t, r = corrected_refine(self.cross, self.noise, terms, R)
            found[t] = min(found.get(t, np.inf), r)
        return self._keep(found)


def beam_search(Z: np.ndarray, Zw: np.ndarray, size: np.ndarray, max_terms: int, beam: int,
                exact: float, pair_screen: int = 2000, refine: int = 4,
                progress: Callable[[int], None] | None = None,
                node_weight: float = 0.0, cross: Cross | None = None,
                seeds: tuple[tuple[int, ...], ...] = (), refine_keeps: bool = False,
                noise=None, noise_refine: int = 2) -> list[list[TermSet]]:
    """The best term sets of each size, found by beam search.

    Args:
        Z, Zw: ``(n, M)`` standardised library values and their within-trajectory parts
            (:class:`~dslsearch.sums.library.TermLibrary`).
        size: ``(n,)`` nodes of each term (among sets conserved to round-off, fewer
            nodes rank first: :func:`rank_key`).
        max_terms: largest set size.
        beam: sets kept (and extended) at each size, by each ranking.
        pair_screen: every pair of the first (simplest) ``pair_screen`` terms is tried
            for the sets of two terms (a single term's own R says little about its
            partners); larger terms enter by extension of the sets kept.
        exact: stop once the best set's R is at most this.
        refine: the best ``refine`` sets of each size from three on are improved by
            :func:`swap_refine`.
        refine_keeps: the improved sets join their level beside the sets they came from
            (else they take their places); both are extended.
        progress: called with each finished size.
        node_weight: when positive, a second ranking, by ``R * 10**(node_weight *
            nodes)`` (a set of simpler terms may be less conserved), keeps its own
            ``beam`` best sets at each size beside the ``beam`` best by R: a law whose
            partial sums are far from conserved (the terms cancel only together) can
            be reached through its simple partial sums, which R alone drops for sums
            of more complex terms that approximate better.
        cross: the :class:`Cross` of ``Z``, ``Zw`` (one shared with another search of
            the same terms, :meth:`Cross.subset`); None: a new one.
        seeds: term sets (sorted indices) added to the level of their size, beside the
            beam's own sets, and extended like them (:mod:`dslsearch.sums.seed`).
        noise: a :class:`~dslsearch.sums.noise_rank.NoiseCross` of the same rows (noisy
            points): each level returned from two terms on also holds the ``beam`` best
            sets of a second beam, by the noise-corrected R (every pair of the first
            ``pair_screen / 2`` terms for two terms; then the extensions of its own sets
            of the previous size and of the ``beam`` best there by R, the best
            ``noise_refine`` improved by swapping terms), with their plain R. The beam by
            R does not extend them: its levels are those it finds without ``noise``.

    Returns:
        One list per size ``1, 2, …`` (possibly fewer than ``max_terms``), each up to
        ``beam`` distinct sets per ranking, best by R (:func:`rank_key`) first.
    """
    n = Z.shape[0]
    if n == 0:
        return []
    rankings = (0.0, node_weight) if node_weight > 0 else (0.0,)
    scale = weights(size, rankings)                                     # (q, n)
    cross = Cross(Z, Zw) if cross is None else cross
    w_diag = cross.w_diag                                  # R of each term alone (T_jj = 1)
    corrected = None if noise is None else _Corrected(cross, noise, beam, noise_refine)
    extra: list[tuple[tuple[int, ...], ...]] = []      # the corrected beam's sets, by size
    levels = [_seeded(_kept([TermSet((j,), float(w_diag[j])) for j in range(n)], size,
                            exact, beam, rankings), seeds, cross, size, exact)]
    if corrected is not None:
        # one term: the corrected fit is the plain one, and a ranking by R_c only brings
        # in terms whose scatter is mostly the noise's (py⁸ y⁸ on the two-dimensional
        # oscillator at σ = 0.1), which the beam by R rightly leaves out
        extra.append(())
    if progress:
        progress(1)
    if max_terms >= 2 and levels[0][0].R > exact and n >= 2:
        m = min(n, pair_screen)
        levels.append(_seeded(best_pairs(Z[:m], Zw[:m], w_diag[:m], size[:m], beam, exact,
                                         node_weights=rankings), seeds, cross, size, exact))
        if corrected is not None:
            extra.append(corrected.pairs(Z, Zw, m // 2))
        if progress:
            progress(2)
    while len(levels) < max_terms and levels[-1][0].R > exact and len(levels) < n:
        level = _next_level(cross, levels[-1], size, exact, beam, rankings, scale)
        if not level:
            break
        if corrected is not None:
            extra.append(corrected.next_level(levels[-1]))
        refined = [swap_refine(cross, ts, exact) for ts in level[:refine]]
        level = level + refined if refine_keeps else refined + level[refine:]
        levels.append(_seeded(_ordered(list(dict.fromkeys(level)), size, exact), seeds,
                              cross, size, exact))
        if progress:
            progress(len(levels))
    if levels[-1][0].R <= exact:
        small = prune(cross, levels[-1][0], exact)
        if len(small.terms) < len(levels):
            k = len(small.terms)
            levels = levels[:k - 1] + [[small] + [ts for ts in levels[k - 1] if ts != small]]
    # the corrected beam's sets join the levels last: the beam by R is the same with or
    # without them
    return [_seeded(level, extra[k], cross, size, exact) if k < len(extra) else level
            for k, level in enumerate(levels)]
