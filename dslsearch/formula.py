"""Immutable formula trees of the language: inputs, parameters and ``+ − × ÷ sin cos square``.

A :class:`Formula` is a frozen tree, hashed and compared by structure. The commutative
operations ``+`` and ``×`` keep their two arguments in a canonical order (by
:attr:`Formula.key`), so ``p*q`` and ``q*p`` are the same object value. Every occurrence of
:data:`PARAM` in a tree is its own trainable parameter; parameters are numbered ``c0, c1, …``
in pre-order (left to right), the order used everywhere (sympy names, fitted arrays).

Units (see :mod:`hamiltonian_data.units`): every sub-formula has either a *fixed* dimension vector
or is *free* (it contains a parameter that can absorb any unit: ``c·q``). The rules:
``+``/``−`` need like units (a free side takes the other side's unit); ``sin``/``cos`` need a
dimensionless (or free) argument; ``×``/``÷``/``square`` combine dimensions, and are free when
an argument is free. Parameter units are then solved top-down (:meth:`Formula.param_units`):
a parameter takes the unit that makes its formula valid; where that leaves freedom (a free
formula as a whole, or a product of two free factors) the free part is taken dimensionless.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property

import numpy as np

from hamiltonian_data.units import DIMENSIONLESS, Dims, dims_add, dims_scale, dims_sub, format_dims

# Op codes, shared with the enumerator's table and the results store.
INPUT, PARAM, ADD, SUB, MUL, DIV, SIN, COS, SQUARE = range(9)
OP_NAMES = ("input", "param", "add", "sub", "mul", "div", "sin", "cos", "square")
UNARY = frozenset({SIN, COS, SQUARE})
BINARY = frozenset({ADD, SUB, MUL, DIV})
COMMUTATIVE = frozenset({ADD, MUL})

FREE = None  # unit state of a sub-formula whose unit a parameter can set to anything


class FormulaError(ValueError):
    """A formula is malformed, unit-invalid, or cannot be parsed."""


@dataclass(frozen=True, eq=True, repr=False)
class Formula:
    """One node of a formula tree (and the tree below it).

    Build with :func:`inp`, :data:`param`, :func:`add`, :func:`sub`, :func:`mul`, :func:`div`,
    :func:`sin`, :func:`cos`, :func:`square` (which keep commutative arguments canonical).

    Attributes:
        op: op code (``INPUT`` … ``SQUARE``).
        args: child formulas (0, 1 or 2).
        index: the input's column for ``INPUT``, else -1.
    """

    op: int
    args: tuple[Formula, ...] = ()
    index: int = -1
    _hash: int = field(default=0, compare=False, init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.op, self.index, self.args)))

    def __hash__(self) -> int:
        return self._hash

    @cached_property
    def key(self) -> tuple:
        """Structural sort key; equal keys ⇔ equal formulas."""
        return (self.op, self.index, tuple(a.key for a in self.args))

    @cached_property
    def order_key(self) -> tuple:
        """Canonical argument order of ``+``/``×``: smaller formulas first, then by
        :attr:`key`. The enumerator generates exactly this order (sizes first, and keys only
        between arguments of equal size), so table nodes and trees agree."""
        return (self.size, self.key)

    @cached_property
    def size(self) -> int:
        """Number of nodes ("depth" in the paper's sense)."""
        return 1 + sum(a.size for a in self.args)

    @cached_property
    def n_params(self) -> int:
        return 1 if self.op == PARAM else sum(a.n_params for a in self.args)

    @cached_property
    def has_input(self) -> bool:
        return self.op == INPUT or any(a.has_input for a in self.args)

    def __repr__(self) -> str:
        return f"Formula({self.expr_str()})"

    # -- conversions ----------------------------------------------------------------------
    def to_sympy(self, names: Sequence[str] | None = None, params: Sequence[float] | None = None):
        """The sympy expression; inputs named by ``names`` (default ``x0, x1, …``), parameters
        ``c0, c1, …`` or, when ``params`` is given, their values."""
        import sympy

        names = list(names) if names is not None else [f"x{i}" for i in range(self.max_input + 1)]
        counter = iter(range(self.n_params))

        def build(node: Formula):
            if node.op == INPUT:
                return sympy.Symbol(names[node.index], real=True)
            if node.op == PARAM:
                k = next(counter)
                if params is not None and params[k] is not None:
                    return sympy.Float(float(params[k]))
                return sympy.Symbol(f"c{k}", real=True)
            args = [build(a) for a in node.args]
            if node.op == ADD:
                return args[0] + args[1]
            if node.op == SUB:
                return args[0] - args[1]
            if node.op == MUL:
                return args[0] * args[1]
            if node.op == DIV:
                return args[0] / args[1]
            if node.op == SIN:
                return sympy.sin(args[0])
            if node.op == COS:
                return sympy.cos(args[0])
            return args[0] ** 2

        return build(self)

    def expr_str(self, names: Sequence[str] | None = None, params: Sequence[float] | None = None) -> str:
        """Sympy-syntax string (``"-c0*cos(q) + p**2"``), parseable by :func:`from_sympy`."""
        import sympy

        return sympy.sstr(self.to_sympy(names, params))

    def latex(self, names: Sequence[str] | None = None, params: Sequence[float] | None = None) -> str:
        import sympy

        return sympy.latex(self.to_sympy(names, params))

    @cached_property
    def max_input(self) -> int:
        return max([self.index] + [a.max_input for a in self.args])

    # -- units ----------------------------------------------------------------------------
    def unit_state(self, input_dims: Sequence[Dims]) -> Dims | None:
        """This formula's dimension vector, or ``FREE`` (None) when a parameter can set it.

        Raises:
            FormulaError: the formula is not unit-valid.
        """
        return _unit_states(self, input_dims)[self]

    def is_valid(self, input_dims: Sequence[Dims]) -> bool:
        try:
            self.unit_state(input_dims)
        except FormulaError:
            return False
        return True

    def param_units(self, input_dims: Sequence[Dims]) -> list[Dims]:
        """The unit of each parameter (pre-order), solved as the module docstring states."""
        states = _unit_states(self, input_dims)
        out: list[Dims] = []

        def resolve(node: Formula, target: Dims) -> None:
            own = states[node]
            if own is not FREE:
                target = own
            if node.op == PARAM:
                out.append(target)
            elif node.op == INPUT:
                return
            elif node.op in (SIN, COS):
                resolve(node.args[0], DIMENSIONLESS)
            elif node.op == SQUARE:
                resolve(node.args[0], dims_scale(target, Fraction(1, 2)))
            elif node.op in (ADD, SUB):
                resolve(node.args[0], target)
                resolve(node.args[1], target)
            else:
                left, right = node.args
                sl, sr = states[left], states[right]
                if node.op == MUL:
                    if sl is FREE and sr is FREE:
                        lt, rt = DIMENSIONLESS, target
                    elif sl is FREE:
                        lt, rt = dims_sub(target, sr), sr
                    else:
                        lt, rt = sl, (dims_sub(target, sl) if sr is FREE else sr)
                else:  # DIV
                    if sl is FREE and sr is FREE:
                        lt, rt = target, DIMENSIONLESS
                    elif sl is FREE:
                        lt, rt = dims_add(target, sr), sr
                    else:
                        lt, rt = sl, (dims_sub(sl, target) if sr is FREE else sr)
                resolve(left, lt)
                resolve(right, rt)

        resolve(self, DIMENSIONLESS)
        return out

    def unit_of(self, input_dims: Sequence[Dims]) -> Dims:
        """The formula's own unit once parameters are resolved (free → dimensionless)."""
        state = self.unit_state(input_dims)
        return DIMENSIONLESS if state is FREE else state

    # -- evaluation -----------------------------------------------------------------------
    def evaluate(self, x, params=None, lib=np):
        """Evaluate on data.

        Args:
            x: states, shape (N, d) (numpy array, or torch tensor with ``lib=torch``).
            params: parameter values, shape (n_params,) in pre-order.
        Returns:
            values, shape (N,).
        """
        counter = iter(range(self.n_params))

        def ev(node: Formula):
            if node.op == INPUT:
                return x[..., node.index]
            if node.op == PARAM:
                return params[next(counter)]
            vals = [ev(a) for a in node.args]
            if node.op == ADD:
                return vals[0] + vals[1]
            if node.op == SUB:
                return vals[0] - vals[1]
            if node.op == MUL:
                return vals[0] * vals[1]
            if node.op == DIV:
                return vals[0] / vals[1]
            if node.op == SIN:
                return lib.sin(vals[0])
            if node.op == COS:
                return lib.cos(vals[0])
            return vals[0] * vals[0]

        out = ev(self)
        if not self.has_input:
            out = out + 0 * x[..., 0]
        return out

    def torch_fn(self, params: Sequence[float]) -> Callable:
        """A differentiable torch callable ``g(x: (B, d)) -> (B,)`` with fixed parameter values."""
        import torch

        values = [float(v) for v in params]

        def g(x: torch.Tensor) -> torch.Tensor:
            p = torch.tensor(values, dtype=x.dtype, device=x.device)
            return self.evaluate(x, p, lib=torch)

        return g


def _unit_states(formula: Formula, input_dims: Sequence[Dims]) -> dict[Formula, Dims | None]:
    states: dict[Formula, Dims | None] = {}

    def visit(node: Formula):
        if node in states:
            return states[node]
        if node.op == INPUT:
            if node.index >= len(input_dims):
                raise FormulaError(f"input x{node.index} does not exist (only {len(input_dims)} inputs)")
            s = tuple(input_dims[node.index])
        elif node.op == PARAM:
            s = FREE
        else:
            cs = [visit(a) for a in node.args]
            s = combine_units(node.op, *cs)
            if s is _INVALID:
                raise FormulaError(f"unit-invalid formula: {OP_NAMES[node.op]} of "
                                   + ", ".join("free" if c is FREE else (format_dims(c) or "1") for c in cs))
        states[node] = s
        return s

    visit(formula)
    return states


_INVALID = object()


def combine_units(op: int, a, b=None):
    """Unit state of ``op(a, b)`` from its arguments' states (``FREE`` = None), or ``_INVALID``."""
    if op in (SIN, COS):
        return DIMENSIONLESS if (a is FREE or not any(a)) else _INVALID
    if op == SQUARE:
        return FREE if a is FREE else tuple(2 * v for v in a)
    if op in (ADD, SUB):
        if a is FREE:
            return b
        if b is FREE or a == b:
            return a
        return _INVALID
    if a is FREE or b is FREE:
        return FREE
    if op == MUL:
        return tuple(x + y for x, y in zip(a, b))
    return tuple(x - y for x, y in zip(a, b))


# -- constructors (canonical argument order for + and ×) ----------------------------------
def inp(index: int) -> Formula:
    """The state variable in column ``index``."""
    return Formula(INPUT, (), index)


param = Formula(PARAM)


def _binary(op: int, a: Formula, b: Formula) -> Formula:
    if op in COMMUTATIVE and b.order_key < a.order_key:
        a, b = b, a
    return Formula(op, (a, b))


def add(a: Formula, b: Formula) -> Formula:
    return _binary(ADD, a, b)


def sub(a: Formula, b: Formula) -> Formula:
    return _binary(SUB, a, b)


def mul(a: Formula, b: Formula) -> Formula:
    return _binary(MUL, a, b)


def div(a: Formula, b: Formula) -> Formula:
    return _binary(DIV, a, b)


def sin(a: Formula) -> Formula:
    return Formula(SIN, (a,))


def cos(a: Formula) -> Formula:
    return Formula(COS, (a,))


def square(a: Formula) -> Formula:
    return Formula(SQUARE, (a,))


# -- parsing ------------------------------------------------------------------------------
def from_sympy(text_or_expr, names: Sequence[str]) -> tuple[Formula, list[float | None]]:
    """Parse a sympy-syntax string (or sympy expression) into a formula.

    Symbols named in ``names`` are inputs; symbols ``c0, c1, …`` and numbers become parameters.
    Returns the formula and each parameter's value in the formula's pre-order (None for a
    ``c`` symbol). ``x**2`` is ``square``, ``x**-1`` a division, a negated term a subtraction;
    other powers are rejected.

    Raises:
        FormulaError: unparseable text, unknown symbol, unsupported function or power; the
            message names it.
    """
    import sympy

    if isinstance(text_or_expr, str):
        local = {n: sympy.Symbol(n, real=True) for n in names}
        try:
            expr = sympy.sympify(text_or_expr, locals=local)
        except (sympy.SympifyError, SyntaxError, TypeError) as exc:
            raise FormulaError(f"cannot parse formula {text_or_expr!r}: {exc}") from exc
    else:
        expr = text_or_expr
    index = {n: i for i, n in enumerate(names)}

    # Each conversion returns (formula, parameter values in that formula's pre-order), so
    # that canonical reordering of + and × carries the values along.
    def leaf(value: float | None):
        return param, [value]

    def unary(op, arg):
        f, vals = conv(arg)
        return Formula(op, (f,)), vals

    def binary(op, left, right):
        (fa, va), (fb, vb) = left, right
        if op in COMMUTATIVE and fb.order_key < fa.order_key:
            (fa, va), (fb, vb) = (fb, vb), (fa, va)
        return Formula(op, (fa, fb)), va + vb

    def power(base, n: int):
        # q**n from square, * and / (sympy folds (q**2)**2 into q**4, q*q into q**2)
        if n < 0:
            return binary(DIV, leaf(1.0), power(base, -n))
        if n == 1:
            return conv(base)
        if n % 2 == 0:
            inner = power(base, n // 2)
            return Formula(SQUARE, (inner[0],)), inner[1]
        return binary(MUL, conv(base), power(base, n - 1))

    def fold(op, items):
        out = items[0]
        for item in items[1:]:
            out = binary(op, out, item)
        return out

    def conv(e):
        if e.is_Symbol:
            if e.name in index:
                return inp(index[e.name]), []
            if e.name.startswith("c") and e.name[1:].isdigit():
                return leaf(None)
            raise FormulaError(f"unknown symbol {e.name!r}; inputs are {list(names)}, "
                               "parameters are c0, c1, ...")
        if e.is_Number:
            return leaf(float(e))
        if isinstance(e, sympy.sin):
            return unary(SIN, e.args[0])
        if isinstance(e, sympy.cos):
            return unary(COS, e.args[0])
        if e.is_Pow:
            base, exp = e.args
            if not exp.is_Integer:
                raise FormulaError(f"power {exp} in {e} is not in the language "
                                   "(integer powers only, built from square, * and /)")
            return power(base, int(exp))
        if e.is_Add:
            pos = [conv(a) for a in e.args if not a.could_extract_minus_sign()]
            neg = [conv(-a) for a in e.args if a.could_extract_minus_sign()]
            if not pos:
                return binary(SUB, leaf(0.0), fold(ADD, neg))
            left = fold(ADD, pos)
            return left if not neg else binary(SUB, left, fold(ADD, neg))
        if e.is_Mul:
            num, den = sympy.fraction(e)
            if den != 1:
                return binary(DIV, conv(num), conv(den))
            coeff, rest = e.as_coeff_Mul()
            if coeff == -1:
                return binary(SUB, leaf(0.0), conv(rest))
            return fold(MUL, [conv(a) for a in e.args])
        raise FormulaError(f"{type(e).__name__} in {e} is not in the language "
                           "(use + - * / sin cos and **2)")

    return conv(expr)


def format_param(value: float, dims: Dims) -> str:
    """A fitted parameter with its unit: ``2.99 kg²·m⁴/s²``."""
    unit = format_dims(dims)
    num = f"{value:.4g}" if math.isfinite(value) else str(value)
    return f"{num} {unit}".strip()
