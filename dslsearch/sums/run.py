"""The sum-of-terms search in memory: library, beam search, final fits, the Pareto front.

:func:`fit_sums` does no file I/O; :func:`noether_search.stages.fit_laws` caches its result
in a store (codec ``fit-sums``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from dslsearch.fitting.config import FitConfig
from dslsearch.fitting.filter import FitStatus, accepted
from dslsearch.fitting.objective import Segments, centred, r_score, relabel, within
from dslsearch.fitting.optimise import solve_affine, solve_scatter
from dslsearch.fitting.plan import segments
from dslsearch.law import Law
from dslsearch.sums.compose import sum_law
from dslsearch.sums.config import SumsConfig
from dslsearch.sums.library import TermLibrary, build_library, lowpass_weighted
from dslsearch.sums.select import (Cross, TermSet, beam_search, simpler_forms,
                                   with_simpler, with_subsets)
from dslsearch.sums.symmetry import image_sets, unit_permutations

#: ``progress(steps_done, n_steps)``
Progress = Callable[[int, int], None]
#: ``judge(law, n_library) -> (accepted, law)``: an acceptance test for a fitted sum (the
#: law it returns may carry its evidence); ``n_library`` is the number of terms searched,
#: for a multiple-testing correction. A judge with a method ``explained(law, laws) -> bool``
#: also says when a round's law is, within the noise, a function of the laws found before
Judge = Callable[[Law, int], "tuple[bool, Law]"]


@dataclass(frozen=True, eq=False)
class FrontPoint:
    """The best sum of one number of terms (a point of the Pareto front).

    Attributes:
        n_terms: number of terms.
        nodes: table node ids of the terms.
        R_fit: R on the fitting points during the selection.
        law: the sum with coefficients fitted on all training points (None if it failed).
        R_true, R_random: R of the law on the trajectories and on random sequences (its
            coefficients refitted there).
        penalised: ``log10 max(R_true, exact) + n_terms * log10(gain)``: lower is better.
        status: :class:`~dslsearch.fitting.FitStatus` of the final fit; message: its text.
        accepted: passes the acceptance test (the ``judge`` of :func:`fit_sums`; without
            one the random-sequence test, ``R_random >= factor * R_true``) and, from the
            second round on, the rule for further laws.
        round: the search round (0: the first law; ``r``: the search for a law
            independent of the ``r`` laws found before).
        corrected: the coefficients are noise-corrected (errors in variables,
            :mod:`dslsearch.sums.eiv`; only with ``SumsConfig.eiv`` and noisy data).
    """

    n_terms: int
    nodes: tuple[int, ...]
    R_fit: float
    law: Law | None
    R_true: float
    R_random: float
    penalised: float
    status: int
    message: str
    accepted: bool
    round: int = 0
    corrected: bool = False


@dataclass(frozen=True, eq=False)
class SumsResult:
    """What :func:`fit_sums` returns.

    Attributes:
        laws: one law per round (``search="sums"``): the accepted front point of the round
            with the lowest penalised score; empty when the first round accepts none.
        front: the Pareto fronts of all rounds, round by round, fewest terms first within
            a round (R falls along it).
        chosen: index into ``front`` of ``laws[0]`` (-1: none).
        term_nodes, term_status, duplicate_of: the library's terms
            (:class:`~dslsearch.sums.TermLibrary`), one entry per parameter-free candidate.
        n_library: terms left for the selection after screening and deduplication.
        config: the settings; seconds: wall time.
        law_points: index into ``front`` of each law in ``laws``.
    """

    laws: list[Law]
    front: tuple[FrontPoint, ...]
    chosen: int
    term_nodes: np.ndarray
    term_status: np.ndarray
    duplicate_of: np.ndarray
    n_library: int
    config: SumsConfig
    seconds: float
    law_points: tuple[int, ...] = ()

    def __post_init__(self):
        if not self.law_points and self.chosen >= 0:   # a one-round result
            object.__setattr__(self, "law_points", (self.chosen,))


def complement(F: np.ndarray, G: np.ndarray | None) -> np.ndarray:
    """Centred rows of ``F (k, N)`` minus their projection on the centred rows of
    ``G (m, N)`` (the values of the laws found so far; None: nothing removed)."""
    Fc = centred(F)
    if G is None or not len(G):
        return Fc
    Q, _ = np.linalg.qr(centred(G).T)                                        # (N, m)
    return Fc - (Fc @ Q) @ Q.T


def _final_fit(formulas, x: np.ndarray, segs: tuple[Segments, Segments], variables,
               sums: SumsConfig, factor: float, found: np.ndarray | None = None,
               judge: Callable[[Law], tuple[bool, Law]] | None = None,
               sigma: np.ndarray | None = None) -> tuple:
    """``(law, R_true, R_random, penalised, status, message, accepted, corrected)`` of one
    term set, coefficients fitted on all training points; ``accepted`` by ``judge`` (the
    law it returns replaces the fitted one), or by the random-sequence test with ``factor``.

    With ``found`` (``(m, N)`` values of laws found before) the coefficients minimise R of
    the sum with its part along the found laws removed (:func:`complement`): the law is the
    sum itself, conserved when that part is, and never a found law again. With ``sigma``
    (``(d,)`` noise std per variable) the coefficients are noise-corrected
    (:func:`_corrected`) where the noise explains the plain fit's scatter; ``corrected``
    says whether they were."""
    with np.errstate(all="ignore"):
        F = np.stack([np.broadcast_to(f.evaluate(x), x.shape[:1]) for f in formulas])
        if not np.isfinite(F).all():
            return None, math.nan, math.nan, math.nan, FitStatus.NONFINITE, \
                FitStatus.NONFINITE.message, False, False
        Fd = complement(F, found)
        norms = np.sqrt(np.einsum("kn,kn->k", Fd, Fd))
        R, V = _solve(Fd / norms[:, None], segs, sums)                  # (2, 1), (2, 1, k)
    weights = V[0, 0]
    if not np.isfinite(R[0, 0]) or not np.isfinite(weights).all():
        return None, math.nan, math.nan, math.nan, FitStatus.TRIVIAL, \
            "constant on the data for every choice of coefficients", False, False
    corrected = False
    if sigma is not None:
        weights, corrected = _corrected(weights, formulas, norms, found, x, segs[0], sigma)
    law = sum_law(formulas, weights / norms, weights, variables)
    values = law(x)
    r_true = float(r_score(values, segs[0]))
    r_random = float(np.fmin(r_score(values, segs[1]), R[1, 0]))
    if not np.isfinite(values).all() or not np.isfinite(law.params).all():
        return None, math.nan, math.nan, math.nan, FitStatus.NONFINITE, \
            FitStatus.NONFINITE.message, False, corrected
    law = Law(law.formula, law.params, law.variables, R_true=r_true, R_random=r_random,
              search="sums")
    if judge is not None:
        ok, law = judge(law)
    else:
        ok = bool(accepted(np.asarray([FitStatus.OK]), np.asarray([r_true]),
                           np.asarray([r_random]), factor)[0])
    # below `exact` R is round-off: such laws differ only in their number of terms
    penalised = math.log10(max(r_true, sums.exact)) + len(formulas) * math.log10(sums.gain)
    return law, r_true, r_random, penalised, FitStatus.OK, FitStatus.OK.message, ok, corrected


def _solve(F: np.ndarray, segs: tuple[Segments, Segments], sums: SumsConfig
           ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~dslsearch.fitting.optimise.solve_affine` of the terms' values ``F (k, N)``
    on the trajectories and the random sequences, the trajectories' within-scatter
    weighted by frequency as in the selection
    (:func:`~dslsearch.sums.library.lowpass_weighted` with ``sums.lowpass`` and
    ``sums.high_weight``)."""
    if sums.lowpass <= 0:
        return solve_affine(F[None], list(segs))
    Fc = centred(F)
    Fw = lowpass_weighted(within(Fc, segs[0]), segs[0], sums.lowpass, sums.high_weight)
    Fr = within(Fc, segs[1])
    return solve_scatter((Fc @ Fc.T)[None], [(Fw @ Fw.T)[None], (Fr @ Fr.T)[None]])


