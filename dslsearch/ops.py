"""The operator table: every operation of the formula language, declared once.

Each :class:`Op` carries everything the rest of the package needs to know about an
operation: its code (stored in candidate tables, so existing codes never change), name,
arity, whether it is commutative, its unit rule, its numpy / torch / sympy implementations,
how it prints (sympy syntax and LaTeX, with precedence) and the algebraic facts the fitting
uses (in which arguments it is affine, what a bare parameter argument does to the whole).
Formulas, the enumerator, the printers and the fitting read :data:`OPS`; adding an operation
is one entry here (plus its tests).

The two leaves are not operations: :data:`INPUT` (a state variable; its column is stored
where an operation stores its first child) and :data:`PARAM` (a trainable constant).

Unit states: a dimension vector (:data:`hamiltonian_data.units.Dims`) or :data:`FREE`
(None), the state of a sub-formula whose unit a parameter inside can set to anything.
"""

from __future__ import annotations

import importlib
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from hamiltonian_data.units import DIMENSIONLESS, Dims, dims_add, dims_scale, dims_sub

# Codes are stored in results files: never renumber; a new operation takes a new code.
INPUT, PARAM, ADD, SUB, MUL, DIV, SIN, COS, SQUARE, SQRT, LOG, EXP, INV = range(13)
LEAF_NAMES = {INPUT: "input", PARAM: "param"}

FREE = None          # unit state of a sub-formula whose unit a parameter can set to anything
INVALID = object()   # result of a unit rule whose arguments do not fit

# Printing precedence, tightest first: an argument whose precedence is looser than its
# slot allows is parenthesised.
ATOM, FUNC, POWER, PRODUCT, SUM = range(5)

# What a bare parameter argument does to the formula as a whole (see Op.param_roles).
OFFSET, SCALE, INVERSE_SCALE = "offset", "scale", "inverse-scale"


def _lazy(module: str, name: str) -> Callable:
    """``module.name``, imported on first call (torch and sympy are heavy and optional here)."""
    fn: Callable | None = None

    def call(*args):
        nonlocal fn
        if fn is None:
            fn = getattr(importlib.import_module(module), name)
        return fn(*args)

    call.__name__ = call.__qualname__ = f"{module}.{name}"
    return call


@dataclass(frozen=True)
class UnitRule:
    """How an operation combines units.

    Attributes:
        combine: ``combine(*arg_states) -> state``: the result's unit state from the
            arguments' states, or :data:`INVALID`.
        solve: ``solve(target, *arg_states) -> (target of each argument)``: top-down, the unit
            each argument must take for the result to have unit ``target`` (a dimension
            vector); used to resolve parameter units. Free arguments receive the unit that
            fits; where two free arguments share the freedom, one is taken dimensionless.
        like_args: every argument must have the result's unit (``+``, ``−``); the enumerator
            then pairs only arguments of like (or free) units.
    """

    combine: Callable
    solve: Callable
    like_args: bool = False


@dataclass(frozen=True)
class Notation:
    """How an operation prints.

    Attributes:
        template: the printed form over its arguments ``{0}``, ``{1}``: ``"{0} + {1}"``.
            Literal braces are doubled, as in ``str.format``.
        precedence: binding of the printed result (:data:`ATOM` … :data:`SUM`).
        loosest: per argument, the loosest precedence printed without parentheses.
    """

    template: str
    precedence: int
    loosest: tuple[int, ...]
    _pieces: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the literal text around the arguments, so rendering is concatenation (hot path)
        marker = "\x01"
        n = len(self.loosest)
        pieces = self.template.format(*[marker] * n).split(marker)
        if len(pieces) != n + 1:
            raise ValueError(f"Notation template {self.template!r}: expected each of "
                             f"{{0}}..{{{n - 1}}} once")
        object.__setattr__(self, "_pieces", tuple(pieces))

    def render(self, args: Sequence[tuple[str, int]],
               paren: tuple[str, str] = ("(", ")")) -> tuple[str, int]:
        """``(text, precedence)`` of the operation applied to printed ``(text, precedence)``
        arguments; an argument looser than its slot allows is wrapped in ``paren``."""
        pieces, loosest = self._pieces, self.loosest
        out = pieces[0]
        for k, (s, p) in enumerate(args):
            out += (s if p <= loosest[k] else paren[0] + s + paren[1]) + pieces[k + 1]
        return out, self.precedence


