"""Held-out choice of each size's sum on noisy data.

The beam search ranks term sets by R on the fitting points (every ``fit_stride``-th
training point), with coefficients fitted on those same points. On noisy data many sets of
one size are conserved to the noise, and their R differ by a few percent: a set of
complex terms that approximates a law's shape fits the fitting points' noise more than the
law's own terms do, and so ranks first by R there while it is less conserved on the other
points (Lotka–Volterra at σ = 0.05, seed 0: the law's three terms have R 0.0238 on the
fitting points against 0.0215 for a stand-in, and 0.0250 against 0.0265 on all points).

:func:`held_out_choice` scores every set of a level on the *held-out* points (the training
points that are not fitting points, whose noise the coefficients never saw), the
coefficients fitted on the fitting points: its R there (white measurement noise is
independent from sample to sample, so this R has no premium for fitting the noise) and
its noise ratio there (the observed scatter over what the measurement noise predicts for
the sum, as in the calibrated test). Among the sets whose held-out R is within the noise
of the lowest it returns the one with the lowest noise ratio: a stand-in of smooth terms
can carry less noise than the law and so have a lower R (Lotka–Volterra at σ = 0.1,
seed 0: held-out R 0.102 and noise ratio 1.16 for a stand-in, 0.112 and 1.02 for the
law's terms), not a lower noise ratio.
"""

from __future__ import annotations

import math

import numpy as np

from dslsearch.fitting.objective import Segments, centred, r_score, within
from dslsearch.fitting.optimise import solve_scatter


#: draws of the measurement noise that estimate each term's noise
NOISE_PAIRS = 4
#: the draws are scaled by this for a central difference (the first-order propagation of
#: the noise, finite where a whole draw would leave a term's domain: ``log x`` near 0)
STEP = 1e-3


class TermValues:
    """Values of library terms on all training points, and their measurement noise,
    computed once per term.

    ``values(t)``: ``(N,)`` term ``t`` (index into ``lib.kept``) on the points ``x (N, d)``,
    its part along the found laws removed (``found (m, N)``, as the final fit does:
    :func:`dslsearch.sums.run.complement`), scaled to unit norm; None where not finite.
    ``noise(t)``: ``(NOISE_PAIRS, N)`` the term's first-order change under the measurement
    noise, ``(phi(x + h e) − phi(x − h e)) / 2h`` (``h`` = :data:`STEP`) for fixed draws
    ``e ~ N(0, diag(sigma²))`` shared by all terms (``sigma (d,)``), on the same scale (the part along the found laws is not
    removed: their own noise is not known here); None without ``sigma`` or where not
    finite. Its square, averaged over the draws, estimates the term's noise variance at
    each point to first order, and the draws shared by all terms give a sum's.
    """

    def __init__(self, lib, x: np.ndarray, found: np.ndarray | None,
                 sigma: np.ndarray | None = None, seed: int = 0):
        from dslsearch.sums.run import complement

        self.lib, self.x, self._cache, self._noise = lib, x, {}, {}
        self._complement = (lambda F: complement(F, found))
        rng = np.random.default_rng(seed)
        self._draws = None if sigma is None else [
            rng.standard_normal(x.shape) * np.asarray(sigma, np.float64)
            for _ in range(NOISE_PAIRS)]

    def _eval(self, t: int, x: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.lib.formula(t).evaluate(x), x.shape[:1]).astype(np.float64)

    def values(self, t: int) -> np.ndarray | None:
        if t not in self._cache:
            with np.errstate(all="ignore"):
                f = self._eval(t, self.x)
                v = self._complement(f[None])[0] if np.isfinite(f).all() else None
                norm = float(np.sqrt(v @ v)) if v is not None else 0.0
            self._cache[t] = (v / norm, norm) if v is not None and norm > 0 else None
        got = self._cache[t]
        return None if got is None else got[0]

    def noise(self, t: int) -> np.ndarray | None:
        if self._draws is None or self.values(t) is None:
            return None
        if t not in self._noise:
            with np.errstate(all="ignore"):
                D = np.stack([(self._eval(t, self.x + STEP * e) - self._eval(t, self.x - STEP * e))
                              / (2 * STEP) for e in self._draws]) / self._cache[t][1]
            self._noise[t] = D if np.isfinite(D).all() else None
        return self._noise[t]


