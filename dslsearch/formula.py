"""Immutable formula trees of the language: inputs, parameters and the operations of
:mod:`dslsearch.ops` (``+ − × ÷ sin cos square`` and ``sqrt log exp inv``).

A :class:`Formula` is a frozen tree, hashed and compared by structure. The commutative
operations ``+`` and ``×`` keep their two arguments in a canonical order (by
:attr:`Formula.key`), so ``p*q`` and ``q*p`` are the same object value. Every occurrence of
:data:`PARAM` in a tree is its own trainable parameter; parameters are numbered ``c0, c1, …``
in pre-order (left to right), the order used everywhere (sympy names, fitted arrays).

Units (see :mod:`hamiltonian_data.units`): every sub-formula has either a *fixed* dimension vector
or is *free* (it contains a parameter that can absorb any unit: ``c·q``). Each operation's
unit rule is in :data:`dslsearch.ops.OPS`: ``+``/``−`` need like units (a free side takes the
other side's unit); ``sin``/``cos``/``log``/``exp`` need a dimensionless (or free) argument;
``×``/``÷``/``square``/``sqrt``/``inv`` combine dimensions (``sqrt`` halves them, possibly to
fractional exponents; ``inv`` negates them), and are free when an argument is free. Parameter
units are then solved top-down (:meth:`Formula.param_units`):
a parameter takes the unit that makes its formula valid; where that leaves freedom (a free
formula as a whole, or a product of two free factors) the free part is taken dimensionless.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from dslsearch.ops import (ADD, ATOM, COS, DIV, EXP, FREE, INPUT, INV, INVALID, LOG, MUL, OPS, PARAM,
                           SIN, SQRT, SQUARE, SUB)
from hamiltonian_data.units import DIMENSIONLESS, Dims, format_dims

__all__ = [
    "ADD", "COS", "DIV", "EXP", "FREE", "INPUT", "INV", "LOG", "MUL", "PARAM", "SIN", "SQRT",
    "SQUARE", "SUB",
    "Formula", "FormulaError", "add", "apply", "cos", "div", "exp", "format_param", "from_sympy",
    "inp", "inv", "log", "mul", "param", "sin", "sqrt", "square", "sub",
]


class FormulaError(ValueError):
    """A formula is malformed, unit-invalid, or cannot be parsed."""


@dataclass(frozen=True, eq=True, repr=False)
class Formula:
    """One node of a formula tree (and the tree below it).

    Build with :func:`inp`, :data:`param`, :func:`add`, :func:`sub`, :func:`mul`, :func:`div`,
    :func:`sin`, :func:`cos`, :func:`square` (which keep commutative arguments canonical).

    Attributes:
        op: op code: a leaf (``INPUT``, ``PARAM``) or a key of :data:`dslsearch.ops.OPS`.
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
            return OPS[node.op].sympy(*[build(a) for a in node.args])

        return build(self)

    def expr_str(self, names: Sequence[str] | None = None, params: Sequence[float] | None = None) -> str:
        """Sympy-syntax string (``"-c0*cos(q) + p**2"``), parseable by :func:`from_sympy`."""
        import sympy

        return sympy.sstr(self.to_sympy(names, params))

    def latex(self, names: Sequence[str] | None = None, params: Sequence[float] | None = None) -> str:
        """LaTeX of the sympy expression (sympy's term order and simplifications)."""
        import sympy

        return sympy.latex(self.to_sympy(names, params))

    def tree_latex(self, names: Sequence[str] | None = None) -> str:
        """LaTeX of the tree exactly as built (no sympy reordering), parameters ``c_{k}``."""
        names = list(names) if names is not None else [f"x{i}" for i in range(self.max_input + 1)]
        counter = iter(range(self.n_params))

        def build(node: Formula) -> tuple[str, int]:
            if node.op == INPUT:
                return names[node.index], ATOM
            if node.op == PARAM:
                return f"c_{{{next(counter)}}}", ATOM
            args = [build(a) for a in node.args]
            return OPS[node.op].latex.render(args, paren=("\\left(", " \\right)"))

        return build(self)[0]

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
            elif node.op != INPUT:
                arg_targets = OPS[node.op].units.solve(target, *(states[a] for a in node.args))
                for arg, arg_target in zip(node.args, arg_targets):
                    resolve(arg, arg_target)

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
            return OPS[node.op].impl(lib)(*[ev(a) for a in node.args])

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
            s = OPS[node.op].units.combine(*cs)
            if s is INVALID:
                raise FormulaError(f"unit-invalid formula: {OPS[node.op].name} of "
                                   + ", ".join("free" if c is FREE else (format_dims(c) or "1") for c in cs))
        states[node] = s
        return s

    visit(formula)
    return states