def _corrected(weights: np.ndarray, formulas, norms: np.ndarray, found, x: np.ndarray,
               seg: Segments, sigma: np.ndarray) -> tuple[np.ndarray, bool]:
    """``(weights (k,), corrected)``: the noise-corrected coefficients of the standardised
    terms (:func:`dslsearch.sums.eiv.corrected_fit`) where the measurement noise explains
    at least :data:`~dslsearch.sums.eiv.MIN_NOISE_SHARE` of the plain fit's within-trajectory
    scatter, else the plain ``weights``. The terms' values are taken as in
    :func:`_final_fit` (their part outside the ``found`` laws, each divided by ``norms``)."""
    from dslsearch.sums.eiv import MIN_NOISE_SHARE, corrected_fit, noise_scatter, noise_share

    def values(xp):
        F = np.stack([np.broadcast_to(f.evaluate(xp), xp.shape[:1]) for f in formulas])
        return complement(F, found) / norms[:, None]

    with np.errstate(all="ignore"):
        Fn = values(x)
        scatter = noise_scatter(values, x, seg, sigma)
    if scatter is None:
        return weights, False
    S_T, S_W = scatter
    Fw = within(Fn, seg)
    T, W = Fn @ Fn.T, Fw @ Fw.T
    if noise_share(weights, W, S_W) < MIN_NOISE_SHARE:
        return weights, False
    fit = corrected_fit(T, W, S_T, S_W)
    if fit is None or not np.isfinite(fit[1]).all():
        return weights, False
    return fit[1], True


def _front(levels: list[list[TermSet]]) -> list[tuple[TermSet, list[TermSet]]]:
    """The best set of each size that improves on every smaller size (R strictly falls),
    each with its whole level (the sets of that size, best first)."""
    out: list[tuple[TermSet, list[TermSet]]] = []
    for level in levels:
        if level and (not out or level[0].R < out[-1][0].R):
            out.append((level[0], level))
    return out


def _size_point(lib: TermLibrary, keep, best: TermSet, level: list[TermSet], x, segs,
                dataset, sums: SumsConfig, config: FitConfig, found, judge, sigma
                ) -> FrontPoint:
    """The front point of one size: the best set by R, or on noisy data (its coefficients
    noise-corrected, :func:`_corrected`) the set among the ``sums.eiv_candidates`` best of
    the level that passes the judge with the lowest noise ratio (R by the plain fit favours
    sums of quieter terms, approximations, over the law). The best set's point when none
    passes."""
    first = _front_point(lib, [int(keep[t]) for t in best.terms], best.R, x, segs, dataset,
                         sums, config, found, judge, sigma)
    if not first.corrected or judge is None:
        return first
    points = [first] + [
        _front_point(lib, [int(keep[t]) for t in ts.terms], ts.R, x, segs, dataset, sums,
                     config, found, judge, sigma)
        for ts in level[1:sums.eiv_candidates] if ts != best]
    passing = [p for p in points if p.accepted and p.law is not None]
    if not passing:
        return first
    return min(passing, key=lambda p: p.law.evidence.noise_ratio
               if p.law.evidence is not None else math.inf)


