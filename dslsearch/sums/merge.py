"""One list of laws from both searches: a sum that equals an exhaustive law up to sign,
scale and offset is that law."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dslsearch.fitting.merge import merge_groups
from dslsearch.law import Law

BOTH = "exhaustive+sums"


def merge_searches(exhaustive: Sequence[Law], sums: Sequence[Law], x: np.ndarray,
                   tol: float = 1e-6) -> list[Law]:
    """The laws of both searches, those equal on the data merged.

    Two laws are one when their values on ``x`` agree up to sign, scale and offset
    (``1 - |corr| <= tol``, as the exhaustive search merges its own survivors). The
    representative is the simpler (fewest nodes, then fewest constants; on a tie the
    exhaustive law); a law found by both searches gets ``search="exhaustive+sums"`` and the
    other's printed form among its variants.

    Args:
        exhaustive: laws of the exhaustive search (already merged among themselves).
        sums: laws of the sum search.
        x: ``(N, d)`` training states, SI base units.
        tol: tolerance on ``1 - |correlation|``.

    Returns:
        Laws, lowest R_true first (ties: smaller first).
    """
    laws = list(exhaustive) + list(sums)
    if not sums:
        return list(exhaustive)
    values = np.asarray([np.where(np.isfinite(v), v, 0.0) for v in (law(x) for law in laws)])
    order = np.lexsort(([law.R_true for law in laws], [law.search != "exhaustive" for law in laws],
                        [law.n_params for law in laws], [law.size for law in laws]))
    out = []
    for group in merge_groups(values, order, tol):
        rep = laws[group[0]]
        members = [laws[i] for i in group]
        searches = {m.search for m in members}
        variants = [v for m in members for v in (m.variants or (str(m),))]
        out.append(Law(rep.formula, rep.params, rep.variables, R_true=rep.R_true,
                       R_random=rep.R_random, variants=tuple(dict.fromkeys(variants)),
                       n_merged=sum(m.n_merged for m in members), node=rep.node,
                       search=rep.search if len(searches) == 1 else BOTH))
    out.sort(key=lambda law: (law.R_true, law.size))
    return out
