"""Accepted candidates merged into :class:`~dslsearch.law.Law` objects.

Which candidates are accepted depends on ``config.test``: ``"calibrated"`` (default,
:mod:`dslsearch.acceptance`: conserved up to the noise floor estimated from the data, and
telling trajectories apart at a Bonferroni-corrected p-value) or ``"factor"`` (the paper's
random-sequence test, ``R_random >= factor * R_true``). Each law carries the
:class:`~dslsearch.acceptance.Evidence` it passed by.

Two survivors are one law when their values on the training points, standardised, agree up
to sign (``1 - |corr| <= merge_tol``). The representative of a law is its simplest member
(fewest nodes, then fewest parameters, then shortest printed form, then lowest R_true).
Laws are ordered best first (lowest R_true).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dslsearch.acceptance import Evidence, law_evidence, noisy_points, passes
from dslsearch.fitting.config import FitConfig
from dslsearch.fitting.filter import FitStatus, accepted
from dslsearch.fitting.merge import merge_groups
from dslsearch.fitting.rows import FitRows
from dslsearch.fitting.timeline import stamp
from dslsearch.law import Law


def _member(table, fits: FitRows, i: int, ev: Evidence | None) -> Law:
    formula = table.formula(int(fits.node[i]))
    return Law(formula, fits.params[i, : formula.n_params], table.variables,
               R_true=float(fits.R_true[i]), R_random=float(fits.R_random[i]),
               node=int(fits.node[i]), evidence=ev)


def _factor_survivors(table, fits: FitRows, config: FitConfig) -> list[Law]:
    acc = np.nonzero(accepted(fits.status, fits.R_true, fits.R_random, config.factor))[0]
    with np.errstate(all="ignore"):
        ratio = fits.R_random / fits.R_true
    return [_member(table, fits, int(i), Evidence("factor", factor=float(ratio[i])))
            for i in acc]


#: fewest candidates whose evidence is computed in forked workers (fewer: in this process)
FORK_EVIDENCE_MIN = 256


def calibrated_survivors(table, x: np.ndarray, labels: np.ndarray, fits: FitRows,
                         config: FitConfig, sigma: np.ndarray, workers: int = 1,
                         before_fork: Callable[[], None] | None = None) -> list[Law]:
    """The candidates passing the calibrated test (:mod:`dslsearch.acceptance`), as laws
    with their evidence.

    Args:
        table: the candidate table; x: ``(N, d)`` training points (SI); labels: ``(N,)``
            their trajectory or window index; fits: every candidate's fit (candidate order);
        config: ``acceptance`` thresholds; sigma: ``(d,)`` noise floor per variable.
        workers: processes forked from this one that share the candidates' evidence
            (:func:`~.backends.map_forked`; at least :data:`FORK_EVIDENCE_MIN` candidates);
            1: all in this process. The evidence is the same either way.
        before_fork: called before forking those workers (waits for other processes to
            exit first).
    """
    acc = config.acceptance
    ok = fits.status == FitStatus.OK
    n_tests = max(int(ok.sum()), 1)
    # the look cap above max_r is for noise, which raises R of a true invariant; on
    # noise-free points the signal's R is R, so nothing above max_r can pass
    cap = acc.max_look_r if noisy_points(x, labels) else acc.max_r
    with np.errstate(all="ignore"):
        look = np.nonzero(ok & np.isfinite(fits.R_true) & (fits.R_true <= cap))[0]
    look = look[np.argsort(fits.R_true[look], kind="stable")][: acc.max_tested]
    members = [_member(table, fits, int(i), None) for i in look]
    stamp("evidence")
    evidence = _evidence(members, x, labels, sigma, n_tests, workers, before_fork)
    return [law.with_evidence(ev) for law, ev in zip(members, evidence) if passes(ev, acc, True)]


def _evidence(members: list[Law], x: np.ndarray, labels: np.ndarray, sigma: np.ndarray,
              n_tests: int, workers: int, before_fork: Callable[[], None] | None = None
              ) -> list:
    """``law_evidence`` of each member, in order; in ``workers`` forked processes, each
    taking contiguous chunks (eight per worker, so that they finish together)."""
    def chunk_evidence(chunk: list[Law]) -> list:
        return [law_evidence(law, x, labels, sigma, n_tests) for law in chunk]

    if workers <= 1 or len(members) < FORK_EVIDENCE_MIN:
        return chunk_evidence(members)
    from dslsearch.fitting.backends import map_forked

    if before_fork is not None:
        before_fork()
    bounds = np.linspace(0, len(members), 8 * workers + 1).astype(int)
    chunks = [members[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]
    return [ev for part in map_forked(chunk_evidence, chunks, workers) for ev in part]


def merge_laws(table, x: np.ndarray, fits: FitRows, config: FitConfig,
               labels: np.ndarray | None = None, sigma: np.ndarray | None = None,
               workers: int = 1, before_fork: Callable[[], None] | None = None) -> list[Law]:
    """The laws of the accepted candidates of ``fits``.

    Args:
        table: the :class:`~dslsearch.enumerate.FormulaTable` the fits belong to.
        x: (N, d) training points, SI base units.
        fits: every candidate's fit results (candidate order).
        config: ``test``, ``factor``, ``acceptance`` and ``merge_tol``.
        labels: ``(N,)`` trajectory or window index of each point; sigma: ``(d,)`` noise
            floor (:func:`dslsearch.acceptance.noise_floor`). Both needed by the calibrated
            test.
        workers: forked processes that share the calibrated test's evidence
            (:func:`calibrated_survivors`); 1: none. The laws are the same either way.
        before_fork: called before forking them.

    Returns:
        Laws, lowest R_true first (ties: smaller first), each with its evidence.

    Raises:
        ValueError: the calibrated test without ``labels`` and ``sigma``.
    """
    if config.test == "factor":
        members = _factor_survivors(table, fits, config)
    elif labels is None or sigma is None:
        raise ValueError("labels, sigma: the calibrated test needs the points' trajectory "
                         "labels and the noise floor; pass both, or use test='factor'")
    else:
        members = calibrated_survivors(table, x, labels, fits, config, sigma, workers,
                                       before_fork)
    return merge_members(members, x, config.merge_tol)


def merge_members(members: list[Law], x: np.ndarray, merge_tol: float) -> list[Law]:
    """Accepted laws merged (values equal up to sign, scale and offset), simplest member as
    representative; lowest R_true first."""
    stamp("merge members")
    if not members:
        return []
    values = np.asarray([member(x) for member in members])          # (n_acc, N)
    exprs = [str(member) for member in members]
    sizes = np.asarray([member.size for member in members])
    r_true = np.asarray([member.R_true for member in members])
    # simplest first: fewest nodes, fewest parameters, shortest printed form, then best R
    order = np.lexsort((r_true, [len(e) for e in exprs],
                        [member.n_params for member in members], sizes))
    laws = []
    for group in merge_groups(values, order, merge_tol):
        rep = members[group[0]]
        laws.append(Law(rep.formula, rep.params, rep.variables, R_true=rep.R_true,
                        R_random=rep.R_random, n_merged=len(group), node=rep.node,
                        variants=tuple(dict.fromkeys(exprs[j] for j in group)),
                        evidence=rep.evidence))
    laws.sort(key=lambda law: (law.R_true, law.size))
    return laws
