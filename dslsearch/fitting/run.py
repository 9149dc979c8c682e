"""The fit stage in memory: every candidate of a table fitted, filtered and merged to laws.

:func:`fit_table` does no file I/O. A caller that keeps results (the ``fit_laws`` stage of
:mod:`noether_search.stages`) passes the shards it already holds as ``done`` and saves each
finished shard from ``on_shard``, so an interrupted run resumes shard by shard.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from dslsearch.fitting.backends import forks, run_shards, warm_workers
from dslsearch.fitting.config import FitConfig, effective_config, fit_key
from dslsearch.fitting.filter import FitStatus
from dslsearch.fitting.laws import merge_laws
from dslsearch.fitting.objective import Segments
from dslsearch.fitting.plan import ShardPlan, plan_shards, segments
from dslsearch.fitting.rows import FitRows, RowsBuilder
from dslsearch.fitting.shard import (ShardInput, ShardOutput, drop_values, keep_values,
                                     keep_values_forked, values_key)
from dslsearch.fitting.timeline import stamp
from dslsearch.law import Law

#: ``progress(candidates_done, n_candidates)``
Progress = Callable[[int, int], None]


@dataclass(frozen=True, eq=False)
class FitResult:
    """What :func:`fit_table` returns.

    Attributes:
        laws: merged laws, best (lowest R_true) first.
        fits: every candidate's fit results, in candidate order.
        n_candidates: candidates in the table; n_units: distinct fitting problems after
            stripping root-affine parameters; n_fitted: candidates with status OK;
            n_failed: NaN/inf or not converged; n_trivial; n_survivors: candidates passing
            the acceptance test (``config.test``).
        seconds: wall time of this call.
        key: ``d{depth}-{hash}``, the name of this fit run (:func:`fit_key`).
        shards_done: shards taken from ``done`` rather than fitted; shards_total: all shards.
        sums: the sum-of-terms search's result when it ran
            (:class:`~dslsearch.sums.SumsResult`), else None.
        independent: the independent laws among ``laws``
            (:func:`dslsearch.independence.independent_laws`), when computed, else None.
    """

    laws: list[Law]
    fits: FitRows
    n_candidates: int
    n_units: int
    n_fitted: int
    n_failed: int
    n_trivial: int
    n_survivors: int
    seconds: float
    key: str
    shards_done: int = 0
    shards_total: int = 0
    sums: object | None = None
    independent: object | None = None


def _candidate_rows(out: ShardOutput, k: int, plan: ShardPlan,
                    cand_ids: np.ndarray) -> FitRows:
    """Expand the unit results of shard ``k`` to its candidates (candidate order)."""
    cands = plan.candidates(k)
    j = plan.cand_unit[cands] - plan.shards[k][0]          # row of each candidate's unit
    recipe = plan.cand_recipe[cands]
    used = np.unique(recipe).tolist()
    p_max = max((plan.recipes[r][0] for r in used), default=0)
    params = np.full((len(cands), max(p_max, 1)), np.nan)
    for r in used:
        rows = np.nonzero(recipe == r)[0]
        _, kept, stripped = plan.recipes[r]
        for q, orig in enumerate(kept):
            params[rows, orig] = out.params[j[rows], q]
        for orig, neutral in stripped:
            params[rows, orig] = neutral
    return FitRows(cands.astype(np.int64), cand_ids[cands].astype(np.int64), params,
                   out.r_true[j], out.r_random[j], out.status[j],
                   [out.message[i] for i in j.tolist()])


def _result(table, laws: list[Law], fits: FitRows, plan: ShardPlan, config: FitConfig,
            key: str, n_reused: int, t0: float) -> FitResult:
    status = fits.status
    failed = (status == FitStatus.NONFINITE) | (status == FitStatus.NOT_CONVERGED)
    return FitResult(
        laws=laws, fits=fits, n_candidates=len(table.candidates), n_units=plan.n_units,
        n_fitted=int((status == FitStatus.OK).sum()), n_failed=int(failed.sum()),
        n_trivial=int((status == FitStatus.TRIVIAL).sum()),
        n_survivors=sum(law.n_merged for law in laws),
        seconds=time.perf_counter() - t0, key=key, shards_done=n_reused,
        shards_total=len(plan.shards))


def _in_thread(fn, *args, name: str = "thread") -> Callable[[], object]:
    """Start ``fn(*args)`` in a daemon thread; returns a function that waits for it and
    returns its result (or raises its exception). ``name``: its phase in the timeline."""
    box: dict = {}

    def target() -> None:
        stamp(name)
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the caller's wait
            box["error"] = exc
        finally:
            stamp("end")

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def wait():
        thread.join()
        if "error" in box:
            raise box["error"]
        return box.get("value")

    return wait


class _LazyRows:
    """The table's :class:`RowsBuilder` (each shard's rows go straight into arrays for the
    table, no list of shards to concatenate), with the rows of the shards ``done``; made
    on the first call, once the workers run: pages it fills after a fork would otherwise
    be copied, the old ones staying with the forked workers (about 85 MB at depth 9)."""

    def __init__(self, n_cand: int, plan: ShardPlan, done: Mapping[int, FitRows]):
        self.args, self.rows = (n_cand, plan, done), None

    def __call__(self) -> RowsBuilder:
        if self.rows is None:
            n_cand, plan, done = self.args
            self.rows = RowsBuilder(n_cand, max((r[0] for r in plan.recipes), default=1))
            for k in sorted(done):
                self.rows.add(done[k])
        return self.rows


def _import_all(names: tuple[str, ...]) -> None:
    for name in names:
        importlib.import_module(name)


def _warm_printing() -> None:
    """Import sympy and print one expression as the merge prints laws: the first sum
    sympy builds imports more of it (``sympy.tensor``, about 0.06 CPU s), which would
    otherwise come after the last shard, with one core idle. Changes no printed law."""
    import sympy

    x, y = sympy.Symbol("x", real=True), sympy.Symbol("y", real=True)
    sympy.sstr(x ** 2 - sympy.Float(2.5) * sympy.cos(y) + 1 / (x + y))


def _background_imports() -> None:
    """What the merge will need, imported beside the shards (forked workers of the merge
    inherit it): sympy for printing laws, scipy.special for the calibrated test's F
    distribution and scipy.optimize for the constants' intervals (``scipy.stats``, about
    0.7 CPU s more, is not needed)."""
    _warm_printing()
    _import_all(("scipy.special", "scipy.optimize"))


def _noise_floor_job(dataset, config: FitConfig) -> Callable[[], Callable[[], np.ndarray | None]]:
    """The noise floor of the calibrated test, to compute in the background: returns a
    function that starts it and returns a function that waits for it (None for the factor
    test). Its error, too short trajectories, is raised here, before any planning."""
    if config.test != "calibrated":
        return lambda: (lambda: None)
    from dslsearch.acceptance import NOISE_WINDOW, noise_floor

    if not any(np.shape(tr.x)[0] >= NOISE_WINDOW for tr in dataset.train):
        noise_floor(dataset.train)  # raises its error (no trajectory long enough)
    # started once the shards are planned: its work would otherwise compete with the
    # planning for this process's interpreter
    return lambda: _in_thread(noise_floor, dataset.train, name="noise floor")


def _kept_values(table, x: np.ndarray, vkey: str, budget: int) -> Callable[..., None]:
    """Start making the sub-formula values forked workers share (:func:`keep_values`):
    in a forked process writing to shared memory (:func:`keep_values_forked`), else in a
    thread; returns ``wait(cancel=False)``, which waits for them (``cancel``: stops the
    forked process, the values are not wanted)."""
    args = (table.op, table.a, table.b, table.size, x, vkey, budget)
    if hasattr(os, "fork"):
        return keep_values_forked(*args)
    join = _in_thread(keep_values, *args)
    return lambda cancel=False: join()


def _planned(table, dataset, config: FitConfig, x: np.ndarray, done: Mapping
             ) -> tuple[ShardPlan, str, str, Callable[..., None]]:
    """``(plan, key, values key, wait for the values)``: the shards planned while the
    sub-formula values forked workers share are made beside the planning (by a process
    forked from this one, or a thread where there is no fork; waited for before the
    workers fork; nothing to wait for without forked workers).

    Raises:
        ValueError: ``done`` names a shard the plan does not have.
    """
    budget = config.shared_memory_bytes() if forks(config) else config.worker_memory_bytes()
    vkey = values_key(table.op, table.a, table.b, x, budget)
    kept = (_kept_values(table, x, vkey, budget) if forks(config)
            else (lambda cancel=False: None))
    try:
        plan = plan_shards(table, config, split=forks(config))
        key = fit_key(config, dataset, table)
        if any(not 0 <= k < len(plan.shards) for k in done):
            raise ValueError(f"done: shards {sorted(done)} given, but fit run {key} has "
                             f"{len(plan.shards)} shards; pass the shards of this run only")
    except BaseException:
        kept(cancel=True)
        drop_values()
        raise
    return plan, key, vkey, kept


def fit_table(table, dataset, config: FitConfig = FitConfig(), progress: Progress | None = None,
              done: Mapping[int, FitRows] | None = None,
              on_shard: Callable[[int, FitRows], None] | None = None) -> FitResult:
    """Fit and filter every candidate of ``table`` on ``dataset``; merge survivors to laws.

    Args:
        table: a :class:`~dslsearch.enumerate.FormulaTable` over ``dataset``'s variables.
        dataset: a ``hamiltonian_data.Dataset`` (its training trajectories are used).
        config: settings; see :class:`FitConfig` (a table of fewer than
            ``config.min_parallel`` candidates is fitted in this process:
            :func:`~.config.effective_config`).
        progress: called as ``progress(candidates_done, n_candidates)``.
        done: shard index -> rows already fitted by an earlier run of the same
            :func:`fit_key` (those shards are not fitted again).
        on_shard: called as ``on_shard(k, rows)`` in this process as each shard finishes.

    Returns:
        :class:`FitResult`.

    Raises:
        ValueError: a bad backend, or ``done`` names a shard the plan does not have.
    """
    t0 = time.perf_counter()
    stamp("plan")
    config = effective_config(config, len(table.candidates))
    done = dict(done or {})
    warmed = warm_workers(config)  # worker start-up overlaps the planning below
    start_noise_floor = _noise_floor_job(dataset, config)
    x, labels = segments(dataset, config)
    plan, key, vkey, kept = _planned(table, dataset, config, x, done)
    seg = Segments(labels)
    rand = seg.shuffled(config.seed)
    fit_points = np.arange(0, x.shape[0], max(config.fit_stride, 1))
    n_cand = len(table.candidates)
    rows = _LazyRows(n_cand, plan, done)
    count = sum(plan.shard_cands[k] for k in done)
    if progress:
        progress(count, n_cand)

    stamp("wait:values")
    kept()
    stamp("dispatch")

    def make_input(k: int) -> ShardInput:
        return ShardInput(table.op, table.a, table.b, table.size, plan.units(k), x,
                          seg.labels, rand.labels, fit_points, float(config.factor),
                          config.adam, config.worker_memory_bytes(), vkey, plan.unit_kinds(k))

    def on_done(k: int, out: ShardOutput) -> None:
        nonlocal count
        part = _candidate_rows(out, k, plan, table.candidates)
        stamp("shard rows")
        if on_shard is not None:
            on_shard(k, part)
        rows().add(part)
        count += plan.shard_cands[k]
        if progress:
            progress(count, n_cand)

    background: list = []

    def started() -> None:  # once the workers run: the noise floor and imports beside them
        rows()
        background.append(start_noise_floor())
        if (config.workers or os.cpu_count() or 1) > 1:
            background.append(_in_thread(_background_imports,
                                         name="import sympy, scipy.special, scipy.optimize"))

    stamp("wait:warm workers")
    warmed()
    stamp("dispatch")
    # the longest shards first: short ones fill the tail (gradient fits planned last first)
    todo = plan.dispatch_order(k for k in reversed(range(len(plan.shards))) if k not in done)
    try:
        exited = run_shards(todo, make_input, config, on_done, started)
    finally:
        if forks(config):
            drop_values()
    try:
        laws, fits = _merged(table, x, seg, config, rows, background, start_noise_floor,
                             exited)
    finally:
        stamp("wait:workers exit")
        exited()
    stamp("end")
    return _result(table, laws, fits, plan, config, key, len(done), t0)


def _merged(table, x, seg: Segments, config: FitConfig, rows: _LazyRows, background: list,
            start_noise_floor, exited: Callable[[], None]) -> tuple[list[Law], FitRows]:
    """``(laws, fits)`` once every shard is back: the noise floor and imports waited for,
    the rows collected, the laws merged (``exited``, waiting for the shards' workers to
    exit, is called before the merge forks workers of its own)."""
    stamp("wait:noise floor")
    sigma = background[0]() if background else start_noise_floor()()
    stamp("wait:imports")
    for wait in background[1:]:
        wait()  # no thread running when the merge forks its workers
    stamp("rows result")
    fits = rows().result()
    stamp("merge")
    laws = merge_laws(table, x, fits, config, labels=seg.labels, sigma=sigma,
                      workers=(config.workers or os.cpu_count() or 1) if forks(config) else 1,
                      before_fork=exited)
    return laws, fits
