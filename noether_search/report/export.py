"""Export every candidate with its scores as CSV or JSON (a leaf module).

One row per candidate of the enumeration, not only the winners, so a user can see why a
formula won or lost. Candidates the fit stage has not scored have empty scores and status
``"not fitted"``.

Columns: ``index`` (position in ``candidates/d{N}``), ``formula`` (sympy syntax, parameters
``c0, c1, …``), ``fitted_formula`` (with the fitted values), ``size`` (nodes),
``parameters`` (``c0=2.999 [kg**2*m**4/s**2]; …``, unit in pint syntax; ``c0=? […]``
when not fitted), ``unit`` (of the formula), ``R_true``, ``R_random``, ``status`` (``ok``,
``trivial``, ``nonfinite``, ``not converged`` or ``not fitted``), ``passed_filter``
(random-sequence test; empty when not fitted), ``message``.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from noether_search.report.collect import NOT_FITTED, ReportData, candidate_law

COLUMNS = ("index", "formula", "fitted_formula", "size", "parameters", "unit", "R_true",
           "R_random", "status", "passed_filter", "message")
JSON_FORMAT = "noether-search-candidates"
JSON_VERSION = 1


def _finite(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def candidate_rows(data: ReportData) -> Iterator[dict]:
    """One dict per candidate (keys :data:`COLUMNS`; ``parameters`` as a list of
    ``{"name", "value", "unit"}``; missing numbers as None)."""
    from hamiltonian_data.units import format_dims_pint

    if data.candidate_expr is None:
        return
    fits = data.fits
    for i, expr in enumerate(data.candidate_expr):
        law = candidate_law(data, i)
        values = [float(v) if math.isfinite(v) else None for v in law.params]
        params = [{"name": c.name, "value": v, "unit": format_dims_pint(c.dims)}
                  for c, v in zip(law.constants, values)]
        fitted = None
        if fits is not None and fits.status[i] != NOT_FITTED and all(
                v is not None for v in values):
            fitted = _substitute(expr, values)
        yield {
            "index": i,
            "formula": expr,
            "fitted_formula": fitted,
            "size": int(data.candidate_size[i]),
            "parameters": params,
            "unit": format_dims_pint(law.dims),
            "R_true": None if fits is None else _finite(fits.R_true[i]),
            "R_random": None if fits is None else _finite(fits.R_random[i]),
            "status": NOT_FITTED if fits is None else fits.status[i],
            "passed_filter": (None if fits is None or fits.survivor is None
                              or fits.status[i] == NOT_FITTED else bool(fits.survivor[i])),
            "message": "the fit stage has not run" if fits is None else fits.message[i],
        }


_PARAM = re.compile(r"\bc(\d+)\b")


def _substitute(expr: str, values: list[float]) -> str:
    """``expr`` with each ``c{k}`` replaced by its value (no sympy: fast for many rows)."""
    def value(m: re.Match) -> str:
        v = values[int(m.group(1))]
        text = format(v, ".6g")
        return f"({text})" if v < 0 else text

    return _PARAM.sub(value, expr)


def _params_text(params: list[dict]) -> str:
    return "; ".join(f"{p['name']}={'?' if p['value'] is None else format(p['value'], '.6g')}"
                     f" [{p['unit']}]" for p in params)


def write_csv(data: ReportData, out: str | Path | IO[str]) -> int:
    """Write every candidate as CSV (header :data:`COLUMNS`); returns the number of rows."""
    def cell(key: str, value) -> str:
        if value is None:
            return ""
        if key == "parameters":
            return _params_text(value)
        if isinstance(value, float):
            return format(value, ".8g")
        return str(value).lower() if isinstance(value, bool) else str(value)

    def write(fh: IO[str]) -> int:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        n = 0
        for row in candidate_rows(data):
            writer.writerow([cell(k, row[k]) for k in COLUMNS])
            n += 1
        return n

    if hasattr(out, "write"):
        return write(out)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        return write(fh)


def to_json(data: ReportData) -> dict:
    """``{"format", "version", "store", "system", "depth", "variables", "fits",
    "candidates": [row, …]}`` (rows as :func:`candidate_rows`)."""
    return {"format": JSON_FORMAT, "version": JSON_VERSION, "store": str(data.root),
            "system": data.system, "depth": data.depth,
            "variables": [{"name": n, "unit": u} for n, u in data.variables],
            "fits": None if data.fits is None else data.fits.source,
            "candidates": list(candidate_rows(data))}


def write_json(data: ReportData, out: str | Path | IO[str]) -> int:
    """Write :func:`to_json` (NaN never appears: missing numbers are null); returns the
    number of candidates."""
    obj = to_json(data)
    if hasattr(out, "write"):
        json.dump(obj, out, indent=1, allow_nan=False)
        out.write("\n")
    else:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=1, allow_nan=False)
            fh.write("\n")
    return len(obj["candidates"])