def fit_sums(dataset, table=None, config: FitConfig = FitConfig(),
             sums: SumsConfig = SumsConfig(), progress: Progress | None = None,
             judge: Judge | None = None) -> SumsResult:
    """Search sums ``c_1 phi_1 + … + c_k phi_k`` of parameter-free terms for conserved ones.

    Round 0 finds the best conserved sum; each further round searches the library with the
    laws found so far projected out of every term (the complement of their values), so it
    finds a sum linearly independent of them, and stops at the first round that accepts
    none, or once ``max_laws`` laws are found (a round whose law is a function of the laws
    found, ``L²`` beside ``L``, does not count; at most ``2 * max_laws`` rounds). A further
    law must pass the acceptance test and be nearly as exact as the best law found:
    ``max(R, exact) <= further_gap * max(R_best, exact)`` (an approximation of a law the
    library cannot express exactly is not reported beside exact ones).

    Args:
        dataset: a ``hamiltonian_data.Dataset`` (its training trajectories are used).
        table: a :class:`~dslsearch.enumerate.FormulaTable` over the dataset's variables of
            depth >= ``sums.term_size`` (the terms are its parameter-free candidates);
            default, or when it is shallower: enumerated to ``sums.term_size`` (with the
            table's operators).
        config: the fit stage's settings: ``factor``, ``seed``, ``fit_stride``, ``window``.
        sums: the search's own settings (:class:`SumsConfig`).
        progress: called as ``progress(steps_done, n_steps)``.
        judge: the acceptance test of each front point (:data:`Judge`; the fit stage's
            calibrated test, :func:`noether_search.stages.fit.fit_laws`); None: the
            random-sequence test with ``config.factor``. Each round's law is chosen among
            the points it accepts, and the next round searches the complement of the laws
            so chosen; a round's law that the judge's ``explained`` puts within the noise
            of a function of the laws found is projected out, not reported (as one that is
            exactly a function of them). A judge whose ``noisy`` is true (noisy data,
            :func:`dslsearch.acceptance.is_noisy`) switches on the settings for noisy
            data: the frequency-weighted scatter (``sums.lowpass``, ``sums.high_weight``),
            the choice of each round's law by its drift (``sums.drift_select``) and, with
            ``sums.eiv``, noise-corrected coefficients (its ``sigma``). Otherwise, with
            ``sums.drift_check``, a judge whose noise floor makes the data noisy also
            rejects sums that drift (:mod:`dslsearch.sums.judge_drift`). On such data,
            with ``sums.gap_continues``, a round whose sums the calibrated test accepts
            and the rule for further laws or (after the first law) the drift check
            rejects does not end the search: its best such sum is projected out, not
            reported; with ``sums.gap_by_noise`` the rule compares noise ratios
            instead of R. On such data, with ``sums.held_out``, each size's sum is
            chosen among its level by its R and noise ratio on the training points
            that are not fitting points (:mod:`dslsearch.sums.validate`; with
            ``sums.held_out_noise`` by the noise ratio and fewest nodes), the levels
            also hold the seeds of :mod:`dslsearch.sums.seed` (``sums.seed_pool``,
            ``sums.seed_subsets``) and, with ``sums.seed_symmetric``, the terms of the
            laws found with the variables of one unit permuted
            (:mod:`dslsearch.sums.symmetry`), with ``sums.noise_rank`` the levels also hold a
            second beam's sets by the noise-corrected R and the choice scores each set's
            noise-corrected fit too (:mod:`dslsearch.sums.noise_rank`), and with
            ``sums.noise_choice`` a round's law is the accepted point of fewest terms
            within the noise of the lowest noise ratio (:func:`_noise_band`).

    Returns:
        :class:`SumsResult`.
    """
    from dslsearch.enumerate import enumerate_formulas

    t0 = time.perf_counter()
    max_laws = sums.max_laws if sums.max_laws is not None else max(
        len(dataset.variables) - 1, 1)
    n_steps = 2 * max_laws * sums.max_terms + 2
    if table is None or table.depth < sums.term_size:  # the same operators as the table's
        ops = tuple(table.ops) if table is not None and getattr(table, "ops", None) else None
        table = enumerate_formulas(dataset.variables, sums.term_size, ops=ops)
    x, labels = segments(dataset, config)
    seg = Segments(labels)
    segs = (seg, seg.shuffled(config.seed))
    fit_points = np.arange(0, x.shape[0], max(config.fit_stride, 1))
    seg_fit = Segments(relabel(labels[fit_points]))
    lib = build_library(table, x, seg_fit, fit_points, sums.term_size, sums.dedup_digits,
                        composites=sums.composites())
    if progress:
        progress(1, n_steps)
    explained = getattr(judge, "explained", None)
    # on noisy data (the judge says so) the selection weighs the scatter by frequency and
    # picks each round's law by its drift; the judge's noise floor (``sigma``, (d,)) can
    # also correct the coefficients for noise (``sums.eiv``)
    noisy, given = bool(getattr(judge, "noisy", False)), sums
    if not noisy:
        sums = dataclasses.replace(sums, lowpass=0, drift_select=0.0)
    sigma = getattr(judge, "sigma", None) if sums.eiv and noisy else None
    from dslsearch.sums.judge_drift import judges_noisy_data, with_drift

    noise_data = judges_noisy_data(judge)
    by_noise = sums.gap_by_noise and noise_data
    split = _held_out_split(labels, fit_points, seg_fit)
    held = (*split, getattr(judge, "sigma", None)) if (
        split is not None and noise_data and sums.held_out > 0) else None
    # on noise-free data the beam also holds the subset seeds (sums.seed_exact)
    exact_held = (*split, None) if (split is not None and not noise_data and sums.seed_exact
                                    and sums.seed_subsets > 1) else None
    if held is not None:     # the terms' first-order noise, for the corrected ranking
        from dslsearch.sums.noise_rank import noise_rows

        held = (*held, noise_rows(lib, x[fit_points], held[3])
                if sums.noise_rank and not sums.lowpass else None)
    from dslsearch.independence import Levels

    floor = getattr(judge, "sigma", None)
    levels = Levels(labels, np.asarray(floor)) if (
        sums.levels and noise_data and floor is not None) else None
    if sums.drift_check and not noisy:    # the noisy judge tests the drift already
        judge = with_drift(judge, sums.drift_refit)
    if judge is not None:
        judge = partial(judge, n_library=lib.n_terms)
    front: list[FrontPoint] = []
    chosen: list[int] = []
    laws: list[Law] = []
    removed: list[np.ndarray] = []        # values of every law found, dependent ones too
    held_rank = None                      # `held` with the terms' noise rows (lazily)
    perms = unit_permutations(dataset.variables) if (
        held is not None and sums.seed_symmetric) else []
    term_of = {int(lib.nodes[k]): t for t, k in enumerate(lib.kept)} if perms else {}
    law_sets: list[tuple[int, ...]] = []  # the laws' terms (kept-term indices)
    images: list[tuple[int, ...]] = []    # their images (seeds of the later rounds)
    for r in range(2 * max_laws):   # a round whose law depends on the found ones is free
        if len(laws) >= max_laws:
            break
        found = np.stack(removed) if removed else None
        point, beyond = _round(lib, x, segs, seg_fit, fit_points, dataset, sums, config,
                               found, r, laws, front, (lambda k: progress(
                                   1 + r * sums.max_terms + k, n_steps))
                               if progress else None, judge, sigma, by_noise, held,
                               images, exact_held)
        if point < 0 and beyond >= 0 and sums.gap_continues and noise_data:
            # on noisy data a sum that the calibrated test accepts but the rule for
            # further laws or the drift check rejects is projected out, not reported,
            # and the rounds go on beyond it
            front[beyond] = dataclasses.replace(front[beyond], message=(
                front[beyond].message + " (projected out, not reported)"))
            removed.append(front[beyond].law(x))
            continue
        if point < 0 and beyond < 0 and held is not None and sums.noise_rank_last \
                and held[4] is None and not sums.lowpass:
            point, held_rank = _last_search(lib, x, segs, seg_fit, fit_points, dataset,
                                            sums, config, found, r, laws, front, judge,
                                            sigma, by_noise, held, held_rank, images)
        if point < 0:
            break
        law = front[point].law
        removed.append(law(x))
        if laws and (_dependent(law, laws, x, levels) or (explained is not None
                                                  and explained(law, laws))):
            front[point] = dataclasses.replace(front[point], accepted=False, message=(
                "a function of the laws found before (projected out, not reported)"))
            continue
        chosen.append(point)
        laws.append(law)
        if perms:
            law_sets.append(tuple(term_of[n] for n in front[point].nodes if n in term_of))
            images = image_sets(lib, x[fit_points], law_sets, perms)
    if progress:
        progress(n_steps, n_steps)
    return SumsResult(laws=laws, front=tuple(front), chosen=chosen[0] if chosen else -1,
                      term_nodes=lib.nodes, term_status=lib.status,
                      duplicate_of=lib.duplicate_of, n_library=lib.n_terms, config=given,
                      seconds=time.perf_counter() - t0, law_points=tuple(chosen))


