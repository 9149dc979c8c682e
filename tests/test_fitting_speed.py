"""Throughput changes of the fit stage that must not change any number: the plan's
distinct units, the shards' dispatch order, the collection of shard rows, the fitting
process's allocator settings."""

from __future__ import annotations

import numpy as np
import pytest

import hamiltonian_data
from dslsearch.enumerate import enumerate_formulas
from dslsearch.fitting import FitConfig
from dslsearch.fitting.plan import (GRADIENT_OPS, KIND_SECONDS, _unique_rows, plan_shards,
                                   unit_seconds)
from dslsearch.fitting.rows import FitRows, RowsBuilder
from dslsearch.fitting.malloc import release_free_memory, tune_malloc


@pytest.mark.parametrize("shape,high", [((0, 3), 5), ((1, 1), 5), ((7, 2), 3),
                                        ((5000, 4), 6), ((20000, 7), 1000)])
def test_unique_rows_equals_numpy_unique(shape, high):
    M = np.random.default_rng(shape[0]).integers(-1, high, shape).astype(np.int64)
    uniq, inv = _unique_rows(M)
    ref_uniq, ref_inv = np.unique(M, axis=0, return_inverse=True)
    assert np.array_equal(uniq, ref_uniq)
    assert np.array_equal(inv, ref_inv.reshape(-1))


@pytest.fixture(scope="module")
def plan6():
    ds = hamiltonian_data.load(system="pendulum")
    table = enumerate_formulas(ds.variables, 6)
    return plan_shards(table, FitConfig(shard_cost=2000))


def test_dispatch_order_is_a_permutation_longest_first(plan6):
    todo = list(reversed(range(len(plan6.shards))))
    order = plan6.dispatch_order(todo)
    assert sorted(order) == sorted(todo)
    weight = np.repeat(unit_seconds(plan6.kinds, plan6.ops), np.diff(plan6.unit_start))
    est = [weight[slice(*plan6.shards[k])].sum() for k in order]
    assert all(a >= b for a, b in zip(est, est[1:]))
    assert plan6.dispatch_order(todo[:3])[0] in todo[:3]
    assert plan6.dispatch_order([]) == []


def _ops(struct) -> int:
    return 0 if len(struct) == 1 else 1 + sum(_ops(c) for c in struct[1:])


def test_unit_seconds_count_a_gradient_fits_operations(plan6):
    grad = plan6.kinds == 2
    assert grad.any() and (~grad).any()
    assert plan6.ops.tolist() == [_ops(s) if g else 0 for s, g in zip(plan6.structs, grad)]
    w = unit_seconds(plan6.kinds, plan6.ops)
    assert np.array_equal(w[~grad], np.asarray(KIND_SECONDS)[plan6.kinds[~grad]])
    assert np.allclose(w[grad], KIND_SECONDS[2] * plan6.ops[grad] / GRADIENT_OPS)
    # without the operations (a plan made elsewhere): the kind alone
    assert np.array_equal(unit_seconds(plan6.kinds, None), np.asarray(KIND_SECONDS)[plan6.kinds])


def _part(idx, width, rng):
    n = len(idx)
    params = rng.normal(size=(n, width))
    params[rng.random((n, width)) < 0.2] = np.nan
    return FitRows(np.asarray(idx, np.int64), np.asarray(idx, np.int64) * 7 + 3, params,
                   rng.random(n), rng.random(n), rng.integers(0, 4, n).astype(np.int8),
                   [f"m{i % 3}" for i in idx])