def held_out_scores(F: np.ndarray, D: np.ndarray | None, fit: np.ndarray,
                    seg_fit: Segments, labels_out: np.ndarray) -> tuple[float, float]:
    """``(R, noise ratio)`` of :func:`held_out_evidence`."""
    return held_out_evidence(F, D, fit, seg_fit, labels_out)[:2]


def held_out_evidence(F: np.ndarray, D: np.ndarray | None, fit: np.ndarray,
                      seg_fit: Segments, labels_out: np.ndarray
                      ) -> tuple[float, float, float]:
    """``(R, noise ratio, noise points)`` on the held-out points of the sum of ``F (k,
    N)``'s rows whose coefficients minimise R on the fitting points.

    Args:
        F: ``(k, N)`` the terms' values on all training points.
        D: ``(k, P, N)`` the terms' changes under ``P`` draws of the measurement noise
            (:meth:`TermValues.noise`), or None (noise ratio NaN).
        fit: ``(N,)`` bool, the fitting points (their trajectories: ``seg_fit``).
        labels_out: ``(N_out,)`` trajectory of each held-out point (``~fit``), ``0..K-1``.

    Returns:
        R of the fitted sum on the held-out points, and its noise ratio there (the
        calibrated test's, :func:`dslsearch.acceptance.evidence`: the observed
        within-trajectory sum of squares over the noise's prediction, robust to a few
        points of huge predicted noise); NaN where undefined; and the effective number
        of held-out points its predicted noise is spread over
        (:func:`dslsearch.acceptance.effective_points`; NaN without a noise ratio).
    """
    r, nr, pts, _ = _held_out(F, D, fit, seg_fit, labels_out)
    return r, nr, pts


def _held_out(F: np.ndarray, D: np.ndarray | None, fit: np.ndarray, seg_fit: Segments,
              labels_out: np.ndarray, corrected: bool = False):
    """:func:`held_out_evidence`'s three numbers and ``noise``: None (no noise ratio), or
    ``(pred (N_out,), draws (P, N_out))``, the predicted noise variance at each held-out
    point and the sum's first-order changes under the shared draws, scaled like ``pred``
    (``pred`` is their mean square, floored), for :func:`paired_se`. With ``corrected``
    (and ``D``) the coefficients are also fitted noise-corrected on the fitting points
    (:func:`dslsearch.sums.eiv.corrected_fit`, the noise's scatter from ``D``'s draws),
    and the fit of the two whose held-out noise ratio is nearer 1 is scored: a law's
    residual is the noise, and a ratio below 1 is the noise overestimated, not a better
    fit (a corrected fit can lean on the terms whose noise is overestimated)."""
    Ff = centred(F[:, fit])
    Fw = within(Ff, seg_fit)
    T, W = Ff @ Ff.T, Fw @ Fw.T
    _, V = solve_scatter(T[None], [W[None]])
    v = V[0, 0]
    if not np.isfinite(v).all():
        return math.nan, math.nan, math.nan, None
    out = _held_out_scored(v, F, D, fit, labels_out)
    if corrected and D is not None:
        from dslsearch.sums.eiv import corrected_fit

        Dc = centred(D[:, :, fit]).transpose(1, 0, 2)                       # (P, k, M)
        Dw = within(Dc, seg_fit)
        S_T = np.einsum("pkm,pjm->kj", Dc, Dc) / Dc.shape[0]
        S_W = np.einsum("pkm,pjm->kj", Dw, Dw) / Dw.shape[0]
        got = corrected_fit(T, W, S_T, S_W)
        if got is not None and np.isfinite(got[1]).all():
            other = _held_out_scored(got[1], F, D, fit, labels_out)
            if abs(other[1] - 1.0) < abs(out[1] - 1.0):
                out = other
    return out