def _held_out_split(labels: np.ndarray, fit_points: np.ndarray, seg_fit: Segments
                    ) -> tuple[np.ndarray, Segments, np.ndarray] | None:
    """``(fit (N,) bool, seg_fit, labels_out (N_out,))``: the fitting points among the
    ``N`` training points (``labels (N,)``), the trajectories of the fitting points and
    the trajectory of each held-out point (:mod:`dslsearch.sums.validate`); None when
    the held-out points do not span two trajectories with more points than trajectories
    (``fit_stride`` 1: every point is a fitting point)."""
    fit = np.zeros(labels.size, bool)
    fit[fit_points] = True
    out = relabel(labels[~fit])
    if out.size == 0 or out.max() < 1 or out.size <= out.max() + 1:
        return None
    return fit, seg_fit, out


def _dependent(law: Law, laws: list[Law], x: np.ndarray, levels=None) -> bool:
    """True when ``law`` is a function of ``laws`` on the states ``x`` (``L²`` beside
    ``L``: linearly independent of it, functionally not); ``levels``: on noisy data, the
    trajectories and noise floor of ``x``
    (:class:`dslsearch.independence.Levels`: a law whose trajectory levels those of
    ``laws`` do not explain is not a function of them)."""
    from dslsearch.independence import independent_laws

    return independent_laws([*laws, law], x, levels=levels).n_independent <= len(laws)


def _simplest_forms(front: list[FrontPoint], passing: list[int], x: np.ndarray
                    ) -> list[int]:
    """The accepted points ``passing`` less each one that the gradient test puts in the
    span of an accepted point of fewer terms (:func:`_dependent`, without trajectory
    levels): a function of a law is the same law, and its simplest form stands for it.
    On noisy data a polynomial in a law can scatter a little less than the noise
    predicts and take the round from the law itself (Kepler at σ = 0.05, seed 19:
    ``L − 0.297 L³`` in six monomials, noise ratio 0.925 on 356 effective points, against
    ``L``'s 1.09 on 997), and its R, ten times lower, then sets the rule for further
    laws against the Runge–Lenz components."""
    kept: list[int] = []
    for i in sorted(passing, key=lambda i: (front[i].n_terms, i)):
        if not any(front[k].n_terms < front[i].n_terms
                   and _dependent(front[i].law, [front[k].law], x) for k in kept):
            kept.append(i)
    return sorted(kept)


def _gap_score(law: Law, sums: SumsConfig, by_noise: bool) -> float:
    """What the rule for further laws compares: ``max(R, exact)``, or with ``by_noise``
    the law's noise ratio (its scatter over the noise floor's prediction; R where the
    law carries none)."""
    ratio = law.evidence.noise_ratio if law.evidence is not None else math.nan
    if by_noise and math.isfinite(ratio):
        return ratio
    return max(law.R_true, sums.exact)


def _within_noise(law: Law, sd: float, dof: int, n: int, ref: float = 1.0) -> bool:
    """True when the measurement noise explains all of ``law``'s scatter: its noise ratio
    is within ``sd`` standard errors of ``ref`` (1, or what the laws found show:
    :func:`_found_ratio`; each ratio's standard error from the points that carry its
    predicted noise, :func:`dslsearch.sums.validate.noise_limit`; ``dof`` the training
    points less their trajectories, ``n`` the points). On noisy data a
    law's R is mostly its noise's, and a law whose terms carry more noise (Kepler's
    energy, ``1/r`` and ``px²``, beside the angular momentum: R 113 times larger at
    σ = 0.01, noise ratio 0.98) is as exact as the data can tell."""
    ev = law.evidence
    ratio = ev.noise_ratio if ev is not None else math.nan
    if sd <= 0 or not math.isfinite(ratio):
        return False
    from dslsearch.sums.validate import noise_limit

    return ratio <= noise_limit([ref], [getattr(ev, "noise_points", math.nan)], sd, dof, n)


