"""Bottom-up enumeration of every unit-valid formula up to a number of nodes.

The enumerator builds a hash-consed DAG (:class:`FormulaTable`): each distinct sub-formula
is one node, created once, from nodes of smaller size. A node is the triple ``(op, a, b)`` of
its children's ids, and for ``+``/``×`` only ``a <= b`` is ever generated, so every node *is*
its own canonical key: commutative duplicates are never created, and no printed string is
ever compared.

Conventions (they fix the counts; see ``docs/ENUMERATION.md``):

1. Size = number of nodes: inputs, parameters and every operation count one; ``square`` is a
   unary node. ``--depth N`` enumerates sizes 1..N.
2. Leaves: one ``Input`` per state variable, and ``Parameter``. Every occurrence of the
   parameter leaf in a formula is its own trainable constant.
3. Units are checked at every node (each operation's rule in :mod:`dslsearch.ops`);
   unit-invalid formulas are never produced, nor anything built on them.
4. Constant sub-formulas are only ever a single ``Parameter``: ``c+c``, ``c·c``, ``sin c``,
   ``c²`` are not built (they equal one parameter).
5. Parameter-free sub-formulas that are constant (``q−q``, ``p/p``, ``sin²q+cos²q``, detected
   by evaluation at random points) are dropped, and so is anything built on them; so is an
   operation that cancels (``a−a``, ``a/a``) applied to one argument twice.
6. ``+`` and ``×`` are commutative (``p·q`` = ``q·p``): arguments are generated only in
   the canonical order of :attr:`Formula.order_key` (smaller size first, then structure); associativity is *not* used
   (``(a+b)+c`` and ``a+(b+c)`` are two formulas), nor other algebra (``q·q`` and ``q²`` are
   two formulas), as in the paper's count of commutative duplicates only.
7. Candidates are every formula that contains an input (all nodes but the bare parameter).

The operations, their order of construction (by code) and their rules all come from
:data:`dslsearch.ops.OPS`; which of them are used is the operator set (``ops``, default the
paper's ``+ − × ÷ sin cos square``, :data:`dslsearch.ops.PAPER_OPS`). Where an operation is
undefined at a check point (``log`` of a negative number, ``1/0``) the value is non-finite and
the formula is kept (rule 5 drops only formulas constant at every point).
"""

from __future__ import annotations

import math
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from dslsearch.formula import Formula
from dslsearch.ops import (ATOM, INPUT, INVALID, OPS, PAPER_OPS, PARAM, Op, arity_of, op_set,
                           with_arity)
from hamiltonian_data.units import DIMENSIONLESS, parse_unit

MAX_DEPTH = 10
_FREE_UID = -1
_N_CHECK_POINTS = 12


class EnumerationError(ValueError):
    """Bad arguments to the enumerator (depth out of range, no variables, bad unit)."""


@dataclass
class FormulaTable:
    """Every distinct sub-formula as a DAG; see the module docstring.

    Attributes:
        variables: ``((name, unit), ...)`` of the inputs, unit in pint syntax.
        depth: the maximum size enumerated.
        op, a, b: (n_nodes,) int8 / int32 / int32: op code and children (``a`` is the input
            column for ``INPUT``; -1 when unused). Children always precede parents.
        size: (n_nodes,) int8 node count of each sub-formula.
        candidates: (n_cand,) int32 ids of the candidate formulas, by size then creation.
        counts_by_size: ``{size: number of candidates}``.
        seconds: wall time spent enumerating.
        ops: the operator set, operation names ordered by code (:func:`dslsearch.ops.op_set`).
    """

    variables: tuple[tuple[str, str], ...]
    depth: int
    op: np.ndarray
    a: np.ndarray
    b: np.ndarray
    size: np.ndarray
    candidates: np.ndarray
    counts_by_size: dict[int, int]
    seconds: float = 0.0
    ops: tuple[str, ...] = PAPER_OPS
    _cache: dict[int, Formula] = field(default_factory=dict, repr=False)

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.variables]

    @property
    def input_dims(self) -> list[tuple]:
        return [parse_unit(u).dims for _, u in self.variables]

    @property
    def n_candidates(self) -> int:
        return int(self.candidates.size)

    def children(self, node_id: int) -> tuple[int, ...]:
        """Child node ids of ``node_id`` (none for the leaves)."""
        kids = (int(self.a[node_id]), int(self.b[node_id]))
        return kids[: arity_of(int(self.op[node_id]))]

    def formula(self, node_id: int) -> Formula:
        """The immutable :class:`Formula` tree of node ``node_id``."""
        node_id = int(node_id)
        cached = self._cache.get(node_id)
        if cached is not None:
            return cached
        op = int(self.op[node_id])
        if op == INPUT:
            f = Formula(INPUT, (), int(self.a[node_id]))
        else:
            f = Formula(op, tuple(self.formula(c) for c in self.children(node_id)))
        if self.size[node_id] < self.depth:  # leaves of the final level uncached (memory)
            self._cache[node_id] = f
        return f

    def expr_strings(self, ids: Sequence[int] | None = None) -> Iterator[str]:
        """Sympy-syntax strings of nodes ``ids`` (default: all candidates), parameters named
        ``c0, c1, …`` in pre-order. Fast: no sympy involved."""
        printer = _Printer(self)
        for i in (self.candidates if ids is None else ids):
            yield printer.render(int(i))


