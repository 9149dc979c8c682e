"""Skeletons: a candidate's tree with its maximal parameter-free sub-formulas cut out as slots.

Every candidate of a :class:`~dslsearch.enumerate.FormulaTable` is a node of a hash-consed
DAG. Its *skeleton* keeps only the part of the tree that contains parameters; each maximal
parameter-free sub-formula becomes a *slot* whose values on the data are computed once per
data set (:mod:`dslsearch.fitting.evaluate`) and shared by every candidate that uses it.
Candidates with the same skeleton are fitted together in one batch, ``(G, ...)`` tensors.

The objective R is invariant to ``g -> a*g + b``, so parameters that only scale or shift
the whole formula (``c*X``, ``X + c``, ``X/c``, ``c - X``; ``c/X`` is ``1/X`` up to scale)
are *root-affine* and are stripped before fitting (:func:`reduce_candidate`); candidates
that agree after stripping are one *fit unit* and are fitted once.

Structures are nested tuples, hashable and compared by value:
``("S",)`` slot, ``("P",)`` parameter, ``("R", s)`` reciprocal, ``(op, s)`` unary,
``(op, s1, s2)`` binary, with the table's op codes. Slots and parameters are numbered
implicitly in pre-order (left to right), as the parameters of a Formula are. Every
operation is read from :data:`dslsearch.ops.OPS`; the reciprocal is the fitting's own
:data:`RECIPROCAL`, ``1 / s`` through the table's division.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from dslsearch.ops import (DIV, INVERSE_SCALE, OFFSET, OPS, PARAM, Notation, Op, UnitRule,
                           arities)
from hamiltonian_data.units import DIMENSIONLESS

SLOT: tuple = ("S",)
PARAM_S: tuple = ("P",)
RECIP = "R"  # the reciprocal's key in a structure
#: entries of each per-structure cache (parameter count, linearisation, topology): the
#: structures of a few shards, which is what a worker process fits at a time (a depth-9
#: table has about 100,000 structures, which a cache of all would hold in every worker)
STRUCT_CACHE = 1 << 13


def _reciprocal() -> Op:
    """``1 / x`` as an operation of its own (code -1 in topologies), built from DIV."""
    div = OPS[DIV]
    units = UnitRule(lambda a: div.units.combine(DIMENSIONLESS, a),
                     lambda t, a: div.units.solve(t, DIMENSIONLESS, a)[1:])
    text = Notation("1/{0}", div.text.precedence, div.text.loosest[1:])
    latex = Notation("\\frac{{1}}{{{0}}}", div.latex.precedence, div.latex.loosest[1:])
    return replace(div, code=-1, name="reciprocal", arity=1, units=units,
                   numpy=partial(div.numpy, 1.0), torch=partial(div.torch, 1.0),
                   sympy=partial(div.sympy, 1), text=text, latex=latex, cancels=False,
                   affine_in=(False,), param_roles=(None,))


RECIPROCAL = _reciprocal()


def struct_op(key) -> Op:
    """The operation of a structure node (a table op code, or ``"R"`` / -1: the reciprocal)."""
    return RECIPROCAL if key in (RECIP, RECIPROCAL.code) else OPS[key]


@dataclass(frozen=True)
class FitUnit:
    """One distinct fitting problem: a reduced skeleton and the node ids filling its slots.

    Attributes:
        struct: the reduced skeleton structure (root-affine parameters stripped).
        slots: table node ids of the parameter-free sub-formulas, in pre-order.
    """

    struct: tuple
    slots: tuple[int, ...]


@dataclass(frozen=True)
class Reduction:
    """How a candidate maps onto its fit unit.

    Attributes:
        unit: the fit unit.
        n_params: number of parameters of the full candidate.
        kept: original parameter index of each of the unit's parameters, in order.
        stripped: ``(index, neutral value)`` of each stripped root-affine parameter
            (0 for an offset, 1 for a scale).
    """

    unit: FitUnit
    n_params: int
    kept: tuple[int, ...]
    stripped: tuple[tuple[int, float], ...]


def parameter_counts(op: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Number of parameter occurrences in each node's tree, ``(n_nodes,)`` int64.

    The DAG is ordered children before parents, so one pass suffices.
    """
    n = len(op)
    count = np.zeros(n, np.int64)
    count[op == PARAM] = 1
    # a python pass over int lists is ~50 ms for 10^5 nodes: not worth vectorising
    arity = arities()
    opl, al, bl = op.tolist(), a.tolist(), b.tolist()
    out = count.tolist()
    for i in range(n):
        k = arity[opl[i]]
        if k == 1:
            out[i] = out[al[i]]
        elif k == 2:
            out[i] = out[al[i]] + out[bl[i]]
    return np.asarray(out, np.int64)


