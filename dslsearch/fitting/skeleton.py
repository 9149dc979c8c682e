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
implicitly in pre-order (left to right), as the parameters of a Formula are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INPUT, PARAM, ADD, SUB, MUL, DIV, SIN, COS, SQUARE = range(9)
SLOT: tuple = ("S",)
PARAM_S: tuple = ("P",)
OP_NAMES = {ADD: "+", SUB: "-", MUL: "*", DIV: "/", SIN: "sin", COS: "cos", SQUARE: "square"}


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
    opl, al, bl = op.tolist(), a.tolist(), b.tolist()
    out = count.tolist()
    for i in range(n):
        o = opl[i]
        if o >= SIN:
            out[i] = out[al[i]]
        elif o >= ADD:
            out[i] = out[al[i]] + out[bl[i]]
    return np.asarray(out, np.int64)


class SkeletonBuilder:
    """Builds (memoised per node) skeleton structures and slot lists for a table.

    Args:
        op, a, b: the table arrays, ``(n_nodes,)``.
    """

    def __init__(self, op: np.ndarray, a: np.ndarray, b: np.ndarray):
        self.op, self.a, self.b = op.tolist(), a.tolist(), b.tolist()
        self.n_params = parameter_counts(op, a, b).tolist()
        self._memo: dict[int, tuple[tuple, tuple[int, ...]]] = {}

    def skeleton(self, node: int) -> tuple[tuple, tuple[int, ...]]:
        """``(struct, slots)`` of the tree rooted at ``node`` (not reduced)."""
        hit = self._memo.get(node)
        if hit is not None:
            return hit
        o = self.op[node]
        if self.n_params[node] == 0:
            res = (SLOT, (node,))
        elif o == PARAM:
            res = (PARAM_S, ())
        elif o >= SIN:
            s, sl = self.skeleton(self.a[node])
            res = ((o, s), sl)
        else:
            s1, sl1 = self.skeleton(self.a[node])
            s2, sl2 = self.skeleton(self.b[node])
            res = ((o, s1, s2), sl1 + sl2)
        self._memo[node] = res
        return res

    def reduce(self, node: int) -> Reduction:
        """Strip root-affine parameters of candidate ``node`` and return its fit unit."""
        op, a, b, npar = self.op, self.a, self.b, self.n_params
        cur, offset, recip = node, 0, False
        stripped: list[tuple[int, float]] = []
        while True:
            o = op[cur]
            if o in (ADD, SUB) and not recip:
                if op[a[cur]] == PARAM:
                    stripped.append((offset, 0.0)); offset += 1; cur = b[cur]; continue
                if op[b[cur]] == PARAM:
                    stripped.append((offset + npar[a[cur]], 0.0)); cur = a[cur]; continue
            elif o == MUL:
                if op[a[cur]] == PARAM:
                    stripped.append((offset, 1.0)); offset += 1; cur = b[cur]; continue
                if op[b[cur]] == PARAM:
                    stripped.append((offset + npar[a[cur]], 1.0)); cur = a[cur]; continue
            elif o == DIV:
                if op[b[cur]] == PARAM:
                    stripped.append((offset + npar[a[cur]], 1.0)); cur = a[cur]; continue
                if op[a[cur]] == PARAM:
                    stripped.append((offset, 1.0)); offset += 1; cur = b[cur]
                    recip = not recip; continue
            break
        struct, slots = self.skeleton(cur)
        if recip:
            struct = ("R", struct)
        kept = tuple(range(offset, offset + npar[cur]))
        return Reduction(FitUnit(struct, slots), npar[node], kept, tuple(stripped))


def n_struct_params(struct: tuple) -> int:
    """Number of parameters in a structure."""
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
        lib: ``numpy`` or ``torch`` (needs ``sin``, ``cos``).

    Returns:
        the formula's values, broadcast shape of slots and params (e.g. ``(G, S, N)``).
    """
    it_s, it_p = iter(slots), iter(params)

    def ev(s: tuple):
        if s == SLOT:
            return next(it_s)
        if s == PARAM_S:
            return next(it_p)
        o = s[0]
        if o == "R":
            return 1.0 / ev(s[1])
        if o == SIN:
            return lib.sin(ev(s[1]))
        if o == COS:
            return lib.cos(ev(s[1]))
        if o == SQUARE:
            x = ev(s[1])
            return x * x
        x = ev(s[1])
        y = ev(s[2])
        if o == ADD:
            return x + y
        if o == SUB:
            return x - y
        if o == MUL:
            return x * y
        return x / y

    return ev(struct)


def struct_to_sympy(struct: tuple):
    """Sympy expression of a structure over symbols ``s0..`` (slots) and ``c0..`` (params)."""
    import sympy

    ns, np_ = n_struct_slots(struct), n_struct_params(struct)
    S = sympy.symbols(f"s0:{max(ns, 1)}")
    C = sympy.symbols(f"c0:{max(np_, 1)}")
    ev = evaluate_struct(struct, list(S[:ns]), list(C[:np_]),
                         _SympyLib)
    return sympy.sympify(ev), S[:ns], C[:np_]


class _SympyLib:
    @staticmethod
    def sin(x):
        import sympy
        return sympy.sin(x)

    @staticmethod
    def cos(x):
        import sympy
        return sympy.cos(x)


def node_tree(op, a, b, node: int) -> tuple:
    """Nested-tuple tree of a table node (inputs as ``("x", i)``, params as ``("P",)``)."""
    o = int(op[node])
    if o == INPUT:
        return ("x", int(a[node]))
    if o == PARAM:
        return PARAM_S
    if o >= SIN:
        return (o, node_tree(op, a, b, int(a[node])))
    return (o, node_tree(op, a, b, int(a[node])), node_tree(op, a, b, int(b[node])))


def tree_expr(tree: tuple, names: list[str], params=None) -> str:
    """Sympy-syntax string of a node tree, with parameters ``c0..`` or the numbers given."""
    counter = iter(range(10**6))

    def fmt(t: tuple) -> str:
        if t[0] == "x":
            return names[t[1]]
        if t == PARAM_S:
            k = next(counter)
            return f"c{k}" if params is None else f"({float(params[k])!r})"
        o = t[0]
        if o == SIN:
            return f"sin({fmt(t[1])})"
        if o == COS:
            return f"cos({fmt(t[1])})"
        if o == SQUARE:
            return f"({fmt(t[1])})**2"
        left = fmt(t[1])
        right = fmt(t[2])
        return f"({left} {OP_NAMES[o]} {right})"

    return fmt(tree)


def tree_torch(tree: tuple, params) -> object:
    """A torch callable ``g(x: (B, d)) -> (B,)`` for a node tree and fitted parameters."""
    import torch

    values = [float(p) for p in params]

    def g(x: torch.Tensor) -> torch.Tensor:
        counter = iter(range(len(values)))

        def ev(t: tuple):
            if t[0] == "x":
                return x[..., t[1]]
            if t == PARAM_S:
                return torch.as_tensor(values[next(counter)], dtype=x.dtype, device=x.device)
            o = t[0]
            if o == SIN:
                return torch.sin(ev(t[1]))
            if o == COS:
                return torch.cos(ev(t[1]))
            if o == SQUARE:
                y = ev(t[1])
                return y * y
            u = ev(t[1])
            v = ev(t[2])
            return {ADD: torch.add, SUB: torch.sub, MUL: torch.mul, DIV: torch.div}[o](u, v)

        out = ev(tree)
        return out.expand(x.shape[:-1])

    return g
