"""Physical units: the one pint registry of the project and every dimension check.

Units are represented inside the formula language as *dimension vectors*: exponents over the
SI base dimensions in :data:`BASE_DIMENSIONS` (radians, like every angle, are dimensionless,
as in pint). Exponents are integers for inputs and for anything built from them by
``× ÷ square``; only the units solved for parameters can be fractional (``Fraction``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache



@lru_cache(maxsize=1)
def registry():
    """The single pint registry of the project (also ``units.ureg``), built on first use:
    importing pint and building it take about a second that a process which only computes
    with dimension vectors never pays. Nothing else builds a ``UnitRegistry``."""
    import pint

    return pint.UnitRegistry()


def __getattr__(name: str):
    if name == "ureg":
        return registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: Base dimensions, in the order of a dimension vector.
BASE_DIMENSIONS: tuple[str, ...] = (
    "[length]", "[mass]", "[time]", "[current]", "[temperature]", "[substance]", "[luminosity]",
)
#: SI symbol of each base dimension, used for printing.
BASE_SYMBOLS: tuple[str, ...] = ("m", "kg", "s", "A", "K", "mol", "cd")

Dims = tuple  # tuple[int | Fraction, ...] of len(BASE_DIMENSIONS)
DIMENSIONLESS: Dims = (0,) * len(BASE_DIMENSIONS)


class UnitError(ValueError):
    """A unit string cannot be parsed or is not a physical unit pint knows."""


@dataclass(frozen=True)
class Unit:
    """A parsed unit.

    Attributes:
        text: the unit as written by the user (``"kg*m**2/s"``; ``""`` = dimensionless).
        dims: dimension vector over :data:`BASE_DIMENSIONS`.
        to_base: factor that converts a magnitude in this unit to SI base units
            (1.0 for ``rad``, ``pi/180`` for ``deg``).
    """

    text: str
    dims: Dims
    to_base: float

    @property
    def pretty(self) -> str:
        return format_dims(self.dims)


@lru_cache(maxsize=256)
def parse_unit(text: str) -> Unit:
    """Parse a pint unit expression (``"kg*m**2/s"``, ``"rad"``, ``""`` for dimensionless).

    Raises:
        UnitError: with a message that names the text and says how to write it.
    """
    clean = text.strip()
    if clean in ("", "1", "dimensionless"):
        return Unit(clean, DIMENSIONLESS, 1.0)
    try:
        quantity = registry().Quantity(1.0, clean)
    except Exception as exc:  # pint raises several types for bad input
        detail = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, (AssertionError, SyntaxError)) or "Token" in type(exc).__name__:
            detail = ("malformed: an operator without a unit after it, or unbalanced "
                      "parentheses")
        raise UnitError(
            f"unit {text!r} is not a unit pint understands ({detail}); "
            "write it in pint syntax, e.g. 'kg*m**2/s', 'rad' or 'm/s**2'") from exc
    dimensionality = quantity.dimensionality
    unknown = [d for d in dimensionality if d not in BASE_DIMENSIONS]
    if unknown:
        raise UnitError(f"unit {text!r} has dimensions {unknown} outside the SI base dimensions")
    dims = tuple(_as_number(dimensionality.get(d, 0)) for d in BASE_DIMENSIONS)
    factor = float(quantity.to_base_units().magnitude)
    return Unit(clean, dims, factor)


def _as_number(x: float | int | Fraction) -> int | Fraction:
    frac = Fraction(x).limit_denominator(64)
    return int(frac) if frac.denominator == 1 else frac


def dims_add(a: Dims, b: Dims) -> Dims:
    """Dimension of a product."""
    return tuple(x + y for x, y in zip(a, b))


def dims_sub(a: Dims, b: Dims) -> Dims:
    """Dimension of a quotient."""
    return tuple(x - y for x, y in zip(a, b))


def dims_scale(a: Dims, k: int | Fraction) -> Dims:
    """Dimension of a power."""
    return tuple(_as_number(Fraction(x) * k) for x in a)


_SUPERSCRIPT = str.maketrans("0123456789-/", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻ᐟ")


def _power(symbol: str, exponent: int | Fraction) -> str:
    e = abs(Fraction(exponent))
    if e == 1:
        return symbol
    text = str(e.numerator) if e.denominator == 1 else f"{e.numerator}/{e.denominator}"
    return symbol + text.translate(_SUPERSCRIPT)


def format_dims(dims: Dims) -> str:
    """Pretty SI form of a dimension vector: ``(2, 2, -2, ...) -> "kg²·m²/s²"``; ``""`` if none.

    Mass is printed first, then length, then the rest, as physicists usually write it.
    """
    order = (1, 0, 2, 3, 4, 5, 6)
    num = [_power(BASE_SYMBOLS[i], dims[i]) for i in order if dims[i] > 0]
    den = [_power(BASE_SYMBOLS[i], dims[i]) for i in order if dims[i] < 0]
    if not num and not den:
        return ""
    top = "·".join(num) if num else "1"
    if not den:
        return top
    return f"{top}/{'·'.join(den)}" if len(den) == 1 else f"{top}/({'·'.join(den)})"


def format_dims_pint(dims: Dims) -> str:
    """Dimension vector in pint syntax (``"kg**2*m**4/s**2"``), parseable by :func:`parse_unit`."""
    parts = []
    order = (1, 0, 2, 3, 4, 5, 6)
    for i in order:
        e = dims[i]
        if e == 0:
            continue
        parts.append(BASE_SYMBOLS[i] if e == 1 else f"{BASE_SYMBOLS[i]}**({e})")
    return "*".join(parts)