# -- constructors (canonical argument order for + and ×) ----------------------------------
def inp(index: int) -> Formula:
    """The state variable in column ``index``."""
    return Formula(INPUT, (), index)


param = Formula(PARAM)


def apply(op: int, *args: Formula) -> Formula:
    """Operation ``op`` (a key of :data:`dslsearch.ops.OPS`) applied to ``args``, commutative
    arguments in canonical order.

    Raises:
        FormulaError: unknown op code, or the wrong number of arguments.
    """
    spec = OPS.get(op)
    if spec is None:
        raise FormulaError(f"op: unknown operation code {op!r}; known codes are {sorted(OPS)}")
    if len(args) != spec.arity:
        raise FormulaError(f"{spec.name} takes {spec.arity} argument(s), got {len(args)}")
    if spec.commutative and args[1].order_key < args[0].order_key:
        args = (args[1], args[0])
    return Formula(op, tuple(args))


def add(a: Formula, b: Formula) -> Formula:
    return apply(ADD, a, b)


def sub(a: Formula, b: Formula) -> Formula:
    return apply(SUB, a, b)


def mul(a: Formula, b: Formula) -> Formula:
    return apply(MUL, a, b)


def div(a: Formula, b: Formula) -> Formula:
    return apply(DIV, a, b)


def sin(a: Formula) -> Formula:
    return apply(SIN, a)


def cos(a: Formula) -> Formula:
    return apply(COS, a)


def square(a: Formula) -> Formula:
    return apply(SQUARE, a)


def sqrt(a: Formula) -> Formula:
    return apply(SQRT, a)


def log(a: Formula) -> Formula:
    return apply(LOG, a)


def exp(a: Formula) -> Formula:
    return apply(EXP, a)


def inv(a: Formula) -> Formula:
    return apply(INV, a)


