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
3. Units are checked at every node (:func:`dslsearch.formula.combine_units`); unit-invalid
   formulas are never produced, nor anything built on them.
4. Constant sub-formulas are only ever a single ``Parameter``: ``c+c``, ``c·c``, ``sin c``,
   ``c²`` are not built (they equal one parameter).
5. Parameter-free sub-formulas that are constant (``q−q``, ``p/p``, ``sin²q+cos²q``, detected
   by evaluation at random points) are dropped, and so is anything built on them.
6. ``+`` and ``×`` are commutative (``p·q`` = ``q·p``): arguments are generated only in
   the canonical order of :attr:`Formula.order_key` (smaller size first, then structure); associativity is *not* used
   (``(a+b)+c`` and ``a+(b+c)`` are two formulas), nor other algebra (``q·q`` and ``q²`` are
   two formulas), as in the paper's count of commutative duplicates only.
7. Candidates are every formula that contains an input (all nodes but the bare parameter).
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from dslsearch.formula import (ADD, COS, DIV, INPUT, MUL, PARAM, SIN, SQUARE, SUB, Formula,
                               combine_units, _INVALID)
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

    def formula(self, node_id: int) -> Formula:
        """The immutable :class:`Formula` tree of node ``node_id``."""
        node_id = int(node_id)
        cached = self._cache.get(node_id)
        if cached is not None:
            return cached
        op = int(self.op[node_id])
        if op == INPUT:
            f = Formula(INPUT, (), int(self.a[node_id]))
        elif op == PARAM:
            f = Formula(PARAM)
        elif op in (SIN, COS, SQUARE):
            f = Formula(op, (self.formula(self.a[node_id]),))
        else:
            f = Formula(op, (self.formula(self.a[node_id]), self.formula(self.b[node_id])))
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
    """Prints DAG nodes in sympy syntax, caching templates of shared sub-formulas."""

    _ATOM, _FUNC, _POW, _MULDIV, _ADDSUB = range(5)

    def __init__(self, table: FormulaTable):
        self.t = table
        self.names = table.names
        self.cache: dict[int, tuple[str, int]] = {}

    def template(self, i: int) -> tuple[str, int]:
        hit = self.cache.get(i)
        if hit is not None:
            return hit
        t = self.t
        op = int(t.op[i])
        if op == INPUT:
            out = (self.names[int(t.a[i])], self._ATOM)
        elif op == PARAM:
            out = ("\x00", self._ATOM)
        elif op in (SIN, COS):
            s, _ = self.template(int(t.a[i]))
            out = (("sin(" if op == SIN else "cos(") + s + ")", self._FUNC)
        elif op == SQUARE:
            s, prec = self.template(int(t.a[i]))
            out = ((s if prec <= self._FUNC else f"({s})") + "**2", self._POW)
        else:
            (sa, pa), (sb, pb) = self.template(int(t.a[i])), self.template(int(t.b[i]))
            if op == ADD:
                out = (f"{sa} + {sb}", self._ADDSUB)
            elif op == SUB:
                out = (f"{sa} - " + (f"({sb})" if pb == self._ADDSUB else sb), self._ADDSUB)
            else:
                la = f"({sa})" if pa == self._ADDSUB else sa
                if op == MUL:
                    out = (la + "*" + (f"({sb})" if pb == self._ADDSUB else sb), self._MULDIV)
                else:
                    out = (la + "/" + (f"({sb})" if pb >= self._MULDIV else sb), self._MULDIV)
        if t.size[i] < t.depth:
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
    if not np.all(np.isfinite(v)):
        return False
    return float(np.ptp(v)) <= 1e-9 * (1.0 + float(np.max(np.abs(v))))


_NP_OPS: dict[int, Callable] = {
    ADD: np.add, SUB: np.subtract, MUL: np.multiply, DIV: np.divide,
    SIN: np.sin, COS: np.cos, SQUARE: np.square,
}