def _beyond_noise(law: Law, sums: SumsConfig, dof: int, n: int, ref: float) -> bool:
    """True when a further law is not conserved as the laws found are
    (``sums.further_noise``): its noise ratio is beyond ``sums.noise_choice`` standard
    errors of ``ref`` (:func:`_within_noise`, ``ref`` from :func:`_found_ratio`) and its
    residual drifts along the trajectories (drift p below ``sums.drift_free_band``, the
    level at which a round's drifting band gives way, :func:`_noise_band`). Either
    alone is weak evidence: a true law drifts at p < 0.05 one round in twenty, and its
    noise ratio is off where the noise floor of its own variables is (a robust floor from
    three trajectories of 50 points was 0.86 of the noise added for one variable, 1.07
    for another: one oscillator's energy at ratio 1.48 beside the other's 0.94)."""
    ev = law.evidence
    drift_p = ev.drift_p if ev is not None else math.nan
    return bool(math.isfinite(drift_p) and drift_p < sums.drift_free_band
                and not _within_noise(law, sums.noise_choice, dof, n, ref))


def _found_ratio(laws: list[Law]) -> float:
    """The lowest noise ratio of the laws found, at least 1 (1 when none has one): the
    ratio that a law of these data shows where the noise explains its scatter. The noise
    floor is estimated from the data (:func:`dslsearch.acceptance.noise_floor`), and its
    error scales every law's predicted noise alike: on Kepler at σ = 0.1, seed 90, the
    angular momentum's ratio is 1.12 and the Runge-Lenz components' 1.19 and 1.10, beside
    0.94 for all three on seed 91."""
    ratios = [law.evidence.noise_ratio for law in laws
              if law.evidence is not None and math.isfinite(law.evidence.noise_ratio)]
    return max(1.0, min(ratios, default=1.0))


def _held_dof(held) -> int:
    """The noise ratios' degrees of freedom for the held-out split ``held``: its training
    points less their held-out trajectories, less one."""
    return held[0].size - int(held[2].max()) - 1


def _last_search(lib: TermLibrary, x, segs, seg_fit, fit_points, dataset,
                 sums: SumsConfig, config: FitConfig, found, r: int, laws: list[Law],
                 front: list[FrontPoint], judge, sigma, by_noise: bool, held, held_rank,
                 images=()) -> tuple[int, tuple]:
    """Round ``r`` accepted nothing: search it once more with the second beam by the
    noise-corrected R (:mod:`dslsearch.sums.noise_rank`) before the rounds stop
    (``sums.noise_rank_last``). ``(point, held_rank)``: the index in ``front`` of the
    round's law (-1: none) and ``held`` with the terms' noise rows, computed once.

    That beam looks for sums whose scatter the noise explains, so its law must show just
    that: a noise ratio within ``sums.noise_choice`` standard errors of 1
    (:func:`_within_noise`), or it is not taken (a stand-in that the calibrated test
    alone would accept, its ratio below ``max_noise_ratio`` but well above 1, does not
    end the search as a law). With ``sums.last_ref_found`` the ratio is judged against
    the lowest of the laws found instead of 1, when that is above 1 (:func:`_found_ratio`).
    A point accepted but refused by the rule for further laws
    or the drift check is not projected out here: the rounds stop."""
    from dslsearch.sums.noise_rank import noise_rows

    if held_rank is None:
        held_rank = (*held[:4], noise_rows(lib, x[fit_points], held[3]))
    point, _ = _round(lib, x, segs, seg_fit, fit_points, dataset,
                      dataclasses.replace(sums, noise_rank=True), config, found, r, laws,
                      front, None, judge, sigma, by_noise, held_rank, images)
    ref = _found_ratio(laws) if sums.last_ref_found else 1.0
    if point >= 0 and not _within_noise(front[point].law, sums.noise_choice,
                                        _held_dof(held), held[0].size, ref):
        front[point] = dataclasses.replace(front[point], accepted=False, message=(
            f"noise ratio {front[point].law.evidence.noise_ratio:.3g} is not within "
            f"{sums.noise_choice:g} standard errors of {ref:.3g} (a round searched again "
            "by the noise-corrected R)"))
        point = -1
    return point, held_rank


