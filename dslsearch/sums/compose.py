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

from dslsearch.formula import ADD, MUL, PARAM, Formula, add, mul, param
from dslsearch.law import Law


LEAD_SHARE = 0.1
"""The leading term carries at least this share of the largest standardised coefficient."""

NEGLIGIBLE = 1e-6
"""A term whose standardised coefficient (coefficient times the term's spread) is below
this share of the largest adds nothing the data can see: :func:`relead` leaves it out."""


def lead_term(terms: Sequence[Formula], weights: np.ndarray) -> int:
    """Index of the leading term: the simplest with ``|w| >= max|w| / 10``, then the
    largest ``|w|`` (``weights``: standardised coefficients, ``(k,)``)."""
    w = np.abs(np.asarray(weights, np.float64))
    big = [i for i in range(len(terms)) if w[i] >= LEAD_SHARE * w.max()]
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


def split_sum(formula: Formula) -> tuple[Formula, list[Formula]] | None:
    """``(lead, terms)`` of a formula of the form :func:`sum_formula` builds (``lead +
    c_1 term_1 + …``, ``terms`` in parameter pre-order), or None for any other formula.

    The sum's own additions are the ``+`` nodes that hold a parameter; a term never does
    (``px² + py²`` is one term)."""
    if formula.n_params == 0:
        return None
    summands: list[Formula] = []

    def walk(node: Formula) -> None:
        if node.op == ADD and node.n_params:
            for a in node.args:
                walk(a)
        else:
            summands.append(node)

    walk(formula)
    leads = [s for s in summands if s.n_params == 0]
    scaled = [s for s in summands if s.n_params]
    if len(leads) != 1 or any(s.op != MUL or s.n_params != 1
                              or not any(a.op == PARAM for a in s.args) for s in scaled):
        return None
    terms = _param_terms(formula)
    if len(terms) != formula.n_params or len(set(terms) | {leads[0]}) != len(terms) + 1:
        return None
    return leads[0], terms


def relead(formula: Formula, params: np.ndarray, x: np.ndarray
           ) -> tuple[Formula, np.ndarray] | None:
    """The same sum led by the term :func:`lead_term` picks at these constants where the
    leading term's share fell below a tenth of the largest (the rule that chose it), or
    without its negligible terms; None where it stays as it is (or ``formula`` is not such
    a sum, or a term is not finite on ``x``).

    A refit of the constants (:func:`dslsearch.uncertainty.refit`) keeps the leading
    term's coefficient at 1; where the fit wants that term gone, the other constants grow
    without bound (``2·10¹⁴ px·py·y + … + x``). Led by a term the sum needs, the same law
    has finite constants again. A term whose standardised coefficient is below
    :data:`NEGLIGIBLE` of the largest is left out: the refit took it away.

    Args:
        formula: a sum as :func:`sum_formula` builds it; params: its ``(P,)`` constants.
        x: ``(N, d)`` points whose spread of each term standardises the coefficients.

    Returns:
        ``(formula, params (P',))``: the new sum and its constants, the law's values
        divided by the new leading term's coefficient; None where a single term would be
        left.
    """
    split = split_sum(formula)
    params = np.asarray(params, np.float64)
    if split is None or not np.isfinite(params).all():
        return None
    lead, others = split
    terms = [lead, *others]
    coefficients = np.concatenate([[1.0], params])
    with np.errstate(all="ignore"):
        values = np.stack([np.broadcast_to(np.asarray(t.evaluate(x), np.float64),
                                           x.shape[:1]) for t in terms])
    if not np.isfinite(values).all():
        return None
    weights = np.abs(coefficients * np.std(values, axis=1))
    keep = [i for i in range(len(terms)) if weights[i] >= NEGLIGIBLE * weights.max()]
    leads = weights[0] >= LEAD_SHARE * weights.max()
    if len(keep) < 2 or (len(keep) == len(terms) and leads):
        return None                          # the lead carries a sizeable share: as it is
    new = 0 if leads else keep[lead_term([terms[i] for i in keep], weights[keep])]
    kept = [terms[i] for i in keep]
    f = sum_formula(kept, keep.index(new))
    by_term = {terms[i]: coefficients[i] / coefficients[new] for i in keep}
    return f, np.asarray([by_term[t] for t in _param_terms(f)], np.float64)