def _held_out_scored(v: np.ndarray, F: np.ndarray, D: np.ndarray | None, fit: np.ndarray,
                     labels_out: np.ndarray):
    """:func:`_held_out` of the sum with coefficients ``v (k,)``."""
    from dslsearch.acceptance import FLOOR_REL, _f_median, _noise_ratio, effective_points

    g = v @ F[:, ~fit]
    K = int(labels_out.max()) + 1
    counts = np.bincount(labels_out, minlength=K).astype(np.float64)
    centred_g = g - g.mean()
    resid = centred_g - (np.bincount(labels_out, centred_g, K) / counts)[labels_out]
    T, W = float(centred_g @ centred_g), float(resid @ resid)
    if not T > 0:
        return math.nan, math.nan, math.nan, None
    if D is None:
        return W / T, math.nan, math.nan, None
    raw = np.einsum("k,kpn->pn", v, D[:, :, ~fit])
    pred = np.maximum((1 - 1 / counts[labels_out]) * np.mean(raw ** 2, axis=0),
                      FLOOR_REL * T / g.size)
    draws = raw * np.sqrt(1 - 1 / counts[labels_out])
    return (W / T, _noise_ratio(W, resid, pred, _f_median(D.shape[1])),
            effective_points(pred), (pred, draws))


def paired_se(a, b) -> float:
    """Relative standard error of the difference of two noise ratios measured on the same
    held-out points under the same measurement noise (``a``, ``b``: the ``noise`` of
    :func:`_held_out`), were both sums conserved: ``W / sum(pred)`` is a sum of
    ``pred_n χ²_1 / sum(pred)``, and the two residuals at a point share the noise, with
    covariance ``c_n`` (from the shared draws: ``mean_p(e_a e_b)``, at most
    ``sqrt(pred_a pred_b)``), so ``Var(ratio_a − ratio_b) = 2 Σ pred_a² / S_a² +
    2 Σ pred_b² / S_b² − 4 Σ c_n² / (S_a S_b)``. Where both sums' noise comes from the
    same terms at the same few points (Lotka–Volterra's ``log x``, ``log y`` where ``x``
    or ``y`` is small) each ratio alone rests on few points, their difference on many."""
    (pa, ea), (pb, eb) = a, b
    P = ea.shape[0]
    Sa, Sb = float(pa.sum()), float(pb.sum())
    c = np.clip(np.mean(ea * eb, axis=0), -np.sqrt(pa * pb), np.sqrt(pa * pb))
    # squares of estimates from P draws, made unbiased for Gaussian draws:
    # E[pred²] = σ⁴ (1 + 2/P), E[c²] − E[pred_a pred_b]/P = cov² (1 + 1/P − 2/P²)
    # (so two sums with the same noise give 0, two with independent noise
    # 2/n_a + 2/n_b in the effective points of :func:`effective_points`)
    sq = (float(pa @ pa) / Sa ** 2 + float(pb @ pb) / Sb ** 2) / (1 + 2 / P)
    cov = float(c @ c - (pa @ pb) / P) / (1 + 1 / P - 2 / P ** 2) / (Sa * Sb)
    return math.sqrt(max(2 * sq - 4 * cov, 0.0))


def se_band(sd: float, dof: int) -> float:
    """``1 + sd · sqrt(2 / dof)``: how far above the lowest a ratio of sums of squares
    (``dof`` degrees of freedom, Gaussian residuals) lies within ``sd`` standard errors."""
    return 1 + sd * math.sqrt(2 / max(dof, 1))


def _low_quantile(sd: float, dof: int) -> float:
    """The ``Φ(−sd)`` quantile of ``χ²_dof / dof``: a ratio of sums of squares whose
    expectation is 1 falls below it with the probability of a normal variable ``sd``
    standard deviations below its mean (``1 − sd · sqrt(2 / dof)`` for many degrees of
    freedom; above 0 for few, where that approximation is not)."""
    from scipy.special import chdtri, ndtr

    dof = max(int(dof), 1)
    return float(chdtri(dof, 1.0 - float(ndtr(-sd)))) / dof


