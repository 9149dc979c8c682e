"""A conservation law: a formula of the language with fitted constants, over named, united
variables, with the scores that let it survive.

Every stage that hands a law on (fit, rank, report, export) passes a :class:`Law`; a law is
only ever printed for people, never printed and parsed again, except by :meth:`Law.parse`
for stores that hold a law only as text.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from dslsearch.acceptance import Evidence
from dslsearch.formula import INPUT, PARAM, Formula, FormulaError, format_param, from_sympy
from hamiltonian_data.units import Dims, format_dims, parse_unit


@dataclass(frozen=True)
class Constant:
    """One fitted constant of a law.

    Attributes:
        name: ``c0``, ``c1``, … in the formula's pre-order.
        value: the fitted value in SI base units of the data (NaN when not fitted).
        unit: its unit, pretty (``"kg²·m⁴/s²"``; ``""`` dimensionless).
        dims: its dimension vector (:mod:`hamiltonian_data.units`).
        low, high: bounds of its confidence interval (NaN when not computed;
            :mod:`dslsearch.uncertainty`).
    """

    name: str
    value: float
    unit: str
    dims: Dims
    low: float = math.nan
    high: float = math.nan

    def __str__(self) -> str:
        """``2.999 kg²·m⁴/s²``."""
        return format_param(self.value, self.dims)

    @property
    def half_width(self) -> float:
        """Half the interval's width (NaN without an interval)."""
        return (self.high - self.low) / 2

    def with_interval(self) -> str:
        """``2.45 ± 0.03 kg²·m⁴/s²`` (without an interval: as :meth:`__str__`)."""
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            return str(self)
        err = self.half_width
        digits = 3 if err <= 0 else max(2, 2 + int(math.floor(math.log10(abs(self.value) or 1)))
                                        - int(math.floor(math.log10(err))))
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.value:.{min(digits, 15)}g} ± {err:.2g}{unit}"

    def to_json(self) -> dict:
        """``{name, value, low, high, unit}`` (NaN as None)."""
        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        return {"name": self.name, "value": num(self.value), "low": num(self.low),
                "high": num(self.high), "unit": self.unit}


def _pairs(variables) -> tuple[tuple[str, str], ...]:
    """``((name, unit), ...)`` from Variables, pairs or a Dataset."""
    variables = getattr(variables, "variables", variables)
    out = []
    for v in variables:
        if hasattr(v, "name"):
            out.append((str(v.name), str(v.unit)))
        else:
            name, unit = v
            out.append((str(name), str(unit)))
    return tuple(out)