class _Printer:
    """Prints DAG nodes in sympy syntax (each operation's ``text`` notation), caching
    templates of shared sub-formulas; parameters print as a placeholder numbered last."""

    def __init__(self, table: FormulaTable):
        self.names = table.names
        self.depth = table.depth
        # memoryviews: element access gives python ints, fast, and holds no copy
        self.op, self.a, self.b, self.size = (memoryview(np.ascontiguousarray(arr))
                                              for arr in (table.op, table.a, table.b, table.size))
        self.cache: dict[int, tuple[str, int]] = {}

    def template(self, i: int) -> tuple[str, int]:
        hit = self.cache.get(i)
        if hit is not None:
            return hit
        op = self.op[i]
        if op == INPUT:
            out = (self.names[self.a[i]], ATOM)
        elif op == PARAM:
            out = ("\x00", ATOM)
        elif OPS[op].arity == 1:
            out = OPS[op].text.render((self.template(self.a[i]),))
        else:
            out = OPS[op].text.render((self.template(self.a[i]), self.template(self.b[i])))
        if self.size[i] < self.depth:
            self.cache[i] = out
        return out

    def render(self, i: int) -> str:
        s, _ = self.template(i)
        parts = s.split("\x00")
        if len(parts) == 1:
            return s
        return "".join(p + (f"c{k}" if k < len(parts) - 1 else "") for k, p in enumerate(parts))


def _check_points(n_inputs: int) -> np.ndarray:
    rng = np.random.default_rng(20210519)
    mags = rng.uniform(0.2, 2.0, size=(_N_CHECK_POINTS, n_inputs))
    signs = rng.choice([-1.0, 1.0], size=(_N_CHECK_POINTS, n_inputs))
    return mags * signs


