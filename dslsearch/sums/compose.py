"""A sum of terms with fitted coefficients as a :class:`~dslsearch.law.Law`.

The law is ``phi_lead + c_1 phi_1 + … + c_m phi_m``: the leading term's coefficient is 1,
so the law carries the leading term's unit and each constant ``c_i`` the unit
``unit(phi_lead) / unit(phi_i)`` (solved by :meth:`~dslsearch.formula.Formula.param_units`,
as for any parameter of the language). The leading term is the simplest of those that
carry a sizeable part of the sum (at least a tenth of the largest standardised coefficient).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dslsearch.formula import MUL, PARAM, Formula, add, mul, param
from dslsearch.law import Law


def lead_term(terms: Sequence[Formula], weights: np.ndarray) -> int:
    """Index of the leading term: the simplest with ``|w| >= max|w| / 10``, then the
    largest ``|w|`` (``weights``: standardised coefficients, ``(k,)``)."""
    w = np.abs(np.asarray(weights, np.float64))
    big = [i for i in range(len(terms)) if w[i] >= 0.1 * w.max()]
    return min(big, key=lambda i: (terms[i].size, -w[i], i))


def sum_formula(terms: Sequence[Formula], lead: int) -> Formula:
    """``terms[lead] + c*terms[i] + …`` over the other terms, in the given order."""
    f = terms[lead]
    for i, term in enumerate(terms):
        if i != lead:
            f = add(f, mul(param, term))
    return f


def _param_terms(formula: Formula) -> list[Formula]:
    """The term multiplied by each parameter, in parameter pre-order."""
    out: list[Formula] = []

    def walk(node: Formula) -> None:
        if node.op == MUL and any(a.op == PARAM for a in node.args):
            out.append(next(a for a in node.args if a.op != PARAM))
            return
        for a in node.args:
            walk(a)

    walk(formula)
    return out


def sum_law(terms: Sequence[Formula], coefficients: np.ndarray, weights: np.ndarray,
            variables, **scores) -> Law:
    """The law ``sum_i coefficients[i] * terms[i]``, scaled so its leading term has 1.

    Args:
        terms: distinct parameter-free formulas, ``k`` of them.
        coefficients: ``(k,)`` coefficients of the terms in SI base units of the data.
        weights: ``(k,)`` the same on standardised terms (picks the leading term).
        variables: the law's variables (as :class:`~dslsearch.law.Law`).
        scores: further :class:`~dslsearch.law.Law` fields (``R_true``, …).
    """
    lead = lead_term(terms, weights)
    formula = sum_formula(terms, lead)
    by_term = {term: float(c) / float(coefficients[lead])
               for term, c in zip(terms, coefficients)}
    params = np.asarray([by_term[t] for t in _param_terms(formula)], np.float64)
    return Law(formula, params, variables, search="sums", **scores)