@dataclass(frozen=True)
class Op:
    """One operation of the language.

    Attributes:
        code: the int stored in candidate tables (``op`` arrays).
        name: short lower-case name (``"add"``), used in messages.
        arity: 1 or 2.
        commutative: ``op(a, b) == op(b, a)``; arguments are then kept in canonical order.
        units: the :class:`UnitRule`.
        numpy, torch, sympy: implementations, called with ``arity`` arrays / tensors /
            sympy expressions (elementwise, broadcasting).
        text: sympy-syntax :class:`Notation` (parseable by ``dslsearch.formula.from_sympy``).
        latex: LaTeX :class:`Notation`.
        sympy_name: the sympy function class this operation is (``"sin"``), recognised when
            parsing; None for arithmetic, which sympy represents by Add, Mul and Pow.
        cancels: ``op(a, a)`` is a constant (``a − a``, ``a / a``): never built.
        affine_in: per argument, whether the operation is affine in it with the others fixed.
        jointly_affine: affine in all arguments at once (a sum; a product is not).
        param_roles: per argument, what a bare parameter there does to the whole formula:
            :data:`OFFSET` (``X + c``), :data:`SCALE` (``c·X``), :data:`INVERSE_SCALE`
            (``c / X``, a scale of ``1/X``), or None.
    """

    code: int
    name: str
    arity: int
    commutative: bool
    units: UnitRule
    numpy: Callable
    torch: Callable
    sympy: Callable
    text: Notation
    latex: Notation
    sympy_name: str | None = None
    cancels: bool = False
    affine_in: tuple[bool, ...] = (False,)
    jointly_affine: bool = False
    param_roles: tuple[str | None, ...] = (None,)

    def __post_init__(self) -> None:
        if self.arity not in (1, 2):
            raise ValueError(f"Op {self.name!r}: arity must be 1 or 2, got {self.arity}")
        for name in ("affine_in", "param_roles"):
            if len(getattr(self, name)) != self.arity:
                raise ValueError(f"Op {self.name!r}: {name} needs one entry per argument "
                                 f"({self.arity}), got {getattr(self, name)!r}")

    def impl(self, lib) -> Callable:
        """The implementation for array library ``lib`` (the ``numpy`` or ``torch`` module)."""
        name = lib.__name__.split(".")[0]
        if name not in ("numpy", "torch", "sympy"):
            raise ValueError(f"lib: expected the numpy, torch or sympy module, got {name!r}")
        return getattr(self, name)


# -- unit rules ---------------------------------------------------------------------------
def _like_combine(a, b):
    if a is FREE:
        return b
    if b is FREE or a == b:
        return a
    return INVALID


def _dimensionless_combine(a):
    return DIMENSIONLESS if (a is FREE or not any(a)) else INVALID


def _square_combine(a):
    return FREE if a is FREE else tuple(2 * v for v in a)


def _halve_combine(a):
    # exponents are Fractions where needed (sqrt of m is m^(1/2)): always representable
    return FREE if a is FREE else dims_scale(a, Fraction(1, 2))


def _negate_combine(a):
    return FREE if a is FREE else tuple(-v for v in a)


def _product_combine(a, b):
    return FREE if (a is FREE or b is FREE) else tuple(x + y for x, y in zip(a, b))


def _quotient_combine(a, b):
    return FREE if (a is FREE or b is FREE) else tuple(x - y for x, y in zip(a, b))


def _product_solve(target: Dims, sl, sr) -> tuple[Dims, Dims]:
    if sl is FREE and sr is FREE:
        return DIMENSIONLESS, target
    if sl is FREE:
        return dims_sub(target, sr), sr
    return sl, (dims_sub(target, sl) if sr is FREE else sr)


def _quotient_solve(target: Dims, sl, sr) -> tuple[Dims, Dims]:
    if sl is FREE and sr is FREE:
        return target, DIMENSIONLESS
    if sl is FREE:
        return dims_add(target, sr), sr
    return sl, (dims_sub(sl, target) if sr is FREE else sr)