@dataclass(frozen=True, eq=False)
class Law:
    """A formula with fitted constants over the data's variables, and its scores.

    Attributes:
        formula: the :class:`~dslsearch.formula.Formula` tree (parameters in pre-order).
        params: ``(P,)`` fitted constants, SI base units of the data (NaN: not fitted).
        variables: ``((name, pint unit), ...)`` of the inputs, in column order.
        R_true, R_random: conservation loss on the true and on random sequences.
        variants: printed forms of the survivors merged into this law, representative first.
        n_merged: number of candidates merged into this law.
        node: candidate-table node id of the formula (-1 when not from a table).
        search: the search that found the law: ``"exhaustive"`` (every formula up to a
            size, :mod:`dslsearch.fitting`), ``"sums"`` (sums of terms,
            :mod:`dslsearch.sums`), or ``"exhaustive+sums"`` when both found it.
        evidence: what the law passed the acceptance test by
            (:class:`~dslsearch.acceptance.Evidence`), or None when unknown.
        intervals: ``((low, high), ...)`` confidence interval of each constant, or ``()``
            when not computed (:mod:`dslsearch.uncertainty`).
    """

    formula: Formula
    params: np.ndarray
    variables: tuple[tuple[str, str], ...]
    R_true: float = math.nan
    R_random: float = math.nan
    variants: tuple[str, ...] = ()
    n_merged: int = 1
    node: int = -1
    search: str = "exhaustive"
    evidence: Evidence | None = None
    intervals: tuple[tuple[float, float], ...] = ()
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        params = np.asarray(self.params, np.float64).reshape(-1)
        if params.size != self.formula.n_params:
            raise ValueError(f"params: the formula {self.formula.expr_str()} has "
                             f"{self.formula.n_params} parameters, got {params.size} values; "
                             "give one value per parameter in pre-order")
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "variables", _pairs(self.variables))
        object.__setattr__(self, "variants", tuple(self.variants))
        intervals = tuple((float(lo), float(hi)) for lo, hi in self.intervals)
        if intervals and len(intervals) != params.size:
            raise ValueError(f"intervals: {len(intervals)} given for {params.size} constants; "
                             "give one (low, high) per constant, or none")
        object.__setattr__(self, "intervals", intervals)

    # -- structure -----------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of nodes of the formula."""
        return self.formula.size

    @property
    def n_params(self) -> int:
        return self.formula.n_params

    @property
    def n_variants(self) -> int:
        """Distinct printed forms merged into this law (at least 1)."""
        return max(len(self.variants), 1)

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.variables]

    @cached_property
    def input_dims(self) -> list[Dims]:
        return [parse_unit(u).dims for _, u in self.variables]

    @cached_property
    def param_dims(self) -> list[Dims]:
        """Dimension vector of each constant (pre-order)."""
        return self.formula.param_units(self.input_dims)

    @cached_property
    def dims(self) -> Dims:
        """The law's own dimension vector."""
        return self.formula.unit_of(self.input_dims)

    @property
    def constants(self) -> list[Constant]:
        """The fitted constants with their units (and intervals when computed)."""
        bounds = self.intervals or [(math.nan, math.nan)] * len(self.params)
        return [Constant(f"c{k}", float(v), format_dims(d), d, lo, hi)
                for k, (v, d, (lo, hi)) in enumerate(zip(self.params, self.param_dims, bounds))]

    def with_evidence(self, evidence: Evidence | None) -> Law:
        """This law with ``evidence`` set."""
        return dataclasses.replace(self, evidence=evidence)

    def with_intervals(self, intervals) -> Law:
        """This law with the constants' intervals ``((low, high), ...)`` set."""
        return dataclasses.replace(self, intervals=tuple(intervals))

    # -- evaluation ----------------------------------------------------------------------
    def __call__(self, x):
        """The law's values on states ``x`` (N, d) (numpy array or torch tensor) -> (N,)."""
        if type(x).__module__.startswith("torch"):
            return self.torch_fn()(x)
        x = np.asarray(x, np.float64)
        with np.errstate(all="ignore"):
            out = self.formula.evaluate(x, self.params)
        return np.broadcast_to(np.asarray(out, np.float64), x.shape[:-1])

    def torch_fn(self) -> Callable:
        """Differentiable ``g(x: (B, d)) -> (B,)`` with the fitted constants."""
        return self.formula.torch_fn([float(p) for p in self.params])

    # -- printing ------------------------------------------------------------------------
    def _values(self, digits: int | None = None) -> list[float | None]:
        out: list[float | None] = []
        for v in self.params:
            if not math.isfinite(v):
                out.append(None)
            else:
                out.append(float(f"{v:.{digits}g}") if digits else float(v))
        return out

    def sympy(self, with_values: bool = True):
        """The sympy expression over the variable names; constants as numbers (or ``c0, c1,
        …`` without ``with_values``, and wherever a constant is not fitted)."""
        return self.formula.to_sympy(self.names, self._values() if with_values else None)

    def latex(self, with_values: bool = True, digits: int | None = None) -> str:
        """LaTeX of the law; constants as numbers (rounded to ``digits`` significant digits
        when given) or, without ``with_values``, as ``c_0, c_1, …``."""
        return self.formula.latex(self.names, self._values(digits) if with_values else None)

    def __str__(self) -> str:
        """Sympy syntax with the fitted numbers: ``p**2 - 2.999*cos(q)``."""
        if "str" not in self._cache:
            self._cache["str"] = self.formula.expr_str(self.names, self._values())
        return self._cache["str"]

    def __repr__(self) -> str:
        return f"Law({self})"

    def pretty(self) -> str:
        """``p**2 - c0*cos(q)  (c0 = 3 kg²·m⁴/s²)``: the law with its constants and units."""
        if not self.n_params:
            return str(self)
        consts = ", ".join(f"{c.name} = {c}" for c in self.constants)
        return f"{self.formula.expr_str(self.names)}  ({consts})"

    # -- conversions ---------------------------------------------------------------------
    def to_json(self) -> dict:
        """Plain JSON: the printed form, the formula tree, constants (``params``, and
        ``constants``: ``[{name, value, low, high, unit}]``), scores and ``evidence`` (NaN
        as None)."""
        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        return {"formula": str(self), "tree": tree_to_json(self.formula),
                "params": [num(v) for v in self.params], "R_true": num(self.R_true),
                "R_random": num(self.R_random), "variants": list(self.variants),
                "n_merged": self.n_merged, "node": self.node, "search": self.search,
                "constants": [c.to_json() for c in self.constants],
                "evidence": self.evidence.to_json() if self.evidence is not None else None}

    @classmethod
    def from_json(cls, obj: dict, variables) -> Law:
        """Inverse of :meth:`to_json` (``variables`` as :attr:`variables`, Variables or a
        Dataset). Without ``tree`` the ``formula`` text is parsed (:meth:`parse`)."""
        def num(name: str) -> float:
            v = obj.get(name)
            return math.nan if v is None else float(v)

        scores = dict(R_true=num("R_true"), R_random=num("R_random"),
                      variants=tuple(obj.get("variants") or ()),
                      n_merged=int(obj.get("n_merged") or 1), node=int(obj.get("node", -1)),
                      search=str(obj.get("search") or "exhaustive"),
                      evidence=(Evidence.from_json(obj["evidence"]) if obj.get("evidence")
                                else None))
        bounds = [(math.nan if c.get("low") is None else float(c["low"]),
                   math.nan if c.get("high") is None else float(c["high"]))
                  for c in obj.get("constants") or ()]
        if any(math.isfinite(lo) or math.isfinite(hi) for lo, hi in bounds):
            scores["intervals"] = tuple(bounds)
        if obj.get("tree") is None:
            return cls.parse(str(obj["formula"]), variables, **scores)
        params = [math.nan if v is None else float(v) for v in obj.get("params") or []]
        return cls(tree_from_json(obj["tree"]), np.asarray(params, np.float64), variables,
                   **scores)

    @classmethod
    def parse(cls, text: str, variables, **scores) -> Law:
        """A law from sympy text (``"p**2 - 2.999*cos(q)"``; ``c0, c1, …`` are unfitted
        constants), for stores that hold a law only as a string.

        Raises:
            FormulaError: the text is not in the formula language or not unit-valid; the
                message names the problem.
        """
        pairs = _pairs(variables)
        formula, values = from_sympy(text, [n for n, _ in pairs])
        try:
            formula.unit_state([parse_unit(u).dims for _, u in pairs])
        except FormulaError as exc:
            raise FormulaError(f"law {text!r} over {list(pairs)}: {exc}; only unit-valid "
                               "formulas are laws") from None
        params = np.asarray([math.nan if v is None else v for v in values], np.float64)
        return cls(formula, params, pairs, **scores)


def tree_to_json(formula: Formula) -> list:
    """A formula as nested lists of op codes: ``[0, index]`` for an input, ``[1]`` for a
    parameter, ``[op, child, ...]`` otherwise (op codes are those of the store)."""
    if formula.op == INPUT:
        return [INPUT, formula.index]
    if formula.op == PARAM:
        return [PARAM]
    return [formula.op, *(tree_to_json(a) for a in formula.args)]


def tree_from_json(obj: Sequence) -> Formula:
    """Inverse of :func:`tree_to_json`.

    Raises:
        FormulaError: not a tree of known op codes.
    """
    try:
        op = int(obj[0])
        if op == INPUT:
            return Formula(INPUT, (), int(obj[1]))
        if op == PARAM:
            return Formula(PARAM)
        return Formula(op, tuple(tree_from_json(a) for a in obj[1:]))
    except (TypeError, ValueError, IndexError) as exc:
        raise FormulaError(f"tree: expected nested lists [op, child, ...], got {obj!r}") from exc