def below_noise(ratio: float, points: float, sd: float, dof: int, n: int) -> bool:
    """True when a noise ratio is below 1 beyond ``sd`` standard errors: below the
    ``Φ(−sd)`` quantile of ``χ²_dof_i / dof_i`` (:func:`_low_quantile`), ``dof_i`` the
    ``dof`` times the share of the ``n`` points that carry its predicted noise
    (``points``; NaN: all), as in :func:`noise_limit`. Such a point scatters less than
    the noise predicts: no evidence of a better law, but of a prediction that does not
    hold for it. A ratio resting on a few points is judged by the chi-square law of few
    degrees of freedom: 0.0125 on 3 points (a tiny multiple of ``1/sin(x⁸)``, its
    predicted noise at the poles) is below the noise; 1 − sd·sqrt(2/dof) would call no
    ratio on fewer than 9 degrees of freedom so."""
    share = min(1.0, points / n) if math.isfinite(points) and n > 0 else 1.0
    return ratio < _low_quantile(sd, int(dof * share))


def noise_limit(ratios, points, sd: float, dof: int, n: int) -> float:
    """The largest noise ratio within ``sd`` standard errors of the lowest, each ratio's
    standard error from the points its predicted noise is spread over.

    ``ratios``, ``points``: the noise ratio of each candidate and the effective number of
    its ``n`` points that carry its predicted noise
    (:func:`dslsearch.acceptance.effective_points`; NaN: all ``n``); ``dof``: the points
    less their trajectories. A ratio ``W / sum(pred)`` is a weighted sum of squares; where
    a few points carry the prediction (a term with a pole inside the data:
    ``0.00055/cos(p1/p2)`` near ``p2 = 0``) it rests on those few, and a low ratio there
    is not evidence of a better law. Returns ``min_i ratio_i · se_band(sd, dof_i)``,
    ``dof_i = dof · min(1, points_i / n)``: the lowest upper bound, so a ratio resting on
    few points does not set the band below the ratios of the others."""
    limits = []
    for ratio, pts in zip(ratios, points):
        share = min(1.0, pts / n) if math.isfinite(pts) and n > 0 else 1.0
        limits.append(ratio * se_band(sd, max(int(dof * share), 1)))
    return min(limits)