def _round(lib: TermLibrary, x, segs, seg_fit, fit_points, dataset, sums: SumsConfig,
           config: FitConfig, found, r: int, laws: list[Law], front: list[FrontPoint],
           progress, judge=None, sigma=None, by_noise: bool = False, held=None,
           images=(), exact_held=None) -> tuple[int, int]:
    """One round of the search: append its front to ``front``; ``(point, beyond)``: the
    index of its law in ``front`` (-1: none accepted) and, when none is, that of the
    point with the lowest penalised score that the calibrated test accepted and the rule
    for further laws or, after the first law, the drift check rejected (-1: none). A
    round whose law is not exact (or that found none) searches again without the
    library's sums of two terms, when ``retry_without_sums``; the better law of the two
    searches (lower penalised score) is the round's. A further
    law's :func:`_gap_score` is at most ``sums.further_gap`` times the best law's
    (``by_noise``: noise ratios, on noisy data). With ``held`` (on noisy data: the
    ``(fit, seg_fit, labels_out)`` of :func:`_held_out_split`, the judge's noise floor
    ``sigma (d,)`` and the terms' noise rows of :func:`dslsearch.sums.noise_rank.noise_rows`
    or None) each size's set is chosen among its level by its R and noise ratio on the
    held-out points (:func:`dslsearch.sums.validate.held_out_choice`); with noise rows the
    beam keeps a second beam by the noise-corrected R (``sums.noise_rank``) and the choice
    scores each set's noise-corrected fit too. ``images``: term sets (kept-term indices)
    that seed the beam beside the elimination's seeds (on noisy data: the found laws' terms
    with same-unit variables permuted, :mod:`dslsearch.sums.symmetry`). ``exact_held``:
    on noise-free data (``sums.seed_exact``), the ``(fit, seg_fit, labels_out, None)`` of
    :func:`_held_out_split` that scores the subset seeds (only the seeds: each size's set
    is the beam's best by R, as without them)."""
    from dslsearch.sums.noise_rank import NoiseCross
    from dslsearch.sums.validate import TermValues, held_out_choice

    values = TermValues(lib, x, found, held[3]) if held is not None else None
    exact_seeds = held is None and exact_held is not None  # noise-free: subset seeds alone
    seed_held, seed_values = (exact_held, TermValues(lib, x, found)) if exact_seeds else (
        held, values)
    noise_all = held[4] if held is not None else None
    # the training points less their held-out trajectories (the noise ratios' dof)
    dof_held = _held_dof(held) if held is not None else 0
    start = len(front)
    best = min((_gap_score(law, sums, by_noise) for law in laws), default=math.inf)
    # a further law's noise ratio is judged against the laws found (sums.further_noise)
    further_ref = _found_ratio(laws) if (
        laws and held is not None and sums.further_noise and sums.noise_choice > 0) else None
    shared = None     # the library's products, shared by both searches of round 0
    beyond: list[int] = []   # points the calibrated test accepts and the rule for further
    #                          laws or the drift check rejects
    found_seeds = None       # the round's seeds (noisy data), shared by both searches
    for with_sums in (True, False) if sums.retry_without_sums else (True,):
        keep, Z, Zw0 = lib.complement(None if found is None else found[:, fit_points],
                                      seg_fit, with_sums)
        Zw = lowpass_weighted(Zw0, seg_fit, sums.lowpass, sums.high_weight)
        cross = None
        if found is None and Zw is Zw0:       # rows of the library itself, unweighted
            shared = Cross(lib.Z, lib.Zw) if shared is None else shared
            cross = shared.subset(keep)
        seeds: tuple[tuple[int, ...], ...] = ()
        if seed_values is not None and (sums.seed_pool > 1 or images or exact_seeds):
            cross = Cross(Z, Zw) if cross is None else cross
            if found_seeds is None:           # once per round, in the library's indices
                found_seeds = [tuple(int(keep[j]) for j in ts)
                               for ts in _seeds(lib, keep, seed_values, cross, seed_held,
                                                sums, subsets_only=exact_seeds)
                               ] if sums.seed_pool > 1 or exact_seeds else []
                found_seeds += [tuple(ts) for ts in images]
            where = {int(t): j for j, t in enumerate(keep)}
            seeds = tuple(tuple(sorted(where[t] for t in ts)) for ts in found_seeds
                          if all(t in where for t in ts))
        noise = None
        if noise_all is not None:
            cross = Cross(Z, Zw) if cross is None else cross
            noise = NoiseCross(lib.complement_rows(
                noise_all, None if found is None else found[:, fit_points], keep), seg_fit)
        levels = beam_search(Z, Zw, lib.sizes[keep], sums.max_terms, sums.beam, sums.exact,
                             sums.pair_screen, sums.refine, progress=progress,
                             node_weight=sums.node_weight, cross=cross, seeds=seeds,
                             refine_keeps=sums.refine_keeps and values is not None,
                             noise=noise)
        if values is not None and sums.subsets_below:
            cross = Cross(Z, Zw) if cross is None else cross
            levels = with_subsets(levels, cross, lib.sizes[keep], sums.exact)
        simpler = None
        for ts, level in _front(levels):
            if values is not None:
                choose = partial(held_out_choice, keep=keep, sizes=lib.sizes,
                                 values=values, fit=held[0], seg_fit=held[1],
                                 labels_out=held[2], sd=sums.held_out,
                                 by_noise=sums.held_out_noise,
                                 paired=sums.held_out_paired, below=sums.below_noise,
                                 at_noise=sums.tie_at_noise, corrected=noise is not None,
                                 memo={})     # the second choice scores only the variants
                ts = choose(level)[0]
                if sums.simpler_terms:
                    if simpler is None:       # once per search of the round
                        simpler = simpler_forms([lib.formula(int(t)) for t in keep])
                        cross = Cross(Z, Zw) if cross is None else cross
                    wider = with_simpler(level, ts.terms, simpler, cross,
                                         lib.sizes[keep], sums.exact)
                    if wider is not level:
                        level = wider
                        ts = choose(level)[0]
            p = _size_point(lib, keep, ts, level, x, segs, dataset, sums, config, found,
                            judge, sigma)
            if laws and p.accepted and _gap_score(p.law, sums, by_noise) > \
                    sums.further_gap * best and not (
                        sums.gap_within_noise and held is not None and _within_noise(
                            p.law, sums.noise_choice, dof_held, held[0].size)):
                what = "noise ratio" if by_noise else "R"
                p = dataclasses.replace(p, accepted=False, message=(
                    f"{what} {_gap_score(p.law, sums, by_noise):.2g} is more than "
                    f"{sums.further_gap:g} times that of the best law found"))
                beyond.append(len(front))
            elif laws and _only_drift(p, config):
                p = dataclasses.replace(p, message=(
                    f"drifts along the trajectories (drift p {p.law.evidence.drift_p:.2g})"))
                beyond.append(len(front))
            elif laws and p.accepted and further_ref is not None and _beyond_noise(
                    p.law, sums, dof_held, held[0].size, further_ref):
                p = dataclasses.replace(p, accepted=False, message=(
                    f"noise ratio {p.law.evidence.noise_ratio:.3g} is not within "
                    f"{sums.noise_choice:g} standard errors of {further_ref:.3g} and it "
                    f"drifts (p {p.law.evidence.drift_p:.2g} < {sums.drift_free_band:g}): a "
                    f"further law scatters as the noise predicts, as the laws found do"))
            front.append(dataclasses.replace(p, round=r))
        passing = [i for i in range(start, len(front)) if front[i].accepted]
        if held is not None and sums.simplest_form:
            passing = _simplest_forms(front, passing, x)
        if held is not None and sums.noise_choice > 0:
            passing = _noise_band(front, passing, sums.noise_choice, dof_held,
                                  held[0].size, sums.below_noise,
                                  sums.drift_free_band, sums.drift_free_gain)
        point = min(passing, key=_choice_key(front, passing, sums)) if passing else -1
        if point >= 0 and front[point].R_true <= sums.exact:
            break
    if point >= 0 or not beyond:
        return point, -1
    return point, min(beyond, key=lambda i: (front[i].penalised, i))


