"""Workers forked from the calling process (``FitConfig.start``): when they are used, that
they run elsewhere and give every candidate's results of loky's workers and the laws and
evidence of one worker, bit for bit, and that a failing or dying worker is reported, never
waited for."""

from __future__ import annotations

import os
import sys
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest

from dslsearch.fitting import FitConfig, fit_table
from dslsearch.fitting import backends, laws, run, shard

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="forked workers: Linux only")


@pytest.fixture(scope="module")
def one_worker(table5, pendulum):
    return fit_table(table5, pendulum, FitConfig(workers=1, shard_cost=300))


def test_start_chooses_the_workers(monkeypatch):
    assert backends.forks(FitConfig(workers=2, start="fork"))
    assert not backends.forks(FitConfig(workers=2, start="loky"))
    assert not backends.forks(FitConfig(workers=1, start="fork"))
    assert not backends.forks(FitConfig(workers=2, backend="dask", start="fork"))
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert backends.forks(FitConfig(workers=2))
    monkeypatch.setitem(sys.modules, "torch", object())  # torch's thread pools: never fork
    assert not backends.forks(FitConfig(workers=2))
    with pytest.raises(ValueError, match="start: expected one of auto, fork, loky"):
        FitConfig(start="spawn")


def test_start_is_not_part_of_the_key(table5, pendulum):
    from dslsearch.fitting import fit_key

    assert (fit_key(FitConfig(start="fork"), pendulum, table5)
            == fit_key(FitConfig(start="loky"), pendulum, table5))


def _field(rows, name):
    return getattr(rows, name)


def test_forked_shards_run_elsewhere_and_equal_loky_and_one_worker(monkeypatch, table5,
                                                                   pendulum, one_worker):
    pids = []
    inner = backends.fit_shard

    def tagged(inp):   # runs in the worker (the forked module has this patch too)
        out = inner(inp)
        out.pid = os.getpid()
        return out

    rows_of = run._candidate_rows

    def seen(out, k, plan, cand_ids):
        pids.append(getattr(out, "pid", None))
        return rows_of(out, k, plan, cand_ids)

    monkeypatch.setattr(backends, "fit_shard", tagged)
    monkeypatch.setattr(run, "_candidate_rows", seen)
    res = fit_table(table5, pendulum, FitConfig(workers=2, shard_cost=300, start="fork",
                                              min_parallel=0))
    assert len(pids) == res.shards_total > 2
    assert None not in pids and os.getpid() not in pids and len(set(pids)) <= 2
    assert res.key == one_worker.key
    for name in ("candidate_index", "node", "params", "R_true", "R_random", "status"):
        a, b = _field(one_worker.fits, name), _field(res.fits, name)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name
    assert res.fits.message == one_worker.fits.message
    assert [(str(x), x.params.tobytes(), repr(x.evidence)) for x in res.laws] == \
        [(str(x), x.params.tobytes(), repr(x.evidence)) for x in one_worker.laws]
    assert not shard._VALUES_CACHE   # the shared sub-formula values are freed after the run
    loky = fit_table(table5, pendulum, FitConfig(workers=2, shard_cost=300, start="loky",
                                               min_parallel=0))
    for name in ("params", "R_true", "R_random", "status"):
        a, b = _field(loky.fits, name), _field(res.fits, name)
        assert a.tobytes() == b.tobytes(), name


def test_keep_values_are_what_a_worker_finds(table5, pendulum):
    from dslsearch.fitting.plan import segments

    x, _ = segments(pendulum, FitConfig())
    key = shard.values_key(table5.op, table5.a, table5.b, x, 16 << 20)
    shard.keep_values(table5.op, table5.a, table5.b, table5.size, x, key, 16 << 20)
    try:
        kept = shard._VALUES_CACHE[key]
        inp = shard.ShardInput(table5.op, table5.a, table5.b, table5.size, [], x,
                               np.zeros(len(x), int), np.zeros(len(x), int),
                               np.arange(len(x)), 100.0, FitConfig().adam, 16 << 20, key)
        assert shard._slot_values(inp) is kept
    finally:
        shard.drop_values()
    assert not shard._VALUES_CACHE


