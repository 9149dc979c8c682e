"""The term library: parameter-free formulas of the candidate table and composite terms
built from them, deduplicated.

Every parameter-free candidate of at most ``term_size`` nodes is evaluated on the training
points (the table's shared-subtree evaluator). *Composite* terms extend the library beyond
the table's size without enumerating it (:class:`Composites`): unary operations (``sqrt``,
``log``, ``inv``, chains of up to two) applied to small terms, so ``1/sqrt(x² + y²)``
(7 nodes), and products of two small terms, so ``ω1·ω2·cos(θ1 − θ2)`` (8 nodes). Sums and
differences ``a ± b`` are marked (``is_sum``): both parts are smaller terms of the library,
so such a term adds nothing to the span, only a cheaper way to take a partial sum, which
helps the selection to a law (``px² + py²`` in an energy) or traps it (``cos θ1 + cos θ2``
where the law weighs them 2:1); the search can leave them out. A term is dropped, with its
status kept,
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

from dslsearch.acceptance import cosine_basis
from dslsearch.fitting.evaluate import NodeValues
from dslsearch.formula import Formula, apply
from dslsearch.ops import ADD as ADD_CODE
from dslsearch.ops import DIV as DIV_CODE
from dslsearch.ops import INV as INV_CODE
from dslsearch.ops import MUL as MUL_CODE
from dslsearch.ops import INVALID, OPS, op_set
from dslsearch.ops import SUB as SUB_CODE
from dslsearch.fitting.objective import Segments, is_trivial, within
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


@dataclass(frozen=True)
class Composites:
    """Which composite terms extend the library.

    Attributes:
        unary: operation names applied to small terms (``"sqrt,log,inv"``; ``""``: none).
        unary_size: largest argument, in nodes, of a unary operation.
        unary_depth: operations applied in a chain at most (``inv(sqrt(u))``: 2); a chain
            never applies ``inv`` twice in a row.
        product_size: largest factor, in nodes, of a product of two terms (0: none).
        product_max: largest product in nodes; products the table holds already (at most
            ``term_size`` nodes) are not built again.
        scale_size: largest numerator, in nodes, of quotients ``f / u`` by a unary
            composite ``u`` (0: none): ``x/sqrt(x² + y²)`` (8 nodes), ``x`` times the
            chain ``inv(sqrt(x² + y²))``. At most ``product_max`` nodes.
    """

    unary: str = "sqrt,log,inv"
    unary_size: int = 5
    unary_depth: int = 2
    product_size: int = 4
    product_max: int = 8
    scale_size: int = 1

    def codes(self) -> list[int]:
        """Op codes of :attr:`unary`.

        Raises:
            ValueError: an unknown name, or an operation of two arguments.
        """
        return _unary_codes(self.unary)


@dataclass(frozen=True, eq=False)
class TermLibrary:
    """Parameter-free terms and their standardised values.

    Attributes:
        nodes: ``(n_all,)`` table node ids of every parameter-free candidate considered,
            and the composite terms (``-1 - i`` for ``composites[i]``), by size (simplest
            first), table terms before composites of their size.
        status: ``(n_all,)`` int8 :class:`TermStatus` of each.
        duplicate_of: ``(n_all,)`` index into ``nodes`` of the kept term a duplicate
            equals (-1 for the others).
        kept: ``(n,)`` indices into ``nodes`` of the terms with status OK.
        Z: ``(n, M)`` kept terms' values on the M fitting points, centred, unit norm.
        Zw: ``(n, M)`` the same minus their per-trajectory means (points in segment order).
        sizes: ``(n,)`` nodes of each kept term.
        is_sum: ``(n,)`` the kept term is a sum or difference of two smaller terms.
        table: the candidate table of the node ids; composites: the composite terms.
    """

    nodes: np.ndarray
    status: np.ndarray
    duplicate_of: np.ndarray
    kept: np.ndarray
    Z: np.ndarray
    Zw: np.ndarray
    sizes: np.ndarray = None
    is_sum: np.ndarray = None
    table: object = None
    composites: tuple = ()
    evaluate_all: object = None    # points (N', d) -> (n_all, N') values of every term of
    #                                ``nodes`` (:meth:`values_at`); None: not available

    def formula(self, t: int) -> Formula:
        """The formula of kept term ``t``."""
        node = int(self.nodes[self.kept[t]])
        return self.table.formula(node) if node >= 0 else self.composites[-1 - node]

    def complement(self, G: np.ndarray | None, seg, sums: bool = True
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(keep (n',), Z' (n', M), Zw' (n', M))``: the kept terms (without the sums of
        two terms unless ``sums``) with the values ``G`` ``(m, M)`` on the fitting points
        (laws found before) projected out, renormalised; terms left with less than
        :data:`MIN_REST` of their norm (the found laws themselves) are dropped. ``G``
        None: nothing projected out (with ``sums``: the library's own ``Z`` and ``Zw``,
        not copies; read them, never write)."""
        keep = np.arange(self.n_terms) if sums else np.nonzero(~self.is_sum)[0]
        if G is None or not len(G):            # every term: the library's own arrays
            return (keep, self.Z, self.Zw) if sums else (keep, self.Z[keep], self.Zw[keep])
        Z, norm = self._projected(G, keep)
        rest = np.nonzero(norm > MIN_REST)[0]
        Z = Z[rest] / norm[rest, None]
        return keep[rest], Z, within(Z, seg)

    def _projected(self, G: np.ndarray, keep: np.ndarray, rows: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
        """``(rows', norm (n',))``: ``rows`` (default ``Z[keep]``; ``(n', ..., M)``) less
        their part along the centred rows of ``G (m, M)``, and the norm left of each
        ``Z[keep]`` row."""
        Q, _ = np.linalg.qr((G - G.mean(1, keepdims=True)).T)                # (M, m)
        Z = self.Z[keep] - (self.Z[keep] @ Q) @ Q.T
        norm = np.sqrt(np.einsum("nm,nm->n", Z, Z))
        if rows is not None:
            Z = rows - (rows @ Q) @ Q.T
        return Z, norm

    def complement_rows(self, rows: np.ndarray, G: np.ndarray | None, keep: np.ndarray
                        ) -> np.ndarray:
        """``rows (n, ..., M)`` (one per kept term, on the scale of ``Z``) transformed as
        :meth:`complement` transforms the rows ``keep`` (its first output) of ``Z``: their
        part along ``G``'s span removed, divided by the norm left of ``Z``'s row; a linear
        map, so the first-order noise of each term (:mod:`dslsearch.sums.noise_rank`)
        follows its values."""
        if G is None or not len(G):
            return rows[keep]
        out, norm = self._projected(G, keep, rows[keep])
        return out / norm.reshape((-1,) + (1,) * (out.ndim - 1))

    def values_at(self, xp: np.ndarray, chunk: int | None = None) -> np.ndarray:
        """``(n, N')``: the kept terms' raw values (not standardised) on the points ``xp
        (N', d)``, evaluated as the library was, ``chunk`` points at a time (default: at
        most :data:`VALUES` values at once)."""
        if self.evaluate_all is None:
            raise ValueError("this library cannot evaluate its terms on other points")
        xp = np.asarray(xp, np.float64)
        step = chunk or max(16, VALUES // max(self.nodes.size, 1))
        out = np.empty((self.kept.size, xp.shape[0]))
        for start in range(0, xp.shape[0], step):
            out[:, start:start + step] = self.evaluate_all(xp[start:start + step])[self.kept]
        return out

    @property
    def n_terms(self) -> int:
        """Terms left for the selection."""
        return int(self.kept.size)

    def count(self, status: TermStatus) -> int:
        return int((self.status == status).sum())


def lowpass_weighted(Vw: np.ndarray, seg: Segments, cosines: int, high_weight: float
                     ) -> np.ndarray:
    """``Vw (..., N)`` (values minus their per-trajectory means, points in segment order,
    each trajectory in time order) with the part of each trajectory outside its first
    ``cosines`` cosine modes (``cos(pi j (t + 1/2) / n)``, ``j = 1..cosines``, n its
    points) scaled by ``sqrt(high_weight)``: the squared norm of the result weighs the
    slow variation of a sum along a trajectory fully and the fast one by ``high_weight``.

    White measurement noise spreads over all ``n − 1`` modes of a trajectory, while a sum
    that only approximates a conserved quantity drifts slowly along it (its residual
    follows the motion, a few cycles per trajectory), so a fit that minimises this
    weighted within-trajectory scatter is far less biased by the noise towards quieter
    terms than one that minimises the plain scatter. ``cosines`` 0: ``Vw`` unchanged."""
    if cosines <= 0 or high_weight >= 1.0:
        return Vw
    out = np.sqrt(high_weight) * Vw
    start = 0
    for n in seg.counts.astype(np.int64):
        B = cosine_basis(int(n), cosines)                              # (n, m)
        if B.shape[1]:
            part = Vw[..., start:start + n]
            out[..., start:start + n] += (1.0 - np.sqrt(high_weight)) * ((part @ B) @ B.T)
        start += n
    return out


#: values held at once while screening terms (points per chunk times terms): 2e6 float64,
#: 16 MB per copy
VALUES = 2_000_000

#: a term whose part outside the laws found so far has less than this norm (of 1) is one
#: of them: dropped from the search for further laws
MIN_REST = 1e-4


def _unique_up_to_sign(Z: np.ndarray, digits: int, block: int = 2048
                       ) -> tuple[np.ndarray, np.ndarray]:
    """``(first, inverse)`` of rows of ``Z`` equal up to sign after rounding; ``first`` are
    the indices of the first (simplest) row of each class, ``inverse`` its class per row.

    Each rounded row is reduced to two 64-bit hashes (its dot products, wrapping, with two
    fixed random integer vectors), ``block`` rows at a time: memory ``O(n)`` beyond ``Z``,
    and a chance of two different rows sharing both hashes of about ``n² / 2^128``."""
    rng = np.random.default_rng(0)
    probe = rng.standard_normal(Z.shape[1])
    mix = rng.integers(-2 ** 62, 2 ** 62, (Z.shape[1], 2), dtype=np.int64)
    scale = 10.0 ** digits
    hashes = np.empty((Z.shape[0], 2), np.int64)
    for i in range(0, Z.shape[0], block):
        z = Z[i:i + block]
        sign = np.where(z @ probe < 0, -1.0, 1.0)
        keys = np.round(z * sign[:, None] * scale).astype(np.int64)
        with np.errstate(over="ignore"):
            hashes[i:i + block] = keys @ mix
    _, first, inverse = np.unique(hashes, axis=0, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def _screen_values(produce, n: int, N: int, fit_points: np.ndarray, chunk: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(finite (n,), constant (n,), values on the fitting points (n, M))`` of ``n`` terms
    whose values on points ``start:stop`` are ``produce(start, stop)`` ``(n, stop-start)``,
    taken ``chunk`` points at a time (memory ``n x chunk``, whatever the data's size).
    Sums of squares are taken about each term's value at the first point, so a constant
    term gives exactly 0 spread, never round-off of ``sum v² − (sum v)²/N``."""
    finite = np.ones(n, bool)
    s1, s2, q = np.zeros(n), np.zeros(n), np.zeros(n)
    fit = np.empty((n, fit_points.size))
    ref = None
    with np.errstate(all="ignore"):
        for start in range(0, N, chunk):
            V = produce(start, min(start + chunk, N))                         # (n, chunk)
            finite &= np.isfinite(V).all(1)
            if not finite.all():
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


def _node_values(table, x: np.ndarray, nodes: np.ndarray):
    """``produce(start, stop)`` of table nodes on ``x[start:stop]``."""
    def produce(start: int, stop: int) -> np.ndarray:
        return NodeValues(table.op, table.a, table.b, table.size, x[start:stop],
                          nodes)[nodes]
    return produce


@dataclass(frozen=True)
class _Plan:
    """Composite terms over ``small`` table nodes: unary chains ``ops[i]`` applied to
    ``small[arg[i]]`` (``ops``: tuple of op codes, innermost first), then products
    ``small[left[j]] * small[right[j]]``, then scaled chains ``small[factor[k]]`` times
    unary term ``chained[k]``."""

    small: np.ndarray
    chains: tuple[tuple[int, ...], ...]
    arg: np.ndarray
    left: np.ndarray
    right: np.ndarray
    formulas: tuple[Formula, ...]
    sizes: np.ndarray
    factor: np.ndarray
    chained: np.ndarray


def _plan(table, nodes: np.ndarray, ok: np.ndarray, is_sum: np.ndarray, term_size: int,
          comp: Composites) -> _Plan:
    """The composite terms of ``comp`` over the base terms ``nodes[ok]``, unit-valid only
    (sums and differences are arguments of unary operations, never factors: a product
    with a sum is a sum of products)."""
    codes = _unary_codes(comp.unary)
    sizes = table.size[nodes].astype(np.int64)
    small_mask = ok & (sizes <= max(comp.unary_size if codes else 0, comp.product_size,
                                    comp.scale_size))
    small, ssize, ssum = nodes[small_mask], sizes[small_mask], is_sum[small_mask]
    dims = table.input_dims
    chains = [c for d in range(1, comp.unary_depth + 1) for c in _chains(codes, d)]
    formulas, arg, ops, out_size = [], [], [], []
    combined: dict = {}     # (op code, unit) -> unit: a few units recur over many terms
    for i in np.nonzero(ssize <= comp.unary_size)[0] if codes else []:
        base = table.formula(int(small[i]))
        unit = base.unit_state(dims)
        for chain in chains:
            u = unit
            for code in chain:
                u = _combined(combined, code, u)
            if u is not INVALID:
                f = base
                for code in chain:
                    f = apply(code, f)
                formulas.append(f)
                arg.append(i)
                ops.append(chain)
                out_size.append(ssize[i] + len(chain))
    fac = np.nonzero((ssize <= comp.product_size) & ~ssum)[0]
    li, ri = np.triu_indices(fac.size, 1)
    tot = ssize[fac[li]] + ssize[fac[ri]] + 1
    pick = (tot > term_size) & (tot <= comp.product_max)
    left, right = fac[li[pick]], fac[ri[pick]]
    formulas += [apply(MUL_CODE, table.formula(int(small[i])), table.formula(int(small[j])))
                 for i, j in zip(left, right)]
    factor, chained, scaled, scaled_size = _scaled(table, small, ssize, ssum, formulas[:len(ops)],
                                                   out_size, ops, comp)
    return _Plan(small, tuple(ops), np.asarray(arg, np.int64), left, right,
                 tuple(formulas) + scaled,
                 np.concatenate([np.asarray(out_size, np.int64), tot[pick], scaled_size]),
                 factor, chained)


def _combined(memo: dict, code: int, unit):
    """``OPS[code].units.combine(unit)`` (INVALID stays INVALID), memoised in ``memo``: the
    unit rules are pure functions of a unit, and a library's terms share a few units."""
    if unit is INVALID:
        return unit
    key = (code, unit)
    if key not in memo:
        memo[key] = OPS[code].units.combine(unit)
    return memo[key]


def _scaled(table, small, ssize, ssum, unary_formulas, unary_sizes, chains, comp: Composites
            ) -> tuple[np.ndarray, np.ndarray, tuple[Formula, ...], np.ndarray]:
    """``(factor, chained, formulas, sizes)`` of the quotients ``f / u`` of small terms
    ``f`` (at most ``comp.scale_size`` nodes, not sums) by unary composites ``u`` (a chain
    of at least one operation, then ``inv``): ``x/sqrt(x² + y²)`` is ``x`` times
    ``inv(sqrt(x² + y²))``. A quotient by a table term (``x/sin(y)``) is left to the
    table."""
    fac = np.nonzero((ssize <= comp.scale_size) & ~ssum)[0] if comp.scale_size else []
    factor, chained, formulas, sizes = [], [], [], []
    for i in fac:
        f = table.formula(int(small[i]))
        for k, (g, size, chain) in enumerate(zip(unary_formulas, unary_sizes, chains)):
            total = ssize[i] + size
            if len(chain) < 2 or chain[-1] != INV_CODE or total > comp.product_max:
                continue
            h = apply(DIV_CODE, f, g.args[0])
            factor.append(i)
            chained.append(k)
            formulas.append(h)
            sizes.append(total)
    return (np.asarray(factor, np.int64), np.asarray(chained, np.int64), tuple(formulas),
            np.asarray(sizes, np.int64))


def _unary_codes(names: str) -> list[int]:
    """Op codes of the unary operations named in ``names`` (comma-separated)."""
    if not names:
        return []
    by_name = {op.name: code for code, op in OPS.items()}
    codes = [by_name[n] for n in op_set(names)]
    binary = [OPS[c].name for c in codes if OPS[c].arity != 1]
    if binary:
        raise ValueError(f"unary: {', '.join(binary)} take two arguments; name unary "
                         "operations only (sqrt, log, exp, inv, sin, cos, square)")
    return codes


def _chains(codes: list[int], depth: int) -> list[tuple[int, ...]]:
    """Op chains of length ``depth`` (innermost first), no ``inv`` right after ``inv``."""
    out = [()]
    for _ in range(depth):
        out = [c + (k,) for c in out for k in codes if not (c and c[-1] == k == INV_CODE)]
    return out


def _composite_values(table, x: np.ndarray, plan: _Plan):
    """``produce(start, stop)`` of the composite terms of ``plan``."""
    base = _node_values(table, x, plan.small)
    by_chain: dict[tuple[int, ...], np.ndarray] = {}
    for k, chain in enumerate(plan.chains):
        by_chain.setdefault(chain, []).append(k)

    def produce(start: int, stop: int) -> np.ndarray:
        S = base(start, stop)                                               # (s, c)
        U = np.empty((len(plan.chains), stop - start))
        with np.errstate(all="ignore"):
            for chain, rows in by_chain.items():
                V = S[plan.arg[rows]]
                for code in chain:
                    V = OPS[code].numpy(V)
                U[rows] = V
            return np.concatenate([U, S[plan.left] * S[plan.right],
                                   S[plan.factor] * U[plan.chained]])
    return produce


def build_library(table, x: np.ndarray, seg_fit: Segments, fit_points: np.ndarray,
                  term_size: int, digits: int = 9, chunk: int = 4096,
                  composites: Composites | None = None) -> TermLibrary:
    """Evaluate, screen and deduplicate the parameter-free candidates of ``table`` and the
    composite terms built from them.

    Args:
        table: a :class:`~dslsearch.enumerate.FormulaTable` of depth >= ``term_size``.
        x: ``(N, d)`` training points, SI base units.
        seg_fit: the trajectories of the fitting points ``x[fit_points]``.
        fit_points: ``(M,)`` sorted indices of the fitting points.
        term_size: largest term of the table in nodes.
        digits: rounding of the standardised values when looking for duplicates.
        chunk: points evaluated at once at most (fewer when the terms are many: at most
            :data:`VALUES` values at once).
        composites: which composite terms to add (None: none).

    Returns:
        The :class:`TermLibrary`.
    """
    pc = parameter_counts(table.op, table.a, table.b)
    cands = table.candidates
    nodes = cands[(pc[cands] == 0) & (table.size[cands] <= term_size)].astype(np.int64)
    fit_points = np.asarray(fit_points)
    is_sum = np.isin(table.op[nodes], (ADD_CODE, SUB_CODE))
    finite, constant, Vf = _screen_values(_node_values(table, x, nodes), nodes.size,
                                          x.shape[0], fit_points,
                                          max(16, min(chunk, VALUES // max(nodes.size, 1))))
    sizes = table.size[nodes].astype(np.int64)
    formulas: tuple[Formula, ...] = ()
    base_nodes, plan, order = nodes, None, None
    if composites is not None:
        plan = _plan(table, nodes, finite & ~constant, is_sum, term_size, composites)
        n_c = len(plan.formulas)
        if n_c:
            step = max(16, min(chunk, VALUES // n_c))
            fc, cc, Vc = _screen_values(_composite_values(table, x, plan), n_c, x.shape[0],
                                        fit_points, step)
            nodes = np.concatenate([nodes, -1 - np.arange(n_c)])
            finite, constant = np.concatenate([finite, fc]), np.concatenate([constant, cc])
            is_sum = np.concatenate([is_sum, np.zeros(n_c, bool)])
            sizes = np.concatenate([sizes, plan.sizes])
            formulas = plan.formulas
            order = np.argsort(sizes, kind="stable")   # composites among terms of their size
            nodes, finite, constant, is_sum, sizes = (
                a[order] for a in (nodes, finite, constant, is_sum, sizes))
            where = np.empty_like(order)
            where[order] = np.arange(order.size)
            values = np.empty((order.size, Vf.shape[1]))
            values[where[:Vf.shape[0]]] = Vf
            values[where[Vf.shape[0]:]] = Vc
            Vf = values

    def evaluate_all(xp: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            V = _node_values(table, xp, base_nodes)(0, xp.shape[0])
            if order is None:
                return V
            return np.concatenate([V, _composite_values(table, xp, plan)(0, xp.shape[0])]
                                  )[order]

    return _deduplicated(nodes, finite, constant, is_sum, Vf, sizes, seg_fit, digits, table,
                         formulas, evaluate_all)


def _deduplicated(nodes, finite, constant, is_sum, Vf, sizes, seg_fit, digits, table,
                  formulas, evaluate_all=None) -> TermLibrary:
    """The library of the screened terms: statuses set, duplicates of simpler terms out."""
    status = np.full(nodes.size, TermStatus.OK, np.int8)
    duplicate_of = np.full(nodes.size, -1, np.int64)
    status[~finite] = TermStatus.NONFINITE
    Vf -= Vf.mean(1, keepdims=True)                       # centred in place, (n_all, M)
    norm = np.sqrt(np.einsum("gm,gm->g", Vf, Vf))
    constant = constant | ~(norm > 0)
    status[finite & constant] = TermStatus.CONSTANT
    ok = np.nonzero(status == TermStatus.OK)[0]
    Z = Vf[ok]
    Z /= norm[ok, None]
    first, inverse = _unique_up_to_sign(Z, digits)
    first_sorted = np.sort(first)
    rep = first[inverse]                       # each ok row's representative (its first)
    dup = rep != np.arange(ok.size)
    status[ok[dup]] = TermStatus.DUPLICATE
    duplicate_of[ok[dup]] = ok[rep[dup]]
    kept = ok[first_sorted]
    Zk = Z[first_sorted]
    return TermLibrary(nodes, status, duplicate_of, kept, Zk, within(Zk, seg_fit),
                       sizes[kept], is_sum[kept], table, formulas, evaluate_all)
