"""How a table is cut into work: training points and their segments, fit units, shards.

Candidates are reduced to *fit units* (root-affine parameters stripped, duplicates
removed), the units are sorted so that units of one skeleton topology sit together, and cut
into shards of bounded cost. A shard's result depends only on its inputs, so results are
identical for any backend and number of workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dslsearch.fitting.config import FitConfig
from dslsearch.fitting.optimise import linearise, topology
from dslsearch.fitting.skeleton import SkeletonBuilder, n_struct_params


def segments(dataset, config: FitConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(x (N, d), labels (N,))`` of the training points, windows applied."""
    xs, labels, k = [], [], 0
    window = config.window
    if window is None and len(dataset.train) < 2:
        window = 20
    for tr in dataset.train:
        x = np.asarray(tr.x, np.float64)
        xs.append(x)
        T = x.shape[0]
        if window:
            lab = k + np.arange(T) // window
            if T % window and T > window:   # fold a short tail into the previous window
                lab[lab == lab.max()] = lab.max() - 1
            labels.append(lab)
            k = int(lab.max()) + 1
        else:
            labels.append(np.full(T, k))
            k += 1
    return np.concatenate(xs), np.concatenate(labels)


@dataclass(frozen=True, eq=False)
class ShardPlan:
    """The fitting work of a table.

    Attributes:
        units: the distinct fit units.
        reductions: (n_cand,) each candidate's reduction to its unit.
        cand_unit: (n_cand,) int64 unit index of each candidate.
        shards: unit-index arrays, one per shard.
        shard_cands: number of candidates in each shard.
    """

    units: list
    reductions: list
    cand_unit: np.ndarray
    shards: list[np.ndarray]
    shard_cands: list[int]


def _unit_cost(struct: tuple) -> int:
    if n_struct_params(struct) == 0:
        return 1
    return 3 if linearise(struct) is not None else 30


def _sort_key(unit) -> tuple:
    P = n_struct_params(unit.struct)
    kind = 0 if P == 0 else (1 if linearise(unit.struct) is not None else 2)
    topo = repr(topology(unit.struct)[0]) if kind == 2 else repr(unit.struct)
    return (kind, topo, repr(unit.struct), unit.slots)


def _cut(units: list, order: list[int], budget: int) -> list[np.ndarray]:
    shards, cur, cost = [], [], 0
    for i in order:
        c = _unit_cost(units[i].struct)
        if cur and cost + c > budget:
            shards.append(np.asarray(cur))
            cur, cost = [], 0
        cur.append(i)
        cost += c
    if cur:
        shards.append(np.asarray(cur))
    return shards


def plan_shards(table, config: FitConfig) -> ShardPlan:
    """Reduce the table's candidates to units and cut the units into shards."""
    sb = SkeletonBuilder(table.op, table.a, table.b)
    reductions = [sb.reduce(int(c)) for c in table.candidates]
    index: dict = {}
    cand_unit = np.empty(len(reductions), np.int64)
    for i, r in enumerate(reductions):
        cand_unit[i] = index.setdefault(r.unit, len(index))
    units = list(index)
    order = sorted(range(len(units)), key=lambda i: _sort_key(units[i]))
    shards = _cut(units, order, config.shard_cost)
    counts = np.bincount(cand_unit, minlength=len(units))
    return ShardPlan(units, reductions, cand_unit, shards, [int(counts[s].sum()) for s in shards])