#: largest seed set tried among every subset of the simplest terms (C(16, 4) = 1820 sets)
SUBSET_TERMS = 4


def _seeds(lib: TermLibrary, keep: np.ndarray, values, cross: Cross, held,
           sums: SumsConfig, subsets_only: bool = False) -> tuple[tuple[int, ...], ...]:
    """Backward-elimination seeds of the beam (:func:`dslsearch.sums.seed.elimination_seeds`)
    from the simplest ``sums.seed_pool`` terms of ``keep`` that are not sums of two
    terms, and subset seeds (:func:`dslsearch.sums.seed.subset_seeds`) from the simplest
    ``sums.seed_subsets``; ``values``: the round's
    :class:`~dslsearch.sums.validate.TermValues`, ``held``: ``(fit, seg_fit, labels_out,
    sigma)``. ``subsets_only`` (noise-free data): the subset seeds alone, by held-out R."""
    from dslsearch.sums.seed import elimination_seeds, subset_seeds

    pool = np.nonzero(~lib.is_sum[keep])[0]
    value = (lambda j: values.values(int(keep[j])))
    if subsets_only:
        return tuple(dict.fromkeys(subset_seeds(
            value, pool[:sums.seed_subsets], *held[:3], min(sums.max_terms, SUBSET_TERMS))))
    noise = (lambda j: values.noise(int(keep[j]))) if held[3] is not None else None
    seeds = []
    for rest in (False, True) if sums.seed_rest else (False,):
        seeds += elimination_seeds(value, pool[:sums.seed_pool], cross, *held[:3],
                                   sums.max_terms, sums.seed_extend, sums.exact,
                                   sums.seed_width, rest=rest)
        if sums.seed_subsets > 1:
            seeds += subset_seeds(value, pool[:sums.seed_subsets], *held[:3],
                                  min(sums.max_terms, SUBSET_TERMS), rest=rest,
                                  noise=noise, by_noise=sums.seed_subsets_noise)
    return tuple(dict.fromkeys(seeds))


def _only_drift(p: FrontPoint, config: FitConfig) -> bool:
    """True when the calibrated test accepts point ``p`` and only its drift test (the
    sum search's drift check on noisy data, :mod:`dslsearch.sums.judge_drift`) rejects it."""
    from dslsearch.acceptance import passes

    ev = p.law.evidence if p.law is not None else None
    if p.accepted or ev is None or ev.test != "calibrated" or not math.isfinite(ev.drift_p):
        return False
    acceptance = getattr(config, "acceptance", None)
    return acceptance is not None and passes(ev, acceptance) and \
        not passes(ev, acceptance, drift=True)


def _noise_band(front: list[FrontPoint], passing: list[int], sd: float, dof: int,
                n: int = 0, below: bool = True, drift_select: float = 0.0,
                significant: bool = False) -> list[int]:
    """The accepted points ``passing`` of fewest terms among those whose noise ratio is
    within ``sd`` standard errors of the lowest; ``passing`` itself when some point has
    no noise ratio. The relative standard error of each ratio is ``sqrt(2 / dof_i)``,
    ``dof`` (the training points less their trajectories) times the share of the ``n``
    training points that carry the point's predicted noise
    (:attr:`dslsearch.acceptance.Evidence.noise_points`, :func:`dslsearch.sums.validate.
    noise_limit`): a low ratio that rests on a few points of huge predicted noise (a
    tiny multiple of a term with a pole inside the data) does not set the band. On noisy
    data R falls with every term that fits the noise, and the penalty (a term must divide
    R by ``gain``) then prefers a stand-in of fewer terms whose residual the noise does
    not explain to the law. With ``below``, a ratio more than ``sd`` standard errors
    below 1 (:func:`dslsearch.sums.validate.below_noise`) counts as 1: the point scatters
    less than the noise predicts, which is no evidence of a better law but of a
    prediction that does not hold for it (a polynomial in a law, flat where the predicted
    noise is largest, reaches 0.74 beside the law's 1.02 on Kepler at σ = 0.05). With
    ``drift_select`` > 0, a band whose points of fewest terms all drift gives way to the
    points that do not (:func:`_drift_free`; with ``significant``, only to a point whose
    lower ratio its extra terms could not buy from the noise)."""
    evs = {i: front[i].law.evidence for i in passing}
    ratios = {i: (ev.noise_ratio if ev is not None else math.nan) for i, ev in evs.items()}
    if not passing or not all(math.isfinite(r) for r in ratios.values()):
        return passing
    from dslsearch.sums.validate import below_noise, noise_limit

    points = {i: getattr(evs[i], "noise_points", math.nan) for i in passing}
    limit = noise_limit([1.0 if below and below_noise(ratios[i], points[i], sd, dof, n)
                         else ratios[i] for i in passing],
                        [points[i] for i in passing], sd, dof, n)
    near = [i for i in passing if ratios[i] <= limit]
    fewest = min(front[i].n_terms for i in near)
    band = [i for i in near if front[i].n_terms == fewest]
    return _drift_free(front, near, band, drift_select, dof if significant else 0) \
        if drift_select > 0 else band