LIKE_UNITS = UnitRule(_like_combine, lambda t, a, b: (t, t), like_args=True)
DIMENSIONLESS_ARG = UnitRule(_dimensionless_combine, lambda t, a: (DIMENSIONLESS,))
DOUBLED = UnitRule(_square_combine, lambda t, a: (dims_scale(t, Fraction(1, 2)),))
HALVED = UnitRule(_halve_combine, lambda t, a: (dims_scale(t, 2),))
NEGATED = UnitRule(_negate_combine, lambda t, a: (tuple(-v for v in t),))
PRODUCT_UNITS = UnitRule(_product_combine, _product_solve)
QUOTIENT_UNITS = UnitRule(_quotient_combine, _quotient_solve)


# -- declarations -------------------------------------------------------------------------
def _square(x):
    return x * x


def _reciprocal(x):
    return 1.0 / x  # float: numpy's reciprocal of an integer array is integer division


def _sympy_reciprocal(x):
    import sympy

    return sympy.Integer(1) / x  # Pow(x, -1), parsed back as INV


def _infix(symbol: str, precedence: int, loosest: tuple[int, int]) -> Notation:
    return Notation("{0}" + symbol + "{1}", precedence, loosest)


def _function(code: int, name: str, units: UnitRule, latex: Notation | None = None,
              sympy_class: bool = True) -> Op:
    """A unary elementary function that numpy, torch and sympy all call ``name``
    (``sympy_class``: sympy keeps it as a function class of that name, not a power)."""
    return Op(code, name, 1, False, units,
              numpy=getattr(np, name), torch=_lazy("torch", name),
              sympy=_lazy("sympy", name),
              text=Notation(name + "({0})", FUNC, (SUM,)),
              latex=latex or Notation("\\" + name + "{{\\left({0} \\right)}}", FUNC, (SUM,)),
              sympy_name=name if sympy_class else None)


_DECLARED = (
    Op(ADD, "add", 2, True, LIKE_UNITS, operator.add, operator.add, operator.add,
       text=_infix(" + ", SUM, (SUM, SUM)), latex=_infix(" + ", SUM, (SUM, SUM)),
       affine_in=(True, True), jointly_affine=True, param_roles=(OFFSET, OFFSET)),
    Op(SUB, "sub", 2, False, LIKE_UNITS, operator.sub, operator.sub, operator.sub,
       text=_infix(" - ", SUM, (SUM, PRODUCT)), latex=_infix(" - ", SUM, (SUM, PRODUCT)),
       cancels=True, affine_in=(True, True), jointly_affine=True,
       param_roles=(OFFSET, OFFSET)),
    Op(MUL, "mul", 2, True, PRODUCT_UNITS, operator.mul, operator.mul, operator.mul,
       text=_infix("*", PRODUCT, (PRODUCT, PRODUCT)),
       latex=_infix(" ", PRODUCT, (PRODUCT, PRODUCT)),
       affine_in=(True, True), param_roles=(SCALE, SCALE)),
    Op(DIV, "div", 2, False, QUOTIENT_UNITS, operator.truediv, operator.truediv,
       operator.truediv,
       text=_infix("/", PRODUCT, (PRODUCT, POWER)),
       latex=Notation("\\frac{{{0}}}{{{1}}}", POWER, (SUM, SUM)),
       cancels=True, affine_in=(True, False), param_roles=(INVERSE_SCALE, SCALE)),
    _function(SIN, "sin", DIMENSIONLESS_ARG),
    _function(COS, "cos", DIMENSIONLESS_ARG),
    Op(SQUARE, "square", 1, False, DOUBLED, _square, _square, lambda x: x**2,
       text=Notation("{0}**2", POWER, (FUNC,)), latex=Notation("{0}^{{2}}", POWER, (FUNC,))),
    # sympy writes sqrt(a) as Pow(a, 1/2): the parser maps half powers to it (no sympy_name)
    _function(SQRT, "sqrt", HALVED, latex=Notation("\\sqrt{{{0}}}", FUNC, (SUM,)),
              sympy_class=False),
    _function(LOG, "log", DIMENSIONLESS_ARG),
    _function(EXP, "exp", DIMENSIONLESS_ARG),
    # sympy writes 1/a as Pow(a, -1): the parser maps that power to it
    Op(INV, "inv", 1, False, NEGATED, _reciprocal, _reciprocal, _sympy_reciprocal,
       text=Notation("1/{0}", PRODUCT, (POWER,)),
       latex=Notation("\\frac{{1}}{{{0}}}", POWER, (SUM,))),
)