def _is_constant(v: np.ndarray) -> bool:
    """Whether the values ``v`` at the check points are all finite and equal to within
    1e-9 relative: ``ptp(v) <= 1e-9 * (1 + max|v|)``, from the minimum and maximum alone
    (a NaN or an infinity makes one of them non-finite; the largest ``|v|`` is at one of
    them), the same decision as computing ``isfinite``, ``ptp`` and ``max(abs(v))``."""
    lo, hi = float(v.min()), float(v.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return False
    return hi - lo <= 1e-9 * (1.0 + max(abs(lo), abs(hi)))


def enumerate_formulas(variables: Sequence, depth: int, keep_last: bool = True,
                       progress: Callable[[int, int], None] | None = None,
                       ops: str | Sequence[str] | None = None) -> FormulaTable:
    """Enumerate every valid formula with at most ``depth`` nodes.

    Args:
        variables: the inputs, each ``(name, unit)`` or an object with ``.name`` and
            ``.unit`` (pint syntax; ``""`` = dimensionless).
        depth: maximum number of nodes, 1..:data:`MAX_DEPTH`.
        keep_last: keep the nodes of the largest size in the table. With False only their
            count is kept (bounded memory for counting deep enumerations).
        progress: called as ``progress(size_done, depth)`` after each size.
        ops: the operator set, names or a comma-separated string as
            :func:`dslsearch.ops.op_set` reads them (``"paper,sqrt"``, ``"all"``); None: the
            paper's ``+ − × ÷ sin cos square``.

    Returns:
        The :class:`FormulaTable`.

    Raises:
        EnumerationError: depth out of range, no variables, a unit pint cannot read, or an
            unknown operation name.
    """
    if not isinstance(depth, int) or depth < 1 or depth > MAX_DEPTH:
        raise EnumerationError(f"depth must be an integer from 1 to {MAX_DEPTH}, got {depth!r}")
    var_pairs = tuple((v.name, v.unit) if hasattr(v, "name") else (str(v[0]), str(v[1]))
                      for v in variables)
    if not var_pairs:
        raise EnumerationError("no state variables to build formulas from")
    try:
        names = op_set(ops)
    except ValueError as exc:
        raise EnumerationError(str(exc)) from exc
    start = time.perf_counter()
    try:
        input_dims = [parse_unit(u).dims for _, u in var_pairs]
    except ValueError as exc:
        raise EnumerationError(str(exc)) from exc
    dag = _Dag(depth, names)
    dag.add_leaves(input_dims, _check_points(len(var_pairs)))
    if progress:
        progress(1, depth)
    with np.errstate(all="ignore"):  # a division by zero is a non-finite value, kept
        for size in range(2, depth + 1):
            keep = keep_last or size < depth
            dag.add_unary(size, keep)
            for i in range(1, size - 1):
                dag.add_binary(size, i, size - 1 - i, keep)
            if progress:
                progress(size, depth)
    return dag.table(var_pairs, time.perf_counter() - start, names)


class _PairBatch:
    """Nodes ``op(x, y)`` of one size, added to the DAG in the order given, whose
    parameter-free values at the check points are computed for many pairs at once: one
    numpy call per operation on ``(n, 12)`` arrays instead of several per pair. The
    operations of pairs (``+ − × ÷``) round each value by itself, so the values, and with
    them which nodes are constant (:func:`_is_constant`, here on whole rows), are those of
    one pair at a time. At most :attr:`MAX_PAIRS` pairs wait (bounded memory)."""

    MAX_PAIRS = 1 << 16

    def __init__(self, dag: _Dag, size: int, keep: bool):
        self.dag, self.size, self.keep = dag, size, keep
        self.chunks: list[tuple] = []
        self.xs: dict[int, list[int]] = {}     # op code -> x of each pair to evaluate
        self.ys: dict[int, list[int]] = {}
        self.ops: dict[int, Op] = {}
        self.n = 0

    def add(self, op: Op, x: int, ys: list[int], uids: list[int], hps: list[bool]) -> None:
        """Nodes ``op(x, y)`` for ``ys`` (unit ids ``uids``, parameter flags ``hps``)."""
        code = op.code
        xs, yv = self.xs.setdefault(code, []), self.ys.setdefault(code, [])
        self.ops[code] = op
        # the row of each parameter-free pair among this operation's pairs, else -1
        rows = []
        for y, hp in zip(ys, hps):
            if hp:
                rows.append(-1)
            else:
                rows.append(len(xs))
                xs.append(x)
                yv.append(y)
        self.chunks.append((code, x, ys, uids, hps, rows))
        self.n += len(ys)
        if self.n >= self.MAX_PAIRS:
            self.flush()

    def flush(self) -> None:
        """Compute the waiting pairs' values and add their nodes, in order, to the DAG."""
        values = self.dag.values
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for code, xs in self.xs.items():
            if not xs:
                continue
            V = self.ops[code].numpy(np.stack([values[x] for x in xs]),
                                     np.stack([values[y] for y in self.ys[code]]))
            out[code] = (V, ~_constant_rows(V))
        for code, x, ys, uids, hps, rows in self.chunks:
            V, keep_row = out.get(code, (None, None))
            kept = [k for k, r in enumerate(rows) if r < 0 or keep_row[r]]
            n = len(kept)
            self.dag.extend([code] * n, [x] * n, [ys[k] for k in kept], self.size,
                            [uids[k] for k in kept], [hps[k] for k in kept],
                            [None if rows[k] < 0 else V[rows[k]] for k in kept], self.keep)
        self.chunks, self.xs, self.ys, self.n = [], {}, {}, 0


def _constant_rows(V: np.ndarray) -> np.ndarray:
    """:func:`_is_constant` of each row of ``V (n, 12)``, ``(n,)`` bool: the same minimum,
    maximum and comparison, on whole rows."""
    lo, hi = V.min(axis=1), V.max(axis=1)
    finite = np.isfinite(lo) & np.isfinite(hi)
    with np.errstate(all="ignore"):
        return finite & (hi - lo <= 1e-9 * (1.0 + np.maximum(np.abs(lo), np.abs(hi))))


class _Dag:
    """The growing DAG of :func:`enumerate_formulas`: flat node arrays, one level per size.

    Nodes carry a unit id (:data:`_FREE_UID` for free), whether they contain a parameter,
    and, for parameter-free nodes below the final size, their values at the check points.
    """

    def __init__(self, depth: int, ops: tuple[str, ...]):
        self.depth = depth
        self.unary, self.binary = with_arity(1, ops), with_arity(2, ops)
        self.ops, self.aa, self.bb, self.sizes = array("b"), array("i"), array("i"), array("b")
        self.node_uid, self.has_param = array("h"), array("b")
        self.values: list[np.ndarray | None] = []
        self.levels: list[list[int]] = [[] for _ in range(depth + 1)]
        # structural keys (as Formula.key) of small nodes: orders equal-size arguments of + and ×
        self.keys: dict[int, tuple] = {}
        self.key_max_size = (depth - 1) // 2
        self.counts: dict[int, int] = {}
        self.uid_of: dict[tuple, int] = {}
        self.unit_list: list[tuple] = []
        self.combine_cache: dict[tuple, int | None] = {}
        self.param_id = -1

    def uid(self, dims) -> int:
        if dims is None:
            return _FREE_UID
        got = self.uid_of.get(dims)
        if got is None:
            got = self.uid_of[dims] = len(self.unit_list)
            self.unit_list.append(dims)
        return got

    def combine(self, op: Op, *uids: int) -> int | None:
        """Unit id of ``op`` applied to arguments of unit ids ``uids``; None if invalid."""
        key = (op.code, *uids)
        if key in self.combine_cache:
            return self.combine_cache[key]
        states = [None if u == _FREE_UID else self.unit_list[u] for u in uids]
        r = op.units.combine(*states)
        out = None if r is INVALID else self.uid(r)
        self.combine_cache[key] = out
        return out

    def new(self, op: int, a: int, b: int, size: int, u: int, hp: bool, val, keep: bool) -> None:
        self.counts[size] = self.counts.get(size, 0) + (0 if op == PARAM else 1)
        if not keep:
            return
        i = len(self.ops)
        self.ops.append(op); self.aa.append(a); self.bb.append(b); self.sizes.append(size)
        self.node_uid.append(u); self.has_param.append(hp)
        self.values.append(val if size < self.depth else None)
        self.levels[size].append(i)
        if size <= self.key_max_size:
            kid = tuple(self.keys[c] for c in (a, b)[: arity_of(op)])
            self.keys[i] = (op, a if op == INPUT else -1, kid)

    def extend(self, ops: list, a: list, b: list, size: int, uids: list, hps: list,
               vals: list, keep: bool) -> None:
        """:meth:`new` for several nodes of one size at once, in the given order (one
        ``extend`` per array instead of an ``append`` per node: the same table)."""
        n = len(ops)
        self.counts[size] = self.counts.get(size, 0) + n - ops.count(PARAM)
        if not keep or not n:
            return
        i0 = len(self.ops)
        self.ops.extend(ops); self.aa.extend(a); self.bb.extend(b)
        self.sizes.extend([size] * n)
        self.node_uid.extend(uids); self.has_param.extend(hps)
        self.values.extend(vals if size < self.depth else [None] * n)
        self.levels[size].extend(range(i0, i0 + n))
        if size <= self.key_max_size:
            keys = self.keys
            for i, op, ai, bi in zip(range(i0, i0 + n), ops, a, b):
                kid = tuple(keys[c] for c in (ai, bi)[: arity_of(op)])
                keys[i] = (op, ai if op == INPUT else -1, kid)

    def add_leaves(self, input_dims: list, points: np.ndarray) -> None:
        for k, dims in enumerate(input_dims):
            self.new(INPUT, k, -1, 1, self.uid(tuple(dims)), False, points[:, k].copy(), True)
        self.param_id = len(self.ops)
        self.new(PARAM, -1, -1, 1, _FREE_UID, True, None, True)
        self.uid(DIMENSIONLESS)

    def add_unary(self, size: int, keep: bool) -> None:
        """Unary operations on the nodes of ``size - 1`` (never the bare parameter: rule 4),
        a slice of :attr:`_PairBatch.MAX_PAIRS` arguments at a time."""
        args = [c for c in self.levels[size - 1] if c != self.param_id]
        for start in range(0, len(args), _PairBatch.MAX_PAIRS):
            self._unary_slice(args[start:start + _PairBatch.MAX_PAIRS], size, keep)

    def _unary_slice(self, args: list[int], size: int, keep: bool) -> None:
        """:meth:`add_unary` for the arguments ``args``, in order: the parameter-free
        ones' values computed with one numpy call per operation (elementwise, so each value
        is that of its own node) and constant ones dropped (:func:`_constant_rows`)."""
        unary, values = self.unary, self.values
        ops, cs, uids, hps, rows = [], [], [], [], []
        pending: dict[int, list[int]] = {op.code: [] for op in unary}
        for c in args:
            uc, hp = self.node_uid[c], bool(self.has_param[c])
            for op in unary:
                u = self.combine(op, uc)
                if u is None:
                    continue
                ops.append(op.code); cs.append(c); uids.append(u); hps.append(hp)
                if hp:
                    rows.append(-1)
                else:
                    rows.append(len(pending[op.code]))
                    pending[op.code].append(c)
        out = {}
        for op in unary:
            if pending[op.code]:
                V = op.numpy(np.stack([values[c] for c in pending[op.code]]))
                out[op.code] = (V, ~_constant_rows(V))
        kept = [k for k, (o, r) in enumerate(zip(ops, rows)) if r < 0 or out[o][1][r]]
        self.extend([ops[k] for k in kept], [cs[k] for k in kept], [-1] * len(kept), size,
                    [uids[k] for k in kept], [hps[k] for k in kept],
                    [None if rows[k] < 0 else out[ops[k]][0][rows[k]] for k in kept], keep)

    def add_binary(self, size: int, i: int, j: int, keep: bool) -> None:
        """Binary operations on (size ``i``, size ``j``) argument pairs, ``i + j + 1 = size``."""
        right_all = self.levels[j]
        right_by_uid: dict[int, list[int]] = {}
        for y in right_all:
            right_by_uid.setdefault(self.node_uid[y], []).append(y)
        right_free = right_by_uid.get(_FREE_UID, [])
        binary = [op for op in self.binary if not (op.commutative and i > j)]
        batch = _PairBatch(self, size, keep)
        for x in self.levels[i]:
            ux = self.node_uid[x]
            like = right_all if ux == _FREE_UID else (right_by_uid.get(ux, []) + right_free)
            for op in binary:
                self._pairs(op, x, like if op.units.like_args else right_all,
                            op.commutative and i == j, batch)
        batch.flush()

    def _pairs(self, op: Op, x: int, pool: list[int], ordered: bool,
               batch: _PairBatch) -> None:
        """The ``op(x, y)`` for each ``y`` of ``pool`` allowed by the rules, into ``batch``
        (which computes the parameter-free ones' values and drops the constant ones)."""
        keys, node_uid, has_param = self.keys, self.node_uid, self.has_param
        code, cancels, param_id = op.code, op.cancels, self.param_id
        ux, x_hp = node_uid[x], bool(has_param[x])
        ys, uids, hps = [], [], []
        for y in pool:
            if ordered and keys[y] < keys[x]:
                continue
            if cancels and x == y:
                continue  # q−q, p/p: constant
            if x == param_id and y == param_id:
                continue
            u = self.combine(op, ux, node_uid[y])
            if u is None:
                continue
            ys.append(y); uids.append(u); hps.append(x_hp or bool(has_param[y]))
        batch.add(op, x, ys, uids, hps)

    def table(self, var_pairs: tuple, seconds: float, ops: tuple[str, ...]) -> FormulaTable:
        op_arr = np.frombuffer(self.ops, dtype=np.int8).copy()
        size_arr = np.frombuffer(self.sizes, dtype=np.int8).copy()
        cand = np.nonzero(op_arr != PARAM)[0].astype(np.int32)
        cand = cand[np.argsort(size_arr[cand], kind="stable")]
        counts_by_size = {s: self.counts.get(s, 0) for s in range(1, self.depth + 1)}
        return FormulaTable(
            variables=var_pairs, depth=self.depth, op=op_arr,
            a=np.frombuffer(self.aa, dtype=np.int32).copy(),
            b=np.frombuffer(self.bb, dtype=np.int32).copy(),
            size=size_arr, candidates=cand, counts_by_size=counts_by_size, seconds=seconds,
            ops=ops)