def _drift_free(front: list[FrontPoint], near: list[int], band: list[int],
                drift_select: float, dof: int = 0) -> list[int]:
    """``band`` (the points of fewest terms of the noise band ``near``) unless each of
    its points drifts along the trajectories (drift p-value below ``drift_select``,
    ``SumsConfig.drift_free_band``; :func:`dslsearch.acceptance.drift`) where the noise
    explains their scatter; then the points of fewest terms among those of ``near`` that
    do not drift, scatter less (a lower noise ratio and a lower R than every point of
    ``band``) and do not hold all the terms of any point of ``band`` (``band`` itself
    when there is none). With ``dof`` > 0 (``SumsConfig.drift_free_gain``; the training
    points less their trajectories) a point of ``k`` terms more than the band must scatter
    less by more than ``k`` terms buy by fitting the noise alone: its noise ratio below the
    band's times ``1 − q / dof``, ``q`` the chi-square quantile of ``k`` degrees of freedom
    at ``1 − drift_select``. A true law drifts at ``p < drift_select`` by chance in that
    share of rounds, and a polynomial of more terms then scatters a little less by fitting
    the noise (the rigid body at σ = 0.05, seed 93: ``L1² + 0.261 L2²`` at noise ratio
    0.899, drift p 0.048, beside a six-term polynomial at 0.894, p 1; the limit for four
    terms more is 0.887 at ``dof`` 735). The energy of the double pendulum below is 0.84
    beside 0.91 (limit 0.908 for one term more).

    A stand-in of fewer terms than the law can fit within the noise and still drift (on
    the double pendulum at σ = 0.05, seed 58: 4 terms of which one is the library's sum
    ``θ1² − cos θ2``, noise ratio 0.91, drift p 0.03, beside the energy's 5 terms, 0.84,
    p 0.8); the law is another set of terms that does better on both counts. A point
    that holds all of a drifting point's terms and adds one is that point plus a term
    that fits its drift away, which is chance, not a law. A point that scatters more is
    not taken either: the drift of a law whose constants the noise biased is small
    (Lotka–Volterra at σ = 0.1, seed 41: the law at noise ratio 0.92, drift p 0.005,
    beside a six-term stand-in at 0.97, p 0.15), and a lower noise ratio alone can come
    from a larger predicted noise (the rigid body at σ = 0.1, seed 68: ``L1² − 0.345 L3²``
    at R 0.0212, noise ratio 1.27, drift p 0.037, beside a six-term polynomial with
    ``L3⁴`` at R 0.0298, 1.19, p 0.11)."""
    from dslsearch.acceptance import DRIFT_NOISE_SHARE

    def drifts(i: int) -> bool:
        ev = front[i].law.evidence
        return ev.noise_ratio >= DRIFT_NOISE_SHARE and math.isfinite(ev.drift_p) and \
            ev.drift_p < drift_select

    def steady(i: int) -> bool:
        ev = front[i].law.evidence
        return ev.noise_ratio >= DRIFT_NOISE_SHARE and ev.drift_p >= drift_select

    if not all(drifts(i) for i in band):
        return band
    held = [set(front[j].nodes) for j in band]
    lowest = min(front[j].law.evidence.noise_ratio for j in band)
    r_low = min(front[j].R_true for j in band)
    fewest_band = min(front[j].n_terms for j in band)

    def below(i: int) -> bool:
        """Lower than the band's ratio, by more than the point's extra terms buy by fitting
        the noise where ``dof`` > 0 (a chi-square quantile at ``drift_select`` over
        ``dof``)."""
        extra = front[i].n_terms - fewest_band
        if dof <= 0 or extra <= 0:
            return front[i].law.evidence.noise_ratio < lowest
        from scipy.stats import chi2

        return front[i].law.evidence.noise_ratio < lowest * (
            1.0 - chi2.ppf(1.0 - drift_select, extra) / dof)

    free = [i for i in near if steady(i) and below(i)
            and front[i].R_true < r_low and not any(h <= set(front[i].nodes) for h in held)]
    if not free:
        return band
    fewest = min(front[i].n_terms for i in free)
    return [i for i in free if front[i].n_terms == fewest]


def _choice_key(front: list[FrontPoint], passing: list[int], sums: SumsConfig):
    """The order in which a round picks its law among the accepted points ``passing``.

    By the penalised score (a term must divide R by ``sums.gain``), except on noisy data:
    when the measurement noise explains the scatter of every accepted point (noise ratio
    at least :data:`~dslsearch.acceptance.DRIFT_NOISE_SHARE`), R is the noise's, and a
    further term lowers it by fitting the noise as much as by conserving more. Then the
    fewest terms without a drift along the trajectories (drift p-value at least
    ``sums.drift_select``, :func:`dslsearch.acceptance.drift`) come first, then the
    penalised score."""
    from dslsearch.acceptance import DRIFT_NOISE_SHARE

    evs = {i: front[i].law.evidence for i in passing}
    noisy = all(ev is not None and ev.noise_ratio >= DRIFT_NOISE_SHARE
                and math.isfinite(ev.drift_p) for ev in evs.values())
    if not noisy or sums.drift_select <= 0:
        return lambda i: (front[i].penalised, i)
    return lambda i: (not evs[i].drift_p >= sums.drift_select, front[i].n_terms,
                      front[i].penalised, i)


def _front_point(lib: TermLibrary, terms: list[int], R_fit: float, x, segs, dataset,
                 sums: SumsConfig, config: FitConfig, found, judge=None, sigma=None
                 ) -> FrontPoint:
    """The front point of library terms ``terms`` (indices into ``lib.kept``)."""
    nodes = tuple(int(lib.nodes[lib.kept[t]]) for t in terms)
    formulas = [lib.formula(t) for t in terms]
    law, r_true, r_random, penalised, status, message, ok, corrected = _final_fit(
        formulas, x, segs, dataset.variables, sums, config.factor, found, judge, sigma)
    return FrontPoint(len(nodes), nodes, R_fit, law, r_true, r_random, penalised,
                      int(status), message, ok, corrected=corrected)
