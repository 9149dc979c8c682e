"""Images of a found law's terms under the permutations of variables of one unit.

A system often treats some of its variables alike: Kepler's ``x`` and ``y`` (and ``px``,
``py``), the coupled oscillators' two masses. A law found for one of them then has a twin
for the other (Kepler's Runge–Lenz components ``A_x``, ``A_y``) that the beam by R may
never put together: on noisy points its terms' partial sums can rank far down, while a
polynomial stand-in of quieter terms ranks near the top. The twin's terms are the found
law's terms with the variables swapped, so they are handed to the later rounds as seeds
(:func:`dslsearch.sums.select.beam_search`), judged like every other set: a permutation
that is no symmetry of the data gives a sum that is not conserved, and it is not chosen.

Only the variables are permuted, never signs or scales, and only among variables of the
same unit (so the image of a term has the term's unit); a term's image is the library
term whose values on the fitting points equal the term's values on the permuted points,
up to sign (a sum absorbs the sign in its coefficient).
"""

from __future__ import annotations

import itertools

import numpy as np

#: most permutations tried (the first in lexicographic order of each unit's group)
MAX_PERMUTATIONS = 24
#: a term's image: |cosine| of the centred values above ``1 - MATCH``
MATCH = 1e-9


def unit_permutations(variables, limit: int = MAX_PERMUTATIONS) -> list[tuple[int, ...]]:
    """The permutations of ``variables`` (each with a ``unit``) that map every variable to
    one of the same unit, the identity left out; at most ``limit``.

    Returns:
        Each as ``perm`` with ``perm[i]`` the index of the variable that takes variable
        ``i``'s place (``x[:, perm]`` are the permuted points).
    """
    units = [str(getattr(v, "unit", "")) for v in variables]
    groups: dict[str, list[int]] = {}
    for i, u in enumerate(units):
        groups.setdefault(u, []).append(i)
    movable = [g for g in groups.values() if len(g) > 1]
    if not movable:
        return []
    out = []
    for choice in itertools.product(*(itertools.permutations(g) for g in movable)):
        perm = list(range(len(units)))
        for group, image in zip(movable, choice):
            for i, j in zip(group, image):
                perm[i] = j
        if perm != sorted(perm):
            out.append(tuple(perm))
        if len(out) >= limit:
            break
    return out


def _standardised(V: np.ndarray) -> np.ndarray:
    """``V (n, M)`` centred and scaled to unit norm per row (rows of zero spread: 0)."""
    V = V - V.mean(1, keepdims=True)
    norm = np.linalg.norm(V, axis=1, keepdims=True)
    return np.divide(V, norm, out=np.zeros_like(V), where=norm > 0)


def image_sets(lib, x_fit: np.ndarray, sets, perms) -> list[tuple[int, ...]]:
    """The term sets (sorted kept-term indices of ``lib``) that are images of ``sets``
    under ``perms`` (:func:`unit_permutations`), each set once and none among ``sets``.

    Args:
        lib: the :class:`~dslsearch.sums.library.TermLibrary` (its ``Z`` holds the kept
            terms' standardised values on ``x_fit``).
        x_fit: ``(M, d)`` the fitting points.
        sets: term sets of the laws found (kept-term indices).
        perms: the permutations of the ``d`` variables.

    A set with a term that has no image in the library (it was screened out or the
    permuted term is no candidate) has no image under that permutation.
    """
    sets = [tuple(sorted(int(t) for t in s)) for s in sets if len(s)]
    if not sets or not perms:
        return []
    terms = sorted({t for s in sets for t in s})
    formulas = [lib.formula(t) for t in terms]
    out: dict[tuple[int, ...], None] = {}
    for perm in perms:
        xp = np.asarray(x_fit, np.float64)[:, list(perm)]
        with np.errstate(all="ignore"):
            values = np.stack([f.evaluate(xp) for f in formulas])              # (k, M)
        if not np.isfinite(values).all():
            continue
        cos = np.abs(lib.Z @ _standardised(values).T)                          # (n, k)
        best = cos.argmax(0)
        image = {t: int(j) for t, j, c in zip(terms, best, cos[best, range(len(terms))])
                 if c > 1.0 - MATCH}
        for s in sets:
            if all(t in image for t in s):
                mapped = tuple(sorted({image[t] for t in s}))
                if len(mapped) == len(s) and mapped not in sets:
                    out[mapped] = None
    return list(out)