OPS: dict[int, Op] = {op.code: op for op in _DECLARED}
"""Every operation by code. Consumers read it at call time, so a test may register more."""


PAPER_OPS: tuple[str, ...] = ("add", "sub", "mul", "div", "sin", "cos", "square")
"""The default operator set, the paper's ``+ − × ÷ sin cos square``."""

OP_SET_SHORTHANDS = ("paper", "all")
"""Names that stand for several operations in :func:`op_set`: the paper's set, every one."""


def op_set(names: str | Sequence[str] | None = None) -> tuple[str, ...]:
    """The canonical form of an operator set: operation names ordered by code.

    Args:
        names: operation names (``["add", "sqrt"]``) or one comma-separated string
            (``"add,sub,sqrt"``); ``"paper"`` stands for :data:`PAPER_OPS` and ``"all"`` for
            every operation (``"paper,log"`` adds log to the paper's set). None: the paper's.

    Raises:
        ValueError: an unknown name or an empty set; the message lists the known names.
    """
    if names is None:
        return PAPER_OPS
    items = names.split(",") if isinstance(names, str) else list(names)
    known = {op.name: code for code, op in OPS.items()}
    codes: set[int] = set()
    for item in (str(n).strip() for n in items):
        if not item:
            continue
        if item == "paper":
            codes.update(known[n] for n in PAPER_OPS)
        elif item == "all":
            codes.update(OPS)
        elif item in known:
            codes.add(known[item])
        else:
            raise ValueError(f"ops: unknown operation {item!r}; the operations are "
                             f"{', '.join(known)} (or {' / '.join(OP_SET_SHORTHANDS)})")
    if not codes:
        raise ValueError(f"ops: no operation given in {names!r}; name at least one of "
                         f"{', '.join(known)}")
    return tuple(OPS[c].name for c in sorted(codes))


def op_set_label(names: Sequence[str]) -> str:
    """A short name of a canonical operator set for store keys: ``""`` for the paper's,
    ``"all"`` for every operation, else ``"paper_sqrt"`` (the paper's plus sqrt) or the
    names joined by ``_``."""
    names = tuple(names)
    if names == PAPER_OPS:
        return ""
    if names == tuple(OPS[c].name for c in sorted(OPS)):
        return "all"
    if set(PAPER_OPS) <= set(names):
        return "_".join(["paper"] + [n for n in names if n not in PAPER_OPS])
    return "_".join(names)


def by_name(name: str) -> Op:
    """The operation called ``name`` (``"add"``, ``"sin"``, …).

    Raises:
        KeyError: no such operation; the message lists the names.
    """
    for op in OPS.values():
        if op.name == name:
            return op
    raise KeyError(f"no operation named {name!r}; the operations are "
                   f"{[op.name for op in OPS.values()]}")


def name_of(code: int) -> str:
    """The name of a leaf or operation code."""
    return LEAF_NAMES[code] if code in LEAF_NAMES else OPS[code].name


def arity_of(code: int) -> int:
    """Number of children of a node with this code (0 for the leaves)."""
    return 0 if code in LEAF_NAMES else OPS[code].arity


def arities() -> list[int]:
    """Arity of every code, indexed by code (0 for leaves and unused codes)."""
    out = [0] * (max(OPS) + 1)
    for code, op in OPS.items():
        out[code] = op.arity
    return out


def with_arity(arity: int, names: Sequence[str] | None = None) -> list[Op]:
    """The operations of one arity, by code (the order the enumerator builds them in);
    only those named in ``names`` when given."""
    return [OPS[c] for c in sorted(OPS)
            if OPS[c].arity == arity and (names is None or OPS[c].name in names)]