class SkeletonBuilder:
    """Builds (memoised per node) skeleton structures and slot lists for a table.

    Args:
        op, a, b: the table arrays, ``(n_nodes,)``.
        size: the table's node sizes; when given, nodes of the largest size (never a child)
            are not memoised, nor are parameter-free nodes (one slot each): memory stays
            small for a deep table.
    """

    def __init__(self, op: np.ndarray, a: np.ndarray, b: np.ndarray,
                 size: np.ndarray | None = None):
        # memoryviews: element access gives python ints and holds no per-node objects
        self.op, self.a, self.b = (memoryview(np.ascontiguousarray(arr, np.int64))
                                   for arr in (op, a, b))
        self.n_params = memoryview(parameter_counts(op, a, b))
        self.size = None if size is None else memoryview(np.ascontiguousarray(size, np.int64))
        self.top = None if size is None else int(np.max(size, initial=0))
        self.arity = arities()
        self._memo: dict[int, tuple[tuple, tuple[int, ...]]] = {}

    def skeleton(self, node: int) -> tuple[tuple, tuple[int, ...]]:
        """``(struct, slots)`` of the tree rooted at ``node`` (not reduced)."""
        if self.n_params[node] == 0:
            return SLOT, (node,)
        hit = self._memo.get(node)
        if hit is not None:
            return hit
        o = self.op[node]
        if o == PARAM:
            res = (PARAM_S, ())
        elif self.arity[o] == 1:
            s, sl = self.skeleton(self.a[node])
            res = ((o, s), sl)
        else:
            s1, sl1 = self.skeleton(self.a[node])
            s2, sl2 = self.skeleton(self.b[node])
            res = ((o, s1, s2), sl1 + sl2)
        if self.size is None or self.size[node] < self.top:
            self._memo[node] = res
        return res

    def reduce(self, node: int) -> Reduction:
        """Strip root-affine parameters of candidate ``node`` and return its fit unit.

        From the root down, a bare parameter argument whose role (``Op.param_roles``) is an
        offset or a scale of the rest is stripped and the rest becomes the root; an inverse
        scale (``c/X``) also turns the rest into its reciprocal, below which offsets stay.
        """
        struct, slots, n_params, kept, stripped = self.reduce_parts(node)
        return Reduction(FitUnit(struct, slots), n_params, kept, stripped)

    def reduce_parts(self, node: int) -> tuple[tuple, tuple, int, tuple, tuple]:
        """:meth:`reduce` as plain tuples ``(struct, slots, n_params, kept, stripped)``
        (no objects built: the planner calls it once per candidate, a million times at
        depth 9)."""
        if self.n_params[node] == 0:  # parameter-free: one slot, nothing to strip
            return SLOT, (node,), 0, (), ()
        cur, offset, recip = node, 0, False
        stripped: list[tuple[int, float]] = []
        while (found := self._root_param(cur, recip)) is not None:
            k, role = found
            other = self.a[cur] if k == 1 else self.b[cur]
            if k == 0:
                stripped.append((offset, 0.0 if role == OFFSET else 1.0))
                offset += 1
            else:
                stripped.append((offset + self.n_params[other], 0.0 if role == OFFSET else 1.0))
            recip ^= role == INVERSE_SCALE
            cur = other
        struct, slots = self.skeleton(cur)
        if recip:
            struct = (RECIP, struct)
        kept = tuple(range(offset, offset + self.n_params[cur]))
        return struct, slots, self.n_params[node], kept, tuple(stripped)

    def _root_param(self, node: int, recip: bool) -> tuple[int, str] | None:
        """``(argument index, role)`` of a strippable bare parameter argument of ``node``."""
        if self.arity[self.op[node]] != 2:
            return None
        roles = OPS[self.op[node]].param_roles
        for k, child in enumerate((self.a[node], self.b[node])):
            role = roles[k]
            if role is not None and self.op[child] == PARAM and not (recip and role == OFFSET):
                return k, role
        return None


@functools.lru_cache(maxsize=STRUCT_CACHE)
def n_struct_params(struct: tuple) -> int:
    """Number of parameters in a structure (cached: structures are few and hashable)."""
    if struct == PARAM_S:
        return 1
    if struct == SLOT:
        return 0
    return sum(n_struct_params(s) for s in struct[1:])


def n_struct_slots(struct: tuple) -> int:
    """Number of slots in a structure."""
    if struct == SLOT:
        return 1
    if struct == PARAM_S:
        return 0
    return sum(n_struct_slots(s) for s in struct[1:])


def evaluate_struct(struct: tuple, slots: list, params: list, lib) -> object:
    """Evaluate a structure with array-library ``lib`` (numpy or torch).

    Args:
        struct: the structure.
        slots: one array per slot, broadcastable against the parameters, e.g. ``(G, 1, N)``.
        params: one array per parameter, e.g. ``(G, S, 1)``.
        lib: the ``numpy`` or ``torch`` module.

    Returns:
        the formula's values, broadcast shape of slots and params (e.g. ``(G, S, N)``).
    """
    it_s, it_p = iter(slots), iter(params)

    def ev(s: tuple):
        if s == SLOT:
            return next(it_s)
        if s == PARAM_S:
            return next(it_p)
        return struct_op(s[0]).impl(lib)(*[ev(c) for c in s[1:]])

    return ev(struct)
