"""Held-out choice of each size's sum on noisy data.

The beam search ranks term sets by R on the fitting points (every ``fit_stride``-th
training point), with coefficients fitted on those same points. On noisy data many sets of
one size are conserved to the noise, and their R differ by a few percent: a set of
complex terms that approximates a law's shape fits the fitting points' noise more than the
law's own terms do, and so ranks first by R there while it is less conserved on the other
points (Lotka–Volterra at σ = 0.05, seed 0: the law's three terms have R 0.0238 on the
fitting points against 0.0215 for a stand-in, and 0.0250 against 0.0265 on all points).

:func:`held_out_choice` scores every set of a level by its R on the *held-out* points (the
training points that are not fitting points, whose noise the coefficients never saw), the
coefficients fitted on the fitting points, and returns the best. White measurement noise
is independent from sample to sample, so the held-out R is an honest estimate of how
conserved the fitted sum is, with no premium for fitting the noise.
"""

from __future__ import annotations

import math

import numpy as np

from dslsearch.fitting.objective import Segments, centred, r_score, within
from dslsearch.fitting.optimise import solve_scatter


class TermValues:
    """Values of library terms on all training points, computed once per term.

    ``values(t)``: ``(N,)`` term ``t`` (index into ``lib.kept``) on the points ``x (N, d)``,
    its part along the found laws removed (``found (m, N)``, as the final fit does:
    :func:`dslsearch.sums.run.complement`), scaled to unit norm; None where not finite.
    """

    def __init__(self, lib, x: np.ndarray, found: np.ndarray | None):
        from dslsearch.sums.run import complement

        self.lib, self.x, self._cache = lib, x, {}
        self._complement = (lambda F: complement(F, found))

    def values(self, t: int) -> np.ndarray | None:
        if t not in self._cache:
            with np.errstate(all="ignore"):
                f = np.broadcast_to(self.lib.formula(t).evaluate(self.x),
                                    self.x.shape[:1]).astype(np.float64)
                v = self._complement(f[None])[0] if np.isfinite(f).all() else None
                norm = float(np.sqrt(v @ v)) if v is not None else 0.0
            self._cache[t] = v / norm if v is not None and norm > 0 else None
        return self._cache[t]


def held_out_r(F: np.ndarray, fit: np.ndarray, seg_fit: Segments,
               seg_out: Segments) -> float:
    """R on the held-out points of the sum of ``F (k, N)``'s rows whose coefficients
    minimise R on the fitting points.

    Args:
        F: ``(k, N)`` the terms' values on all training points.
        fit: ``(N,)`` bool, the fitting points (their trajectories: ``seg_fit``).
        seg_out: trajectories of the other points (``~fit``).

    Returns:
        R of the fitted sum on the held-out points (NaN where undefined).
    """
    Ff = centred(F[:, fit])
    Fw = within(Ff, seg_fit)
    _, V = solve_scatter((Ff @ Ff.T)[None], [(Fw @ Fw.T)[None]])
    v = V[0, 0]
    if not np.isfinite(v).all():
        return math.nan
    return float(r_score(v @ F[:, ~fit], seg_out))


def held_out_choice(level, keep: np.ndarray, sizes: np.ndarray, values: TermValues,
                    fit: np.ndarray, seg_fit: Segments, seg_out: Segments, sd: float):
    """``(set, R_held_out)``: the set of ``level`` (term sets of one size, indices into
    ``keep``, itself indices into the library's kept terms of ``sizes`` nodes) with the
    fewest nodes among those whose :func:`held_out_r` is within ``sd`` standard errors of
    the lowest, then the lowest held-out R; ``level[0]`` with NaN when no set can be
    scored (a term not finite on some training point).

    The standard error is that of a sum of squares of independent Gaussian residuals
    relative to its value, ``sqrt(2 / dof)`` with ``dof`` the held-out points less their
    trajectories: sets within it are equally conserved as far as the noise can tell, and
    the simplest is the one a law of the language would be (an approximation of a law's
    shape takes more, or larger, terms)."""
    scored = []
    for ts in level:
        rows = [values.values(int(keep[t])) for t in ts.terms]
        if any(r is None for r in rows):
            continue
        r = held_out_r(np.stack(rows), fit, seg_fit, seg_out)
        if math.isfinite(r):
            scored.append((r, int(sum(sizes[keep[t]] for t in ts.terms)), ts))
    if not scored:
        return level[0], math.nan
    dof = max(int((~fit).sum()) - seg_out.counts.size, 1)
    limit = min(r for r, _, _ in scored) * (1 + sd * math.sqrt(2 / dof))
    r, _, ts = min((s for s in scored if s[0] <= limit), key=lambda s: (s[1], s[0]))
    return ts, r
