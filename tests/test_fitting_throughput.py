"""Throughput changes of the fit stage that must not change any number: the planner's
memoised classification of skeletons, the plan's unit kinds sent with each shard, Adam run
over all screened candidates of a topology at once."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import hamiltonian_data
from dslsearch.enumerate import enumerate_formulas
from dslsearch.fitting import FitConfig
from dslsearch.fitting.objective import Segments
from dslsearch.fitting.plan import (_Classifier, _kind, _reduce_all, _sort_key, plan_shards,
                                    segments)
from dslsearch.fitting.shard import ShardInput, _group_units, _struct_kind, fit_shard


@pytest.fixture(scope="module")
def table6(pendulum):
    return enumerate_formulas(pendulum.variables, 6)


@pytest.fixture(scope="module")
def plan6(table6):
    return plan_shards(table6, FitConfig(shard_cost=2000))


def test_classifier_equals_kind_and_sort_key(table6):
    structs = _reduce_all(table6)[0]
    classify = _Classifier()
    kinds = [classify.kind(s) for s in structs]
    assert kinds == [_kind(s) for s in structs]
    assert set(kinds) == {0, 1, 2}
    assert [classify.sort_key(s, k) for s, k in zip(structs, kinds)] == \
        [_sort_key(s, k) for s, k in zip(structs, kinds)]


def test_unit_kinds_are_each_units_kind(plan6):
    seen = set()
    for k in range(len(plan6.shards)):
        units, kinds = plan6.units(k), plan6.unit_kinds(k)
        assert kinds.dtype == np.int8 and len(kinds) == len(units)
        assert kinds.tolist() == [_struct_kind(u.struct) for u in units]
        seen.update(kinds.tolist())
        assert _group_units(units, kinds) == _group_units(units)
    assert seen == {0, 1, 2}


def _inputs(table, ds, plan, config, memory_bytes, kinds=True):
    x, labels = segments(ds, config)
    seg = Segments(labels)
    fit_points = np.arange(0, x.shape[0], config.fit_stride)
    return [ShardInput(table.op, table.a, table.b, table.size, plan.units(k), x, seg.labels,
                       seg.shuffled(config.seed).labels, fit_points, float(config.factor),
                       config.adam, memory_bytes, "",
                       plan.unit_kinds(k) if kinds else None)
            for k in range(len(plan.shards))]


def _assert_same(a, b):
    for name in ("params", "r_true", "r_random", "status"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
    assert a.message == b.message


def _count_adam(monkeypatch):
    """Record the batch size of every ``npgrad.adam`` call: (sizes list, the real adam)."""
    from dslsearch.fitting import npgrad

    sizes = []
    real = npgrad.adam

    def counted(topo, op_c, *args):
        sizes.append(len(op_c))
        return real(topo, op_c, *args)

    monkeypatch.setattr(npgrad, "adam", counted)
    return sizes, real


def test_adam_batched_over_grid_chunks_changes_no_result(monkeypatch):
    """Adam refines the screened candidates of all grid chunks together: the same numbers
    as refining each candidate alone."""
    from dslsearch.fitting import npgrad

    ds = hamiltonian_data.load(system="double-pendulum")
    table = enumerate_formulas(ds.variables, 5)
    config = FitConfig(shard_cost=2000)
    plan = plan_shards(table, config)
    inputs = [inp for k, inp in enumerate(_inputs(table, ds, plan, config, 64 << 20))
              if (plan.unit_kinds(k) == 2).any()]
    sizes, real = _count_adam(monkeypatch)
    together = [fit_shard(inp) for inp in inputs]
    assert max(sizes, default=0) > 1, "Adam never refined several candidates together"

    def one_at_a_time(topo, op_c, sl, start, *args):
        parts = [real(topo, op_c[g:g + 1], [s[g:g + 1] for s in sl], start[g:g + 1], *args)
                 for g in range(len(op_c))]
        return tuple(np.concatenate([p[j] for p in parts], 1) for j in range(3))

    monkeypatch.setattr(npgrad, "adam", one_at_a_time)
    alone = [fit_shard(dataclasses.replace(inp, kinds=None)) for inp in inputs]
    for a, b in zip(together, alone):
        _assert_same(a, b)


def test_fit_gradient_refines_rows_of_every_chunk(monkeypatch):
    """The Adam results land on the candidates they belong to: grid chunks of one candidate,
    refined together, equal each candidate fitted on its own."""
    from dslsearch.fitting import npgrad
    from dslsearch.fitting.optimise import AdamConfig
    from dslsearch.ops import COS, MUL, SIN

    topo = ("B", ("U", ("B", ("P",), ("S",))), ("S",))
    rng = np.random.default_rng(1)
    N, G = 60, 5
    q = rng.uniform(-2, 2, (G, N))
    p = rng.normal(size=(G, N))
    ops = np.asarray([[MUL, COS, MUL], [MUL, SIN, MUL], [MUL, COS, MUL], [MUL, SIN, MUL],
                      [MUL, COS, MUL]], np.int64)
    seg = Segments(np.repeat(np.arange(6), 10))
    config = dataclasses.replace(AdamConfig(), screen=2.0, steps=20)
    # grid chunks of one candidate (24 starts x 60 points), one Adam batch of all five
    sizes, real = _count_adam(monkeypatch)
    together = npgrad.fit_gradient(topo, ops, [q, p], [seg], config, max_elements=24 * N)
    assert sizes == [G]
    for g in range(G):
        alone = npgrad.fit_gradient(topo, ops[g:g + 1], [q[g:g + 1], p[g:g + 1]], [seg],
                                    config)
        for x, y in zip(together, alone):
            assert np.array_equal(x[:, g], y[:, 0], equal_nan=True)


@pytest.mark.parametrize("keep", [True, False])
def test_dag_extend_equals_new_per_node(keep):
    """The enumeration adds a level's nodes in bulk: the same arrays, levels, keys and
    counts as adding them one at a time."""
    from dslsearch.enumerate import _Dag, _check_points
    from dslsearch.ops import ADD, MUL, SIN

    def dag():
        d = _Dag(5, ("add", "mul", "sin"))  # keys kept up to size 2
        d.add_leaves([(("m", 1),), (("s", -1),)], _check_points(2))
        return d

    one, bulk = dag(), dag()
    v = np.arange(12.0)
    nodes = [(ADD, 0, 1, 0, False, v), (SIN, 0, -1, 0, False, v + 1),
             (MUL, 2, 0, 1, True, None), (ADD, 1, 1, 0, False, v + 2)]
    for op, a, b, u, hp, val in nodes:
        one.new(op, a, b, 2, u, hp, val, keep)
    bulk.extend(*[list(col) for col in zip(*nodes)][:3], 2,
                *[list(col) for col in zip(*nodes)][3:], keep)
    for name in ("ops", "aa", "bb", "sizes", "node_uid", "has_param", "levels", "keys",
                 "counts"):
        assert getattr(one, name) == getattr(bulk, name), name
    assert len(one.values) == len(bulk.values)
    assert all((x is None and y is None) or np.array_equal(x, y)
               for x, y in zip(one.values, bulk.values))
    assert len(one.ops) == (3 + 4 if keep else 3) and one.counts[2] == 4
    assert len(one.keys) == len(one.ops)


@pytest.mark.parametrize("shape", [(7, 60), (3, 1, 4, 60), (60,)])
def test_segment_means_broadcast_equals_repeat(shape):
    """Segments of equal length subtract their means through a reshape: the same numbers
    as repeating the means over the points."""
    from dslsearch.fitting.objective import minus_segment_means, within

    seg = Segments(np.repeat(np.arange(6), 10))
    assert seg.equal and not Segments(np.repeat(np.arange(3), [10, 20, 30])).equal
    rng = np.random.default_rng(3)
    V = rng.normal(size=shape) * rng.uniform(0.1, 1e3, size=shape[:-1] + (1,))
    means = np.add.reduceat(V, seg.starts, axis=-1) / seg.counts
    ref = V - np.repeat(means, seg.counts.astype(np.int64), axis=-1)
    assert np.array_equal(minus_segment_means(V, means, seg), ref)
    Vc = V - V.mean(-1, keepdims=True)
    means_c = np.add.reduceat(Vc, seg.starts, axis=-1) / seg.counts
    assert np.array_equal(within(Vc, seg),
                          Vc - np.repeat(means_c, seg.counts.astype(np.int64), axis=-1))


def test_closure_with_known_nodes_equals_a_plain_walk(table6):
    """Sub-formula values of a batch: the nodes to compute (reachable from the batch's
    slots, stopping at and leaving out the kept nodes), sorted, as a plain walk finds them."""
    from dslsearch.fitting.evaluate import closure
    from dslsearch.fitting.skeleton import parameter_counts
    from dslsearch.ops import arities

    op, a, b = table6.op, table6.a, table6.b
    free = np.nonzero(parameter_counts(op, a, b) == 0)[0]
    known = np.zeros(len(op), bool)
    known[free[table6.size[free] <= 3]] = True
    arity = arities()
    rng = np.random.default_rng(5)
    for roots in (free[rng.integers(0, len(free), 40)], free[:3], free[-1:]):
        seen, todo = set(), [int(r) for r in roots]
        while todo:
            n = todo.pop()
            if n in seen or known[n]:
                continue
            seen.add(n)
            todo += [int(c) for c in (a[n], b[n])[: arity[op[n]]]]
        got = closure(op, a, b, roots, known)
        assert got.dtype == np.int64 and got.tolist() == sorted(seen)


def _same_reduction(got: tuple, want: tuple) -> None:
    structs, rows, cs, cr, crec, recipes = got
    assert structs == want[0] and recipes == want[5]
    assert len(rows) == len(want[1])
    for r, w in zip(rows, want[1]):
        assert r.dtype == w.dtype and r.shape == w.shape and r.tobytes() == w.tobytes()
    for a, b in zip((cs, cr, crec), want[2:5]):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_reductions_of_two_ranges_joined_equal_the_whole(table6):
    from dslsearch.fitting.plan import _join, _reduce_range

    n = len(table6.candidates)
    whole = _reduce_range(table6, 0, n)
    assert len(whole[0]) > 100 and len(whole[5]) > 3
    for mid in (0, 1, n // 3, n // 2, n - 1, n):
        _same_reduction(_join(_reduce_range(table6, 0, mid), _reduce_range(table6, mid, n)),
                        whole)


def test_planning_split_over_a_forked_process_gives_the_same_plan(monkeypatch, table6, plan6):
    import os

    from dslsearch.fitting import plan as plan_mod

    monkeypatch.setattr(plan_mod, "SPLIT_MIN", 0)
    pids, real_fork = [], os.fork

    def fork():
        pid = real_fork()
        pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    _same_reduction(_reduce_all(table6, split=True), _reduce_all(table6))
    split = plan_shards(table6, FitConfig(shard_cost=2000), split=True)
    assert len(pids) == 2 and all(p > 0 for p in pids)
    for name in ("unit_start", "cand_unit", "cand_recipe", "cand_order", "kinds"):
        a, b = getattr(split, name), getattr(plan6, name)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name
    assert split.structs == plan6.structs and split.recipes == plan6.recipes
    assert split.shards == plan6.shards and split.shard_cands == plan6.shard_cands
    assert all(a.tobytes() == b.tobytes() for a, b in zip(split.slots, plan6.slots))
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)   # waited for


def test_planning_reduces_here_what_a_dead_forked_process_left(monkeypatch, table6):
    import os

    from dslsearch.fitting import plan as plan_mod

    monkeypatch.setattr(plan_mod, "SPLIT_MIN", 0)
    parent, real = os.getpid(), plan_mod._reduce_range

    def dies_in_the_child(*args):
        if os.getpid() != parent:
            os._exit(9)   # killed, out of memory
        return real(*args)

    monkeypatch.setattr(plan_mod, "_reduce_range", dies_in_the_child)
    _same_reduction(_reduce_all(table6, split=True), real(table6, 0, len(table6.candidates)))


def test_planning_stops_the_forked_half_when_its_own_half_fails(monkeypatch, table6):
    import os
    import time

    from dslsearch.fitting import plan as plan_mod

    monkeypatch.setattr(plan_mod, "SPLIT_MIN", 0)
    parent, pids, real_fork = os.getpid(), [], os.fork

    def fork():
        pid = real_fork()
        pids.append(pid)
        return pid

    def slow_or_failing(*args):
        if os.getpid() != parent:
            time.sleep(60)
        raise RuntimeError("interrupted")

    monkeypatch.setattr(os, "fork", fork)
    monkeypatch.setattr(plan_mod, "_reduce_range", slow_or_failing)
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match="interrupted"):
        _reduce_all(table6, split=True)
    assert time.perf_counter() - t0 < 30 and len(pids) == 1
    with pytest.raises(ChildProcessError):
        os.waitpid(pids[0], os.WNOHANG)   # stopped and waited for
