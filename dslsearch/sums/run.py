"""The sum-of-terms search in memory: library, beam search, final fits, the Pareto front.

:func:`fit_sums` does no file I/O; :func:`noether_search.stages.fit_laws` caches its result
in a store (codec ``fit-sums``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dslsearch.fitting.config import FitConfig
from dslsearch.fitting.filter import FitStatus, accepted
from dslsearch.fitting.objective import Segments, centred, r_score
from dslsearch.fitting.optimise import solve_affine
from dslsearch.fitting.plan import segments
from dslsearch.law import Law
from dslsearch.sums.compose import sum_law
from dslsearch.sums.config import SumsConfig
from dslsearch.sums.library import TermLibrary, build_library
from dslsearch.sums.select import TermSet, beam_search

#: ``progress(steps_done, n_steps)``
Progress = Callable[[int, int], None]


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
        accepted: passes the random-sequence test (``R_random >= factor * R_true``).
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


@dataclass(frozen=True, eq=False)
class SumsResult:
    """What :func:`fit_sums` returns.

    Attributes:
        laws: the accepted front point with the lowest penalised score, as a law with
            ``search="sums"`` (empty when no point passes the random-sequence test).
        front: the Pareto front, fewest terms first (R falls along it).
        chosen: index into ``front`` of the law in ``laws`` (-1: none).
        term_nodes, term_status, duplicate_of: the library's terms
            (:class:`~dslsearch.sums.TermLibrary`), one entry per parameter-free candidate.
        n_library: terms left for the selection after screening and deduplication.
        config: the settings; seconds: wall time.
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


def _relabel(labels: np.ndarray) -> np.ndarray:
    return np.unique(labels, return_inverse=True)[1].reshape(-1)


def _final_fit(formulas, x: np.ndarray, segs: tuple[Segments, Segments], variables,
               sums: SumsConfig, factor: float) -> tuple:
    """``(law, R_true, R_random, penalised, status, message, accepted)`` of one term set,
    coefficients fitted on all training points."""
    with np.errstate(all="ignore"):
        F = np.stack([np.broadcast_to(f.evaluate(x), x.shape[:1]) for f in formulas])
        if not np.isfinite(F).all():
            return None, math.nan, math.nan, math.nan, FitStatus.NONFINITE, \
                FitStatus.NONFINITE.message, False
        norms = np.sqrt(np.einsum("kn,kn->k", centred(F), centred(F)))
        R, V = solve_affine((F / norms[:, None])[None], list(segs))     # (2, 1), (2, 1, k)
    weights = V[0, 0]
    if not np.isfinite(R[0, 0]) or not np.isfinite(weights).all():
        return None, math.nan, math.nan, math.nan, FitStatus.TRIVIAL, \
            "constant on the data for every choice of coefficients", False
    law = sum_law(formulas, weights / norms, weights, variables)
    values = law(x)
    r_true = float(r_score(values, segs[0]))
    r_random = float(np.fmin(r_score(values, segs[1]), R[1, 0]))
    if not np.isfinite(values).all() or not np.isfinite(law.params).all():
        return None, math.nan, math.nan, math.nan, FitStatus.NONFINITE, \
            FitStatus.NONFINITE.message, False
    law = Law(law.formula, law.params, law.variables, R_true=r_true, R_random=r_random,
              search="sums")
    ok = bool(accepted(np.asarray([FitStatus.OK]), np.asarray([r_true]),
                       np.asarray([r_random]), factor)[0])
    # below `exact` R is round-off: such laws differ only in their number of terms
    penalised = math.log10(max(r_true, sums.exact)) + len(formulas) * math.log10(sums.gain)
    return law, r_true, r_random, penalised, FitStatus.OK, FitStatus.OK.message, ok


def _front(levels: list[list[TermSet]]) -> list[TermSet]:
    """The best set of each size that improves on every smaller size (R strictly falls)."""
    out: list[TermSet] = []
    for level in levels:
        if level and (not out or level[0].R < out[-1].R):
            out.append(level[0])
    return out


def fit_sums(dataset, table=None, config: FitConfig = FitConfig(),
             sums: SumsConfig = SumsConfig(), progress: Progress | None = None) -> SumsResult:
    """Search sums ``c_1 phi_1 + … + c_k phi_k`` of parameter-free terms for a conserved one.

    Args:
        dataset: a ``hamiltonian_data.Dataset`` (its training trajectories are used).
        table: a :class:`~dslsearch.enumerate.FormulaTable` over the dataset's variables of
            depth >= ``sums.term_size`` (the terms are its parameter-free candidates);
            default, or when it is shallower: enumerated to ``sums.term_size`` (with the
            table's operators).
        config: the fit stage's settings: ``factor``, ``seed``, ``fit_stride``, ``window``.
        sums: the search's own settings (:class:`SumsConfig`).
        progress: called as ``progress(steps_done, n_steps)``.

    Returns:
        :class:`SumsResult`.
    """
    from dslsearch.enumerate import enumerate_formulas

    t0 = time.perf_counter()
    n_steps = sums.max_terms + 2
    if table is None or table.depth < sums.term_size:  # the same operators as the table's
        ops = tuple(table.ops) if table is not None and getattr(table, "ops", None) else None
        table = enumerate_formulas(dataset.variables, sums.term_size, ops=ops)
    x, labels = segments(dataset, config)
    seg = Segments(labels)
    segs = (seg, seg.shuffled(config.seed))
    fit_points = np.arange(0, x.shape[0], max(config.fit_stride, 1))
    lib = build_library(table, x, Segments(_relabel(labels[fit_points])), fit_points,
                        sums.term_size, sums.dedup_digits)
    if progress:
        progress(1, n_steps)
    levels = beam_search(lib.Z, lib.Zw, table.size[lib.nodes[lib.kept]].astype(np.int64),
                         sums.max_terms, sums.beam, sums.exact, sums.pair_screen,
                         progress=(lambda k: progress(1 + k, n_steps)) if progress else None)
    front = [_front_point(lib, table, ts, x, segs, dataset, sums, config)
             for ts in _front(levels)]
    passing = [i for i, p in enumerate(front) if p.accepted]
    chosen = min(passing, key=lambda i: (front[i].penalised, i)) if passing else -1
    if progress:
        progress(n_steps, n_steps)
    return SumsResult(laws=[front[chosen].law] if chosen >= 0 else [], front=tuple(front),
                      chosen=chosen, term_nodes=lib.nodes, term_status=lib.status,
                      duplicate_of=lib.duplicate_of, n_library=lib.n_terms, config=sums,
                      seconds=time.perf_counter() - t0)


def _front_point(lib: TermLibrary, table, ts: TermSet, x, segs, dataset, sums: SumsConfig,
                 config: FitConfig) -> FrontPoint:
    nodes = tuple(int(lib.nodes[lib.kept[t]]) for t in ts.terms)
    formulas = [table.formula(n) for n in nodes]
    law, r_true, r_random, penalised, status, message, ok = _final_fit(
        formulas, x, segs, dataset.variables, sums, config.factor)
    return FrontPoint(len(nodes), nodes, ts.R, law, r_true, r_random, penalised,
                      int(status), message, ok)
