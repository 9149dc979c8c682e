"""Fit stage at scale: the compact plan, the memory budget, the optimiser, concurrent runs.

Each compares the scalable path with a direct reference computation, bit for bit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import hamiltonian_data
from dslsearch.fitting import FitConfig, fit_table
from dslsearch.fitting.evaluate import NodeValues, SlotValues
from dslsearch.fitting.optimise import _Adam, evaluate_topology, linearise, topology
from dslsearch.fitting.plan import plan_shards
from dslsearch.fitting.skeleton import SkeletonBuilder, n_struct_params, parameter_counts
from noether_search.stages.candidates import enumerate_candidates


@pytest.fixture(scope="module")
def table5(pendulum):
    return enumerate_candidates(pendulum, 5)


def _reference_plan(table, budget: int):
    """The plan computed the direct way: an object per candidate, a dict of units, units
    sorted by (kind, topology, structure, slots), greedy cut by cost."""
    sb = SkeletonBuilder(table.op, table.a, table.b)
    reds = [sb.reduce(int(c)) for c in table.candidates]
    index: dict = {}
    cand_unit = [index.setdefault(r.unit, len(index)) for r in reds]
    units = list(index)

    def kind(s):
        return 0 if n_struct_params(s) == 0 else (1 if linearise(s) is not None else 2)

    def key(i):
        s = units[i].struct
        topo = repr(topology(s)[0]) if kind(s) == 2 else repr(s)
        return (kind(s), topo, repr(s), units[i].slots)

    cost = {0: 1, 1: 3, 2: 30}
    shards, cur, c = [], [], 0
    for i in sorted(range(len(units)), key=key):
        ci = cost[kind(units[i].struct)]
        if cur and c + ci > budget:
            shards.append(cur)
            cur, c = [], 0
        cur.append(i)
        c += ci
    shards.append(cur)
    out = []
    for sh in shards:
        members = set(sh)
        cands = [k for k, u in enumerate(cand_unit) if u in members]
        out.append(([units[i] for i in sh], cands, [reds[k] for k in cands]))
    return out


@pytest.mark.parametrize("system,depth,budget", [("pendulum", 5, 40), ("double-pendulum", 4, 25)])
def test_plan_equals_reference(system, depth, budget):
    table = enumerate_candidates(hamiltonian_data.load(system=system), depth)
    plan = plan_shards(table, FitConfig(shard_cost=budget))
    ref = _reference_plan(table, budget)
    assert len(plan.shards) == len(ref) > 3
    assert plan.n_units == sum(len(u) for u, _, _ in ref)
    for k, (units, cands, reds) in enumerate(ref):
        assert plan.units(k) == units
        assert plan.candidates(k).tolist() == cands
        assert plan.shard_cands[k] == len(cands)
        for c, red in zip(cands, reds):
            n_params, kept, stripped = plan.recipes[plan.cand_recipe[c]]
            assert (n_params, kept, stripped) == (red.n_params, red.kept, red.stripped)
            assert units[plan.cand_unit[c] - plan.shards[k][0]] == red.unit


def test_slot_values_equal_whole_table_values(table5, pendulum):
    x = np.asarray(pendulum.train[0].x, np.float64)
    free = parameter_counts(table5.op, table5.a, table5.b) == 0
    ids = np.nonzero(free)[0]
    whole = NodeValues(table5.op, table5.a, table5.b, table5.size, x, ids)
    # a budget that keeps only the smallest nodes: the rest is computed on demand
    sv = SlotValues(table5.op, table5.a, table5.b, table5.size, x, free, 40 * 8 * len(x))
    assert 1 <= sv.kept_size < int(table5.size.max())
    pick = np.random.default_rng(0).choice(ids, (7, 3))
    assert np.array_equal(sv[pick], whole[pick], equal_nan=True)
    assert np.array_equal(sv[ids], whole[ids], equal_nan=True)


def test_adam_equals_torch_optim():
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(5, 2, 3, 2, dtype=torch.float64, generator=gen)
    a, b = x0.clone().requires_grad_(True), x0.clone().requires_grad_(True)
    ref, ours = torch.optim.Adam([a], lr=0.05), _Adam(b, 0.05)
    for i in range(60):
        g = torch.randn(x0.shape, dtype=torch.float64, generator=gen) * 10.0 ** (i % 5 - 2)
        a.grad = g.clone()
        ref.step()
        ours.step(g.clone())
    assert torch.equal(a, b)


def test_mixed_ops_batch_equals_each_alone():
    """Each candidate of a mixed-op batch gets the value and gradient of its own formula."""
    topo = ("U", ("B", ("S",), ("P",)))
    codes = [6, 7, 8, 7, 6]  # sin, cos, square (the paper's table's codes)
    inner = [2, 3, 4, 5, 3]  # add, sub, mul, div
    ops = torch.as_tensor(np.stack([codes, inner], 1), dtype=torch.int64)
    x = torch.linspace(-1.0, 2.0, 11, dtype=torch.float64)
    slots = [x.expand(5, 11)[:, None, None, :].clone()]
    p = torch.linspace(0.3, 1.7, 5, dtype=torch.float64)[:, None, None, None]
    p.requires_grad_(True)
    V = evaluate_topology(topo, ops, slots, [p])
    (g,) = torch.autograd.grad(V.sum(), p)
    for i in range(5):
        pi = p.detach()[i:i + 1].clone().requires_grad_(True)
        vi = evaluate_topology(topo, ops[i:i + 1], [slots[0][i:i + 1]], [pi])
        (gi,) = torch.autograd.grad(vi.sum(), pi)
        assert torch.equal(vi, V[i:i + 1]) and torch.equal(gi, g[i:i + 1])


def test_memory_budget_and_workers_do_not_change_results(table5, pendulum):
    small = fit_table(table5, pendulum, FitConfig(workers=1, memory_mb=64, shard_cost=300))
    big = fit_table(table5, pendulum, FitConfig(workers=2, memory_mb=8192, shard_cost=300,
                                              min_parallel=0))
    assert small.key == big.key and small.shards_total > 2
    for name in ("candidate_index", "node", "params", "R_true", "R_random", "status"):
        assert np.array_equal(getattr(small.fits, name), getattr(big.fits, name),
                              equal_nan=True), name
    assert [str(law) for law in small.laws] == [str(law) for law in big.laws]


CONCURRENT = textwrap.dedent("""
    import pathlib, sys, time, json
    import hamiltonian_data
    from dslsearch.fitting import FitConfig
    from noether_search.stages import fit_laws
    from noether_search.store import ResultsStore
    root, me, other = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
    ds = hamiltonian_data.load(system="pendulum")
    store = ResultsStore.open(root)
    me.touch()
    while not other.exists():          # both processes start fitting together
        time.sleep(0.05)
    slow = {"first": True}
    def progress(done, total):         # hold the run open: the other one starts meanwhile
        if slow.pop("first", False):
            time.sleep(2.0)
    r = fit_laws(ds, 4, FitConfig(workers=1, shard_cost=50), store=store, progress=progress,
                 search="exhaustive")
    print(json.dumps([r.shards_done, r.shards_total, [str(l) for l in r.laws]]))
""")


def test_concurrent_fits_on_one_store_fit_each_shard_once(tmp_path):
    import json

    root = tmp_path / "store"
    args = [[sys.executable, "-c", CONCURRENT, str(root), str(tmp_path / a), str(tmp_path / b)]
            for a, b in (("a", "b"), ("b", "a"))]
    procs = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for a in args]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    (done_a, total, laws_a), (done_b, total_b, laws_b) = outs
    assert total == total_b > 1 and laws_a == laws_b
    # one run fitted every shard, the other waited and reused them all
    assert sorted([done_a, done_b]) == [0, total]