# -- parsing ------------------------------------------------------------------------------
def from_sympy(text_or_expr, names: Sequence[str]) -> tuple[Formula, list[float | None]]:
    """Parse a sympy-syntax string (or sympy expression) into a formula.

    Symbols named in ``names`` are inputs; symbols ``c0, c1, …`` and numbers become parameters.
    Returns the formula and each parameter's value in the formula's pre-order (None for a
    ``c`` symbol). ``x**2`` is ``square``, ``x**-1`` (``1/x``) is ``inv``, ``x**(1/2)``
    (``sqrt(x)``) is ``sqrt``, ``Abs(x)`` is ``sqrt(x**2)``, other powers n / 2**k are built from these,
    ``*`` and ``/``; a negated term is a subtraction; other powers are rejected. Functions
    are the operations of :data:`dslsearch.ops.OPS` with a ``sympy_name``.

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
    return _SympyReader(names).convert(expr)


# A parsed sub-formula with its parameter values in that sub-formula's pre-order, so that
# canonical reordering of commutative arguments carries the values along.
_Parsed = tuple[Formula, list]


class _SympyReader:
    """Converts sympy expressions to formulas (see :func:`from_sympy`)."""

    def __init__(self, names: Sequence[str]):
        import sympy

        self.names = list(names)
        self.index = {n: i for i, n in enumerate(names)}
        self.functions = {getattr(sympy, op.sympy_name): code for code, op in OPS.items()
                          if op.sympy_name is not None}

    @staticmethod
    def leaf(value: float | None) -> _Parsed:
        return param, [value]

    @staticmethod
    def apply(op: int, *parsed: _Parsed) -> _Parsed:
        if OPS[op].commutative and parsed[1][0].order_key < parsed[0][0].order_key:
            parsed = (parsed[1], parsed[0])
        return Formula(op, tuple(f for f, _ in parsed)), [v for _, vals in parsed for v in vals]

    def fold(self, op: int, items: list[_Parsed]) -> _Parsed:
        out = items[0]
        for item in items[1:]:
            out = self.apply(op, out, item)
        return out

    def power(self, base: _Parsed, n: int) -> _Parsed:
        """``base**n`` from square, * and inv (sympy folds (q**2)**2 into q**4, q*q into
        q**2, 1/q into q**-1)."""
        if n < 0:
            return self.apply(INV, self.power(base, -n))
        if n == 1:
            return base
        if n % 2 == 0:
            return self.apply(SQUARE, self.power(base, n // 2))
        return self.apply(MUL, base, self.power(base, n - 1))

    def pow(self, e) -> _Parsed:
        """A sympy power: integer exponents, and n / 2**k through ``sqrt`` (sympy folds
        sqrt(sqrt(q)) into q**(1/4))."""
        base, exponent = e.args
        if not exponent.is_Rational or exponent.q & (exponent.q - 1):
            raise FormulaError(f"power {exponent} in {e} is not in the language (integer "
                               "powers and their square roots only, built from square, sqrt, "
                               "* and 1/x)")
        parsed = self.convert(base)
        while not exponent.is_Integer:
            parsed, exponent = self.apply(SQRT, parsed), 2 * exponent
        return self.power(parsed, int(exponent))

    def convert(self, e) -> _Parsed:
        if e.is_Symbol:
            return self.symbol(e.name)
        if e.is_Number:
            return self.leaf(float(e))
        if type(e) in self.functions:
            return self.apply(self.functions[type(e)], *[self.convert(a) for a in e.args])
        if e.is_Pow:
            return self.pow(e)
        if isinstance(e, sympy_abs()):  # sympy writes sqrt(x**2) of a real x as Abs(x)
            return self.apply(SQRT, self.apply(SQUARE, self.convert(e.args[0])))
        if e.is_Add:
            return self.sum(e)
        if e.is_Mul:
            return self.product(e)
        functions = " ".join(op.sympy_name for op in OPS.values() if op.sympy_name)
        raise FormulaError(f"{type(e).__name__} in {e} is not in the language "
                           f"(use + - * / {functions} sqrt and **2)")

    def symbol(self, name: str) -> _Parsed:
        if name in self.index:
            return inp(self.index[name]), []
        if name.startswith("c") and name[1:].isdigit():
            return self.leaf(None)
        raise FormulaError(f"unknown symbol {name!r}; inputs are {self.names}, "
                           "parameters are c0, c1, ...")

    def sum(self, e) -> _Parsed:
        pos = [self.convert(a) for a in e.args if not a.could_extract_minus_sign()]
        neg = [self.convert(-a) for a in e.args if a.could_extract_minus_sign()]
        if not pos:
            return self.apply(SUB, self.leaf(0.0), self.fold(ADD, neg))
        left = self.fold(ADD, pos)
        return left if not neg else self.apply(SUB, left, self.fold(ADD, neg))

    def product(self, e) -> _Parsed:
        import sympy

        num, den = sympy.fraction(e)
        if den != 1:
            return self.apply(DIV, self.convert(num), self.convert(den))
        coeff, rest = e.as_coeff_Mul()
        if coeff == -1:
            return self.apply(SUB, self.leaf(0.0), self.convert(rest))
        return self.fold(MUL, [self.convert(a) for a in e.args])


def sympy_abs():
    """sympy's ``Abs`` class."""
    import sympy

    return sympy.Abs


def format_param(value: float, dims: Dims) -> str:
    """A fitted parameter with its unit: ``2.99 kg²·m⁴/s²``."""
    unit = format_dims(dims)
    num = f"{value:.4g}" if math.isfinite(value) else str(value)
    return f"{num} {unit}".strip()