def test_map_forked_keeps_order_and_runs_elsewhere():
    data = np.arange(1000.0)   # inherited, not sent

    def fn(i):
        return os.getpid(), float(data[i::7].sum())

    out = backends.map_forked(fn, list(range(7)), 2)
    assert [s for _, s in out] == [float(data[i::7].sum()) for i in range(7)]
    assert os.getpid() not in {p for p, _ in out}


def test_map_forked_raises_a_workers_error():
    def fn(i):
        if i == 3:
            raise ValueError("item 3 is bad")
        return i

    with pytest.raises(ValueError, match="item 3 is bad"):
        backends.map_forked(fn, list(range(6)), 2)


def test_map_forked_reports_a_dead_worker():
    def fn(i):
        if i == 1:
            os._exit(3)   # killed, out of memory
        return i

    with pytest.raises(BrokenProcessPool):
        backends.map_forked(fn, list(range(4)), 2)


def test_evidence_in_forked_workers_equals_in_process(monkeypatch, table5, pendulum,
                                                      one_worker):
    from dslsearch.acceptance import noise_floor
    from dslsearch.fitting.objective import Segments
    from dslsearch.fitting.plan import segments

    x, labels = segments(pendulum, FitConfig())
    labels = Segments(labels).labels
    sigma = noise_floor(pendulum.train)
    fits = one_worker.fits
    ok = np.nonzero(np.isfinite(fits.R_true))[0][:40]
    members = [laws._member(table5, fits, int(i), None) for i in ok]
    assert len(members) == 40
    here = laws._evidence(members, x, labels, sigma, 1000, 1)
    calls = []
    real = backends.map_forked
    monkeypatch.setattr(laws, "FORK_EVIDENCE_MIN", 8)
    monkeypatch.setattr(backends, "map_forked",
                        lambda *a: calls.append(len(a[1])) or real(*a))
    forked = laws._evidence(members, x, labels, sigma, 1000, 2)
    assert calls == [16]   # eight chunks per worker
    assert [repr(e) for e in forked] == [repr(e) for e in here]


def test_forked_workers_write_through_their_own_streams(monkeypatch, tmp_path):
    # a progress bar's thread may hold the inherited stream's lock at the fork
    parent = open(tmp_path / "out.txt", "w")
    monkeypatch.setattr(sys, "stdout", parent)

    def fn(i):
        print("from worker", i)
        sys.stdout.flush()
        return sys.stdout is parent

    assert backends.map_forked(fn, [0, 1], 2) == [False, False]
    parent.flush()
    assert sorted((tmp_path / "out.txt").read_text().split("\n")[:2]) == \
        ["from worker 0", "from worker 1"]


def test_map_forked_of_nothing_starts_nothing():
    assert backends.map_forked(lambda i: i, [], 2) == []


def test_values_made_in_a_forked_process_equal_those_made_here(table5, pendulum):
    from dslsearch.fitting.plan import segments

    x, _ = segments(pendulum, FitConfig())
    budget = 16 << 20
    key = shard.values_key(table5.op, table5.a, table5.b, x, budget)
    try:
        shard.keep_values(table5.op, table5.a, table5.b, table5.size, x, key, budget)
        here = shard._VALUES_CACHE[key].kept
        here_ids, here_values = here.ids.copy(), here.values.copy()
        shard.drop_values()
        wait = shard.keep_values_forked(table5.op, table5.a, table5.b, table5.size, x, key,
                                        budget)
        assert key not in shard._VALUES_CACHE   # not held before it is made
        wait()
        there = shard._VALUES_CACHE[key].kept
        assert there.ids.tobytes() == here_ids.tobytes()
        assert there.values.tobytes() == here_values.tobytes()
        assert len(here_values) > 100 and np.isfinite(here_values).any()
        # the memory is shared with processes forked afterwards: a child's writes show here
        pid = os.fork()
        if pid == 0:
            there.values[0, 0] = 12345.0
            os._exit(0)
        os.waitpid(pid, 0)
        assert there.values[0, 0] == 12345.0
    finally:
        shard.drop_values()


