"""Accepted candidates merged into :class:`~dslsearch.law.Law` objects.

Two survivors are one law when their values on the training points, standardised, agree up
to sign (``1 - |corr| <= merge_tol``). The representative of a law is its simplest member
(fewest nodes, then fewest parameters, then shortest printed form, then lowest R_true).
Laws are ordered best first (lowest R_true).
"""

from __future__ import annotations

import numpy as np

from dslsearch.fitting.config import FitConfig
from dslsearch.fitting.filter import accepted
from dslsearch.fitting.merge import merge_groups
from dslsearch.fitting.rows import FitRows
from dslsearch.law import Law


def merge_laws(table, x: np.ndarray, fits: FitRows, config: FitConfig) -> list[Law]:
    """The laws of the accepted candidates of ``fits``.

    Args:
        table: the :class:`~dslsearch.enumerate.FormulaTable` the fits belong to.
        x: (N, d) training points, SI base units.
        fits: every candidate's fit results (candidate order).
        config: ``factor`` (acceptance) and ``merge_tol``.

    Returns:
        Laws, lowest R_true first (ties: smaller first).
    """
    acc = np.nonzero(accepted(fits.status, fits.R_true, fits.R_random, config.factor))[0]
    if acc.size == 0:
        return []
    members = [Law(table.formula(int(fits.node[i])),
                   fits.params[i, : table.formula(int(fits.node[i])).n_params],
                   table.variables, R_true=float(fits.R_true[i]),
                   R_random=float(fits.R_random[i]), node=int(fits.node[i])) for i in acc]
    values = np.asarray([member(x) for member in members])          # (n_acc, N)
    exprs = [str(member) for member in members]
    sizes = np.asarray([member.size for member in members])
    r_true = np.asarray([member.R_true for member in members])
    # simplest first: fewest nodes, fewest parameters, shortest printed form, then best R
    order = np.lexsort((r_true, [len(e) for e in exprs],
                        [member.n_params for member in members], sizes))
    laws = []
    for group in merge_groups(values, order, config.merge_tol):
        rep = members[group[0]]
        laws.append(Law(rep.formula, rep.params, rep.variables, R_true=rep.R_true,
                        R_random=rep.R_random, n_merged=len(group), node=rep.node,
                        variants=tuple(dict.fromkeys(exprs[j] for j in group))))
    laws.sort(key=lambda law: (law.R_true, law.size))
    return laws