def enumerate_formulas(variables: Sequence, depth: int, keep_last: bool = True,
                       progress: Callable[[int, int], None] | None = None) -> FormulaTable:
    """Enumerate every valid formula with at most ``depth`` nodes.

    Args:
        variables: the inputs, each ``(name, unit)`` or an object with ``.name`` and
            ``.unit`` (pint syntax; ``""`` = dimensionless).
        depth: maximum number of nodes, 1..:data:`MAX_DEPTH`.
        keep_last: keep the nodes of the largest size in the table. With False only their
            count is kept (bounded memory for counting deep enumerations).
        progress: called as ``progress(size_done, depth)`` after each size.

    Returns:
        The :class:`FormulaTable`.

    Raises:
        EnumerationError: depth out of range, no variables, or a unit pint cannot read.
    """
    if not isinstance(depth, int) or depth < 1 or depth > MAX_DEPTH:
        raise EnumerationError(f"depth must be an integer from 1 to {MAX_DEPTH}, got {depth!r}")
    var_pairs = tuple((v.name, v.unit) if hasattr(v, "name") else (str(v[0]), str(v[1]))
                      for v in variables)
    if not var_pairs:
        raise EnumerationError("no state variables to build formulas from")
    start = time.perf_counter()
    try:
        input_dims = [parse_unit(u).dims for _, u in var_pairs]
    except ValueError as exc:
        raise EnumerationError(str(exc)) from exc
    points = _check_points(len(var_pairs))

    ops, aa, bb, sizes = array("b"), array("i"), array("i"), array("b")
    uid_of: dict[tuple, int] = {}
    unit_list: list[tuple] = []
    node_uid = array("h")
    has_param = array("b")
    values: list[np.ndarray | None] = []
    levels: list[list[int]] = [[] for _ in range(depth + 1)]
    # structural keys (as Formula.key) of small nodes: orders equal-size arguments of + and ×
    keys: dict[int, tuple] = {}
    key_max_size = (depth - 1) // 2
    counts: dict[int, int] = {}
    combine_cache: dict[tuple[int, int, int], int | None] = {}

    def uid(d) -> int:
        if d is None:
            return _FREE_UID
        got = uid_of.get(d)
        if got is None:
            got = uid_of[d] = len(unit_list)
            unit_list.append(d)
        return got

    def combine(op: int, ua: int, ub: int = _FREE_UID) -> int | None:
        key = (op, ua, ub)
        if key in combine_cache:
            return combine_cache[key]
        da = None if ua == _FREE_UID else unit_list[ua]
        db = None if ub == _FREE_UID else unit_list[ub]
        r = combine_units(op, da, db)
        out = None if r is _INVALID else uid(r)
        combine_cache[key] = out
        return out

    def new(op: int, a: int, b: int, size: int, u: int, hp: bool, val, keep: bool) -> None:
        counts[size] = counts.get(size, 0) + (0 if op == PARAM else 1)
        if not keep:
            return
        i = len(ops)
        ops.append(op); aa.append(a); bb.append(b); sizes.append(size)
        node_uid.append(u); has_param.append(hp)
        values.append(val if size < depth else None)
        levels[size].append(i)
        if size <= key_max_size:
            kid = tuple(keys[c] for c in (a, b)[: (0 if op <= PARAM else 1 if op >= SIN else 2)])
            keys[i] = (op, a if op == INPUT else -1, kid)

    for k, _ in enumerate(var_pairs):
        new(INPUT, k, -1, 1, uid(tuple(input_dims[k])), False, points[:, k].copy(), True)
    param_id = len(ops)
    new(PARAM, -1, -1, 1, _FREE_UID, True, None, True)
    uid(DIMENSIONLESS)
    if progress:
        progress(1, depth)

    for s in range(2, depth + 1):
        keep = keep_last or s < depth
        # unary operations on size s-1 (never on the bare parameter: rule 4)
        for c in levels[s - 1]:
            if c == param_id:
                continue
            uc = node_uid[c]
            hp = bool(has_param[c])
            for op in (SIN, COS, SQUARE):
                u = combine(op, uc)
                if u is None:
                    continue
                val = None if hp else _NP_OPS[op](values[c])
                if val is not None and _is_constant(val):
                    continue
                new(op, c, -1, s, u, hp, val, keep)
        # binary operations on sizes (i, s-1-i)
        for i in range(1, s - 1):
            j = s - 1 - i
            right_by_uid: dict[int, list[int]] = {}
            for y in levels[j]:
                right_by_uid.setdefault(node_uid[y], []).append(y)
            right_free = right_by_uid.get(_FREE_UID, [])
            for x in levels[i]:
                ux = node_uid[x]
                x_hp = bool(has_param[x])
                vx = values[x]
                like = levels[j] if ux == _FREE_UID else (right_by_uid.get(ux, []) + right_free)
                for op, pool in ((ADD, like), (SUB, like), (MUL, levels[j]), (DIV, levels[j])):
                    commutative = op in (ADD, MUL)
                    if commutative and i > j:
                        continue
                    for y in pool:
                        if commutative and i == j and keys[y] < keys[x]:
                            continue
                        if not commutative and x == y:
                            continue  # q−q, p/p: constant
                        if x == param_id and y == param_id:
                            continue
                        u = combine(op, ux, node_uid[y])
                        if u is None:
                            continue
                        hp = x_hp or bool(has_param[y])
                        if hp:
                            val = None
                        else:
                            with np.errstate(all="ignore"):
                                val = _NP_OPS[op](vx, values[y])
                            if _is_constant(val):
                                continue
                        new(op, x, y, s, u, hp, val, keep)
        if progress:
            progress(s, depth)

    op_arr = np.frombuffer(ops, dtype=np.int8).copy()
    size_arr = np.frombuffer(sizes, dtype=np.int8).copy()
    cand = np.nonzero(op_arr != PARAM)[0].astype(np.int32)
    cand = cand[np.argsort(size_arr[cand], kind="stable")]
    counts_by_size = {s: counts.get(s, 0) for s in range(1, depth + 1)}
    return FormulaTable(
        variables=var_pairs, depth=depth, op=op_arr,
        a=np.frombuffer(aa, dtype=np.int32).copy(), b=np.frombuffer(bb, dtype=np.int32).copy(),
        size=size_arr, candidates=cand, counts_by_size=counts_by_size,
        seconds=time.perf_counter() - start)

