"""The term library: parameter-free formulas of the candidate table, deduplicated.

Every parameter-free candidate of at most ``term_size`` nodes is evaluated on the training
points (the table's shared-subtree evaluator). A term is dropped, with its status kept,
when it is not finite on the data, when it is constant there, or when it duplicates a
simpler term up to sign, scale and offset (coefficients absorb scale and sign, and R is
invariant to an additive constant, so such terms span the same sums). What remains is
held standardised on the fitting points: ``Z`` (centred, unit norm) and ``Zw`` (minus the
per-trajectory means), from which every scatter matrix of the selection is one product.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from dslsearch.fitting.evaluate import NodeValues
from dslsearch.fitting.objective import Segments, centred, is_trivial, within
from dslsearch.fitting.skeleton import parameter_counts


class TermStatus(enum.IntEnum):
    """What became of one term of the library; :attr:`message` is the user-facing text."""

    OK = 0
    NONFINITE = 1
    CONSTANT = 2
    DUPLICATE = 3

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    TermStatus.OK: "in the library",
    TermStatus.NONFINITE: "produces NaN or inf on the data",
    TermStatus.CONSTANT: "constant on the data",
    TermStatus.DUPLICATE: "equal to a simpler term up to sign, scale and offset",
}


@dataclass(frozen=True, eq=False)
class TermLibrary:
    """Parameter-free terms and their standardised values.

    Attributes:
        nodes: ``(n_all,)`` table node ids of every parameter-free candidate considered,
            by size then creation (simplest first).
        status: ``(n_all,)`` int8 :class:`TermStatus` of each.
        duplicate_of: ``(n_all,)`` index into ``nodes`` of the kept term a duplicate
            equals (-1 for the others).
        kept: ``(n,)`` indices into ``nodes`` of the terms with status OK.
        Z: ``(n, M)`` kept terms' values on the M fitting points, centred, unit norm.
        Zw: ``(n, M)`` the same minus their per-trajectory means (points in segment order).
    """

    nodes: np.ndarray
    status: np.ndarray
    duplicate_of: np.ndarray
    kept: np.ndarray
    Z: np.ndarray
    Zw: np.ndarray

    @property
    def n_terms(self) -> int:
        """Terms left for the selection."""
        return int(self.kept.size)

    def count(self, status: TermStatus) -> int:
        return int((self.status == status).sum())


def _unique_up_to_sign(Z: np.ndarray, digits: int) -> tuple[np.ndarray, np.ndarray]:
    """``(first, inverse)`` of rows of ``Z`` equal up to sign after rounding; ``first`` are
    the indices of the first (simplest) row of each class, ``inverse`` its class per row."""
    probe = np.random.default_rng(0).standard_normal(Z.shape[1])
    sign = np.where(Z @ probe < 0, -1.0, 1.0)
    scale = 10.0 ** digits
    keys = np.round(Z * sign[:, None] * scale).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def _screen_values(table, nodes: np.ndarray, x: np.ndarray, fit_points: np.ndarray,
                   chunk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(finite (n,), constant (n,), values on the fitting points (n, M))`` of ``nodes``,
    evaluated ``chunk`` points at a time (memory ``n x chunk``, whatever the data's size).
    Sums of squares are taken about each term's value at the first point, so a constant
    term gives exactly 0 spread, never round-off of ``sum v² − (sum v)²/N``."""
    n, N = nodes.size, x.shape[0]
    finite = np.ones(n, bool)
    s1, s2, q = np.zeros(n), np.zeros(n), np.zeros(n)
    fit = np.empty((n, fit_points.size))
    ref = None
    with np.errstate(all="ignore"):
        for start in range(0, N, chunk):
            V = NodeValues(table.op, table.a, table.b, table.size, x[start:start + chunk],
                           nodes)[nodes]                                  # (n, chunk)
            finite &= np.isfinite(V).all(1)
            V = np.where(finite[:, None], V, 0.0)
            ref = V[:, :1].copy() if ref is None else ref
            D = V - ref
            s1 += D.sum(1)
            s2 += np.einsum("gn,gn->g", D, D)
            q += np.einsum("gn,gn->g", V, V)
            inside = (fit_points >= start) & (fit_points < start + chunk)
            fit[:, inside] = V[:, fit_points[inside] - start]
        T = np.clip(s2 - s1 * s1 / N, 0.0, None)
    return finite, is_trivial(T, q), np.where(finite[:, None], fit, 0.0)


def build_library(table, x: np.ndarray, seg_fit: Segments, fit_points: np.ndarray,
                  term_size: int, digits: int = 9, chunk: int = 4096) -> TermLibrary:
    """Evaluate, screen and deduplicate the parameter-free candidates of ``table``.

    Args:
        table: a :class:`~dslsearch.enumerate.FormulaTable` of depth >= ``term_size``.
        x: ``(N, d)`` training points, SI base units.
        seg_fit: the trajectories of the fitting points ``x[fit_points]``.
        fit_points: ``(M,)`` sorted indices of the fitting points.
        term_size: largest term in nodes.
        digits: rounding of the standardised values when looking for duplicates.
        chunk: points evaluated at once (bounds memory for long data).

    Returns:
        The :class:`TermLibrary`.
    """
    pc = parameter_counts(table.op, table.a, table.b)
    cands = table.candidates
    nodes = cands[(pc[cands] == 0) & (table.size[cands] <= term_size)].astype(np.int64)
    status = np.full(nodes.size, TermStatus.OK, np.int8)
    duplicate_of = np.full(nodes.size, -1, np.int64)
    finite, constant, Vf = _screen_values(table, nodes, x, np.asarray(fit_points), chunk)
    status[~finite] = TermStatus.NONFINITE
    Vf = centred(Vf)                                                        # (n_all, M)
    norm = np.sqrt(np.einsum("gm,gm->g", Vf, Vf))
    constant |= ~(norm > 0)
    status[finite & constant] = TermStatus.CONSTANT
    ok = np.nonzero(status == TermStatus.OK)[0]
    Z = Vf[ok] / norm[ok, None]
    first, inverse = _unique_up_to_sign(Z, digits)
    first_sorted = np.sort(first)
    rep = first[inverse]                       # each ok row's representative (its first)
    dup = rep != np.arange(ok.size)
    status[ok[dup]] = TermStatus.DUPLICATE
    duplicate_of[ok[dup]] = ok[rep[dup]]
    kept = ok[first_sorted]
    Zk = Z[first_sorted]
    return TermLibrary(nodes, status, duplicate_of, kept, Zk, within(Zk, seg_fit))