def held_out_choice(level, keep: np.ndarray, sizes: np.ndarray, values: TermValues,
                    fit: np.ndarray, seg_fit: Segments, labels_out: np.ndarray, sd: float,
                    by_noise: float = 0.0, paired: bool = False, below: bool = False,
                    at_noise: bool = False, corrected: bool = False, memo: dict | None = None):
    """``(set, R_held_out)``: the set of ``level`` (term sets of one size, indices into
    ``keep``, itself indices into the library's kept terms of ``sizes`` nodes) that is
    conserved on the held-out points and whose residual there the noise explains best;
    ``level[0]`` with NaN when no set can be scored (a term not finite on some training
    point).

    Each set is scored by :func:`held_out_scores`. The sets whose held-out R is within
    ``sd`` standard errors of the lowest are kept (the standard error of a sum of squares
    of independent Gaussian residuals relative to its value, ``sqrt(2 / dof)``, ``dof``
    the held-out points less their trajectories: these sets are equally conserved as far
    as R can tell), and of those the set with the lowest noise ratio is chosen (then the
    fewest nodes, then the lowest R; a set without a noise ratio comes last). An
    approximation of a law's shape can have a lower R than the law by carrying less
    noise (smoother terms), not a lower noise ratio: what it leaves is its systematic
    error on top of its noise.

    With ``by_noise`` > 0 the band is on the noise ratio instead: of the sets whose
    held-out R is at most ``by_noise`` times the lowest, those whose noise ratio is within
    ``sd`` standard errors of the lowest noise ratio are kept (each ratio's standard error
    from the points that carry its predicted noise, :func:`noise_limit`), and
    the set of fewest nodes among them is chosen (then the lowest noise ratio, then R;
    the band on R when none of them has a noise ratio):
    terms that amplify the noise more (``L2²``, ``log x``) raise a law's R, not its noise
    ratio, so a band on R can leave the law out while it admits stand-ins of quieter
    terms (the rigid body at σ = 0.05). With ``paired`` a set is also left out when another
    set of the capped ones has a noise ratio lower by more than ``sd`` standard errors of
    their *difference* (:func:`paired_se`: the two ratios share the points and the noise;
    where both rest on the same few points, Lotka–Volterra's ``log x`` near ``x = 0``,
    each ratio alone is uncertain and the band of :func:`noise_limit` wide, their
    difference is not); if that leaves none, the band alone decides. With ``below`` a
    ratio more than ``sd`` standard errors below 1 (:func:`below_noise`) counts as 1 in
    the band and in that comparison: a set whose predicted noise a pole inflates (a tiny
    multiple of ``1/sin(x⁸)`` on Lotka–Volterra at σ = 0.05: ratio 0.0125 on 3 points)
    does not set the band below the law's (1.30 on 88). With ``at_noise`` the sets of
    the band with the fewest nodes are ordered by their noise ratio taken at least 1, then
    by held-out R: a residual below its predicted noise is no better explained than one at
    it (the double pendulum at σ = 0.05: ``θ1²`` for ``cos θ1`` had ratio 0.90 against the
    energy's 0.99 on some 120 points, and a higher held-out R). With ``corrected`` each
    set is also fitted noise-corrected and scored by the fit whose ratio is nearer 1
    (:func:`_held_out`; the second beam of :mod:`dslsearch.sums.noise_rank`). ``memo``: a
    dict of the sets' held-out scores by their terms, filled and reused when the same
    level (and more sets) is chosen from again with the same arguments."""
    scored = []
    memo = {} if memo is None else memo
    for ts in level:
        idx = [int(keep[t]) for t in ts.terms]
        if ts.terms not in memo:
            rows = [values.values(t) for t in idx]
            if any(r is None for r in rows):
                memo[ts.terms] = None
                continue
            noise = [values.noise(t) for t in idx]
            D = None if any(d is None for d in noise) else np.stack(noise)
            memo[ts.terms] = _held_out(np.stack(rows), D, fit, seg_fit, labels_out,
                                       corrected)
        if memo[ts.terms] is None:
            continue
        r, nr, pts, noise_ = memo[ts.terms]
        if math.isfinite(r):
            scored.append((r, nr, int(sum(sizes[t] for t in idx)), ts, pts, noise_))
    if not scored:
        return level[0], math.nan
    dof = labels_out.size - int(labels_out.max()) - 1
    tol = se_band(sd, dof)
    cap = min(s[0] for s in scored) * by_noise
    capped = [s for s in scored if s[0] <= cap and math.isfinite(s[1])]
    if by_noise > 0 and capped:
        n = labels_out.size
        floor = {id(s): 1.0 if below and below_noise(s[1], s[4], sd, dof, n) else s[1]
                 for s in capped}
        band = noise_limit([floor[id(s)] for s in capped], [s[4] for s in capped], sd,
                           dof, n)
        near = [s for s in capped if s[1] <= band]
        if paired:
            near = [s for s in near if not _paired_worse(s, capped, sd, floor)] or near
        r, _, _, ts, _, _ = min(near, key=lambda s: (s[2], max(s[1], 1.0) if at_noise
                                                     else s[1], s[0]))
        return ts, r
    limit = min(s[0] for s in scored) * tol
    near = [s for s in scored if s[0] <= limit]
    r, _, _, ts, _, _ = min(near, key=lambda s: (s[1] if math.isfinite(s[1]) else math.inf,
                                                 s[2], s[0]))
    return ts, r


def _paired_worse(s, others, sd: float, floor: dict | None = None) -> bool:
    """True when some set of ``others`` has a noise ratio lower than ``s``'s by more than
    ``sd`` of their difference's standard errors (:func:`paired_se`), relative to the
    lower ratio as in :func:`se_band`; ``floor``: the ratio each other set counts with
    (by ``id``; default its own)."""
    if s[5] is None:
        return False
    floor = floor or {}
    return any(o[5] is not None and floor.get(id(o), o[1]) < s[1]
               and s[1] > floor.get(id(o), o[1]) * (1 + sd * paired_se(o[5], s[5]))
               for o in others)