@pytest.mark.parametrize("cover", ["all", "some"])
def test_rows_builder_equals_concat(cover):
    rng = np.random.default_rng(1)
    n = 500
    cand = rng.permutation(n) if cover == "all" else rng.permutation(n)[:321]
    cuts = np.sort(rng.choice(np.arange(1, len(cand)), 6, replace=False))
    widths = [1, 3, 2, 1, 4, 2, 3]
    parts = [_part(np.sort(c), w, rng) for c, w in zip(np.split(cand, cuts), widths)]
    parts.insert(2, FitRows.empty())
    builder = RowsBuilder(n, 2)        # narrower than the widest part: grown
    for p in parts:
        builder.add(p)
    got, ref = builder.result(), FitRows.concat(parts)
    for name in ("candidate_index", "node", "params", "R_true", "R_random", "status"):
        a, b = getattr(got, name), getattr(ref, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert np.array_equal(a, b, equal_nan=True), name
    assert got.message == ref.message
    assert got.params.flags.c_contiguous


def test_rows_builder_empty():
    got = RowsBuilder(0, 1).result()
    ref = FitRows.concat([])
    assert len(got) == len(ref) == 0 and got.params.shape == ref.params.shape


def test_tune_malloc_is_idempotent():
    first = tune_malloc()
    assert tune_malloc() is first


def test_release_free_memory_runs():
    assert release_free_memory() in (True, False)


def _shard_inputs(table, ds, plan, config):
    from dslsearch.fitting.objective import Segments
    from dslsearch.fitting.plan import segments
    from dslsearch.fitting.shard import ShardInput

    x, labels = segments(ds, config)
    seg = Segments(labels)
    fit_points = np.arange(0, x.shape[0], config.fit_stride)
    return [ShardInput(table.op, table.a, table.b, table.size, plan.units(k), x, seg.labels,
                       seg.shuffled(config.seed).labels, fit_points, float(config.factor),
                       config.adam, config.worker_memory_bytes())
            for k in range(len(plan.shards))]


def test_shared_subformulas_change_no_result(monkeypatch):
    """The grid computes a sub-formula that candidates share once: every shard's results
    equal those of computing each candidate's own (bit for bit)."""
    from dslsearch.fitting import npgrad
    from dslsearch.fitting.shard import fit_shard

    ds = hamiltonian_data.load(system="pendulum")
    table = enumerate_formulas(ds.variables, 6)
    config = FitConfig(shard_cost=3000)
    plan = plan_shards(table, config)
    kinds = [plan.kinds[np.searchsorted(plan.unit_start, a, "right") - 1]
             for a, _ in plan.shards]
    inputs = [inp for inp, kind in zip(_shard_inputs(table, ds, plan, config), kinds)
              if kind == 2][:4]
    calls = []
    real = npgrad._forward_shared
    monkeypatch.setattr(npgrad, "_forward_shared",
                        lambda *a: calls.append(1) or real(*a))
    shared = [fit_shard(inp) for inp in inputs]
    assert calls, "no shared sub-formula computed: the test tests nothing"
    monkeypatch.setattr(npgrad, "SHARED_OPS", frozenset())
    own = [fit_shard(inp) for inp in inputs]
    for a, b in zip(shared, own):
        for name in ("params", "r_true", "r_random", "status"):
            assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
        assert a.message == b.message


def test_forward_grid_equals_forward():
    from dslsearch.fitting import npgrad
    from dslsearch.ops import ADD, COS, EXP, MUL, SIN

    # cos(slot * P) op slot: rows 0, 1, 3 share cos(q*c) (slot id 7), row 2 uses sin
    topo = ("B", ("U", ("B", ("S",), ("P",))), ("S",))
    ops = np.asarray([[ADD, COS, MUL], [MUL, COS, MUL], [ADD, SIN, MUL], [ADD, COS, MUL],
                      [MUL, EXP, MUL]], np.int64)
    ids = np.asarray([[7, 1], [7, 2], [7, 1], [7, 3], [8, 1]], np.int64)
    rng = np.random.default_rng(0)
    node = {i: rng.normal(size=9) for i in (1, 2, 3, 7, 8)}
    slots = [np.stack([node[i] for i in ids[:, j]])[:, None, None, :] for j in range(2)]
    c = np.broadcast_to(np.linspace(-3, 3, 6)[:, None], (5, 1, 6, 1))
    ref, _ = npgrad.forward(topo, ops, slots, [c])
    got = npgrad.forward_grid(topo, ops, slots, [c], ids)
    assert np.array_equal(np.broadcast_to(ref, got.shape), got, equal_nan=True)
    first, inverse = npgrad._distinct_rows(np.stack([ops[:, 1], ids[:, 0]], 1))
    assert first.tolist() == [0, 2, 4] and inverse.tolist() == [0, 0, 1, 0, 2]