def test_values_are_made_here_when_the_forked_process_dies(monkeypatch, table5, pendulum):
    from dslsearch.fitting import evaluate
    from dslsearch.fitting.plan import segments

    x, _ = segments(pendulum, FitConfig())
    budget = 16 << 20
    key = shard.values_key(table5.op, table5.a, table5.b, x, budget)
    shard.keep_values(table5.op, table5.a, table5.b, table5.size, x, key, budget)
    want = shard._VALUES_CACHE[key].kept.values.copy()
    shard.drop_values()
    parent, calls = os.getpid(), []
    real = evaluate.NodeValues.compute

    def dies_in_the_child(self, *args):
        if os.getpid() != parent:
            os._exit(9)   # killed, out of memory
        calls.append(1)
        return real(self, *args)

    monkeypatch.setattr(evaluate.NodeValues, "compute", dies_in_the_child)
    try:
        shard.keep_values_forked(table5.op, table5.a, table5.b, table5.size, x, key, budget)()
        assert calls == [1]
        assert shard._VALUES_CACHE[key].kept.values.tobytes() == want.tobytes()
    finally:
        shard.drop_values()


def test_a_failing_plan_leaves_no_forked_process(monkeypatch, table5, pendulum):
    def broken(*args, **kwargs):
        raise RuntimeError("planning failed")

    pids = []
    real_fork = os.fork

    def fork():
        pid = real_fork()
        pids.append(pid)
        return pid

    monkeypatch.setattr(run, "plan_shards", broken)
    monkeypatch.setattr(os, "fork", fork)
    with pytest.raises(RuntimeError, match="planning failed"):
        fit_table(table5, pendulum, FitConfig(workers=2, start="fork", min_parallel=0))
    assert not shard._VALUES_CACHE
    assert len(pids) == 1 and pids[0] > 0
    with pytest.raises(ChildProcessError):
        os.waitpid(pids[0], os.WNOHANG)   # waited for: not left running nor a zombie


def test_forked_call_returns_the_childs_result():
    from dslsearch.fitting.forked import ForkedCall

    data = np.arange(10_000.0)   # inherited, not sent
    call = ForkedCall(lambda lo: (os.getpid(), float(data[lo:].sum())), 5000)
    pid, total = call.result()
    assert pid == call.pid != os.getpid() and total == float(data[5000:].sum())
    with pytest.raises(ChildProcessError):
        os.waitpid(call.pid, os.WNOHANG)   # waited for


def test_forked_call_computes_here_what_the_child_could_not():
    from dslsearch.fitting.forked import ForkedCall

    parent = os.getpid()

    def fn(x):
        if os.getpid() != parent:
            raise MemoryError("no memory in the child")
        return x * 2

    assert ForkedCall(fn, 21).result() == 42
    with pytest.raises(ValueError, match="bad in both"):
        ForkedCall(lambda: (_ for _ in ()).throw(ValueError("bad in both"))).result()


def test_forked_call_cancel_stops_the_child():
    import time

    from dslsearch.fitting.forked import ForkedCall

    call = ForkedCall(time.sleep, 60)
    t0 = time.perf_counter()
    call.cancel()
    assert time.perf_counter() - t0 < 10
    with pytest.raises(ChildProcessError):
        os.waitpid(call.pid, os.WNOHANG)
    call.cancel()   # twice: nothing left to do


def test_small_table_is_fitted_in_this_process(table5, pendulum, monkeypatch):
    """Fewer candidates than ``min_parallel``: no worker is forked, the same results."""
    from dslsearch.fitting.config import effective_config

    n = len(table5.candidates)
    assert effective_config(FitConfig(workers=2), n).workers == 1
    assert effective_config(FitConfig(workers=2, min_parallel=n), n).workers == 2
    assert effective_config(FitConfig(workers=2, min_parallel=0), n).workers == 2
    assert effective_config(FitConfig(workers=2, backend="dask"), n).workers == 2
    with pytest.raises(ValueError, match="min_parallel"):
        FitConfig(min_parallel=-1)
    forked = fit_table(table5, pendulum, FitConfig(workers=2, start="fork", min_parallel=0))
    pids = []
    real_fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: pids.append(1) or real_fork())
    alone = fit_table(table5, pendulum, FitConfig(workers=2, start="fork"))
    assert pids == []
    assert alone.key == forked.key
    for name in ("params", "R_true", "R_random", "status"):
        assert _field(alone.fits, name).tobytes() == _field(forked.fits, name).tobytes(), name
    assert [str(x) for x in alone.laws] == [str(x) for x in forked.laws]
