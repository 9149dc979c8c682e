"""How a table is cut into work: training points and their segments, fit units, shards.

Candidates are reduced to *fit units* (root-affine parameters stripped, duplicates
removed), the units are sorted so that units of one skeleton topology sit together, and cut
into shards of bounded cost. A shard's result depends only on its inputs, so results are
identical for any backend and number of workers.

The plan is held as arrays (a unit is a reduced skeleton and a row of slot node ids; a
shard is a range of units), not as an object per candidate, so planning a depth-9 table of
over a million candidates takes tens of megabytes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from dslsearch.fitting.config import FitConfig
from dslsearch.fitting.malloc import release_free_memory
from dslsearch.fitting.optimise import linearise, topology
from array import array

from dslsearch.fitting.skeleton import PARAM_S, SLOT, FitUnit, SkeletonBuilder, struct_op
from dslsearch.ops import DIV


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

    Units are numbered in fitting order: by skeleton (:attr:`structs`, sorted by kind of
    fit, topology and structure), then by their slot node ids.

    Attributes:
        structs: the distinct reduced skeletons, in fitting order.
        slots: per skeleton, ``(n_units_s, n_slots)`` int64 slot node ids of its units
            (sorted rows, no duplicates).
        unit_start: ``(n_structs + 1,)`` int64, the first unit number of each skeleton.
        cand_unit: ``(n_cand,)`` int64 unit number of each candidate.
        cand_recipe: ``(n_cand,)`` int32 index into :attr:`recipes`.
        recipes: ``(n_params, kept, stripped)`` of a :class:`~.skeleton.Reduction`: how a
            candidate's parameters come from its unit's.
        shards: ``(start, end)`` unit-number range of each shard.
        shard_cands: number of candidates in each shard.
        cand_order: ``(n_cand,)`` candidate positions sorted by unit number (stable).
        kinds: ``(n_structs,)`` int8 kind of each skeleton (0 parameter-free, 1 closed
            form, 2 gradient fit).
        ops: ``(n_structs,)`` int16 number of operations of each gradient-fitted skeleton
            (0 for the others), for :meth:`dispatch_order`.
    """

    structs: list
    slots: list
    unit_start: np.ndarray
    cand_unit: np.ndarray
    cand_recipe: np.ndarray
    recipes: list
    shards: list[tuple[int, int]]
    shard_cands: list[int]
    cand_order: np.ndarray
    kinds: np.ndarray | None = None
    ops: np.ndarray | None = None

    @property
    def n_units(self) -> int:
        return int(self.unit_start[-1])

    def units(self, k: int) -> list:
        """The :class:`~.skeleton.FitUnit` list of shard ``k``, in fitting order."""
        start, end = self.shards[k]
        out = []
        s = int(np.searchsorted(self.unit_start, start, side="right")) - 1
        while start < end:
            lo, hi = int(self.unit_start[s]), int(self.unit_start[s + 1])
            stop = min(end, hi)
            out.extend(FitUnit(self.structs[s], tuple(row))
                       for row in self.slots[s][start - lo:stop - lo].tolist())
            start, s = stop, s + 1
        return out

    def unit_kinds(self, k: int) -> np.ndarray | None:
        """``(n_units_k,)`` int8 kind (:func:`_kind`) of each unit of shard ``k``, in the
        order of :meth:`units`; None for a plan without :attr:`kinds`."""
        if self.kinds is None:
            return None
        start, end = self.shards[k]
        first = int(np.searchsorted(self.unit_start, start, side="right")) - 1
        last = int(np.searchsorted(self.unit_start, end, side="left"))
        counts = np.diff(np.clip(self.unit_start[first:last + 1], start, end))
        return np.repeat(self.kinds[first:last], counts)

    def dispatch_order(self, todo) -> list[int]:
        """Shards ``todo`` longest first (by :func:`unit_seconds`), so that the last shards
        to finish are short ones and the workers finish together; ties keep the given
        order. The order changes no result."""
        todo = list(todo)
        if self.kinds is None or not todo:
            return todo
        weight = np.repeat(unit_seconds(self.kinds, self.ops), np.diff(self.unit_start))
        cum = np.concatenate([[0.0], np.cumsum(weight)])
        bounds = np.asarray([self.shards[k] for k in todo], np.int64).reshape(-1, 2)
        est = cum[bounds[:, 1]] - cum[bounds[:, 0]]
        return [todo[i] for i in np.argsort(-est, kind="stable").tolist()]

    def candidates(self, k: int) -> np.ndarray:
        """Positions (ascending) of the candidates whose unit is in shard ``k``."""
        start, end = self.shards[k]
        lo, hi = np.searchsorted(self._sorted_units, [start, end])
        return np.sort(self.cand_order[lo:hi])

    @functools.cached_property
    def _sorted_units(self) -> np.ndarray:
        """``cand_unit[cand_order]``, made once (a gather of every candidate: about 5 ms at
        depth 9, which :meth:`candidates` needed for each of 1,000 shards)."""
        return self.cand_unit[self.cand_order]


def _has_params(struct: tuple) -> bool:
    return struct == PARAM_S or (struct != SLOT and any(_has_params(s) for s in struct[1:]))


def _kind(struct: tuple) -> int:
    """0: parameter-free, 1: affine in its parameters (closed form), 2: gradient fit.

    Not cached (the planner asks once per skeleton; caching a depth-9 table's 100,000
    skeletons would hold about 50 MB in the calling process for nothing)."""
    if not _has_params(struct):
        return 0
    return 1 if linearise.__wrapped__(struct) is not None else 2


class _Classifier:
    """:func:`_kind` and :func:`_sort_key` of many skeletons, memoised per sub-structure.

    Skeletons share most of their sub-trees, so each distinct sub-tree is classified once
    (whether it has parameters, whether :func:`~.optimise.linearise` finds it affine, its
    topology); the memo lives as long as this object, i.e. one planning. Equal to
    :func:`_kind` and :func:`_sort_key` for every structure (a test compares them)."""

    def __init__(self):
        self._affine: dict = {}
        self._topo: dict = {}
        self._ops: dict = {}

    def affine(self, s: tuple) -> tuple[bool, bool]:
        """``(has_params, affine)`` of ``s``, as ``linearise``'s recursion decides them."""
        if s == SLOT:
            return False, True
        if s == PARAM_S:
            return True, True
        hit = self._affine.get(s)
        if hit is not None:
            return hit
        if s[0] == DIV and s[2] == PARAM_S:
            dx, ax = self.affine(s[1])
            res = (True, (not dx) and ax)
        else:
            op = struct_op(s[0])
            args = [self.affine(c) for c in s[1:]]
            deps = [d for d, _ in args]
            res = (any(deps), all(a for _, a in args)
                   and all(ok for ok, d in zip(op.affine_in, deps) if d)
                   and (op.jointly_affine or sum(deps) <= 1))
        self._affine[s] = res
        return res

    def topology(self, s: tuple) -> tuple:
        """``topology(s)[0]``: the shape of ``s`` (``"U"``/``"B"`` nodes)."""
        if s == SLOT or s == PARAM_S:
            return s
        hit = self._topo.get(s)
        if hit is None:
            hit = (("U", self.topology(s[1])) if len(s) == 2
                   else ("B", self.topology(s[1]), self.topology(s[2])))
            self._topo[s] = hit
        return hit

    def ops(self, s: tuple) -> int:
        """Number of operations of ``s`` (nodes other than slots and parameters)."""
        if s == SLOT or s == PARAM_S:
            return 0
        hit = self._ops.get(s)
        if hit is None:
            hit = 1 + sum(self.ops(c) for c in s[1:])
            self._ops[s] = hit
        return hit

    def kind(self, struct: tuple) -> int:
        has, affine = self.affine(struct)
        return 0 if not has else (1 if affine else 2)

    def sort_key(self, struct: tuple, kind: int) -> tuple:
        text = repr(struct)
        return (kind, repr(self.topology(struct)) if kind == 2 else text, text)


#: cost of a unit of each kind (:func:`_kind`) in a shard's budget
KIND_COST = (1, 3, 30)
#: relative CPU time of a unit of each kind (:func:`_kind`), as measured on the pendulum at
#: depth 7 with the numpy engine (about 55, 130 and 350 microseconds); orders the dispatch
#: of shards only (:meth:`ShardPlan.dispatch_order`), never their contents
KIND_SECONDS = (1.0, 2.0, 6.0)


#: operations of a typical gradient-fitted skeleton (pendulum at depth 7: 3.3 on average)
GRADIENT_OPS = 3


def unit_seconds(kinds: np.ndarray, ops: np.ndarray | None) -> np.ndarray:
    """Relative CPU time of a unit of each skeleton, ``(n_structs,)``: :data:`KIND_SECONDS`
    of its kind; a gradient fit's in proportion to its operations (``ops``, over
    :data:`GRADIENT_OPS`) where known. Shards of 666 gradient-fitted units took 0.10 to
    0.40 CPU s on the pendulum at depth 7 and 0.13 to 0.85 on the double pendulum; per
    unit, that time correlates with the skeleton's operations (0.74 and 0.73 over the
    shards), and the last shard of a table, a few units short of the budget but with the
    most operations, was sent last by the count of units alone and ran alone at the end."""
    weight = np.asarray(KIND_SECONDS, np.float64)[kinds]
    if ops is not None:
        grad = kinds == 2
        weight[grad] *= ops[grad] / GRADIENT_OPS
    return weight


def _unit_cost(struct: tuple) -> int:
    return KIND_COST[_kind(struct)]


def _sort_key(struct: tuple, kind: int | None = None) -> tuple:
    kind = _kind(struct) if kind is None else kind
    topo = repr(topology.__wrapped__(struct)[0]) if kind == 2 else repr(struct)
    return (kind, topo, repr(struct))


def _cut(costs: list[int], counts: list[int], budget: int) -> list[tuple[int, int]]:
    """Greedy cut of units (``counts[s]`` in a row of cost ``costs[s]``) into ranges of
    total cost at most ``budget`` (a unit costlier than the budget gets a shard alone)."""
    shards, start, pos, n, cost = [], 0, 0, 0, 0
    for c, left in zip(costs, counts):
        while left > 0:
            room = (budget - cost) // c if n else max(1, budget // c)
            if room <= 0:
                shards.append((start, pos))
                start, n, cost = pos, 0, 0
                continue
            take = min(room, left)
            n, cost, pos, left = n + take, cost + take * c, pos + take, left - take
    if n:
        shards.append((start, pos))
    return shards


#: fewest candidates for which :func:`plan_shards` (with ``split``) reduces the second part
#: of the table in a forked process; below it the planning takes less time than the
#: sub-formula values made beside it (a third of a second at 33,631 candidates)
SPLIT_MIN = 100_000


def _reduce_range(table, lo: int, hi: int) -> tuple:
    """The reductions of candidates ``lo:hi``, compactly: ``(structs, rows, cand_struct,
    cand_row, cand_recipe, recipes)`` with ``rows[s]`` the flat slot ids of skeleton
    ``s``'s candidates (one row per candidate, duplicates kept), skeletons and recipes
    numbered in order of first appearance."""
    sb = SkeletonBuilder(table.op, table.a, table.b, table.size)
    n = hi - lo
    struct_ids: dict = {}
    recipe_ids: dict = {}
    rows: list = []
    n_rows: list[int] = []
    cand_struct = np.empty(n, np.int64)
    cand_row = np.empty(n, np.int64)
    cand_recipe = np.empty(n, np.int32)
    reduce = sb.reduce_parts
    for i, c in enumerate(table.candidates[lo:hi].tolist()):
        struct, slots, *recipe = reduce(c)
        sid = struct_ids.setdefault(struct, len(struct_ids))
        if sid == len(rows):
            rows.append(array("q"))
            n_rows.append(0)
        rows[sid].extend(slots)
        cand_struct[i], cand_row[i] = sid, n_rows[sid]
        n_rows[sid] += 1
        cand_recipe[i] = recipe_ids.setdefault(tuple(recipe), len(recipe_ids))
    arrays = [np.frombuffer(r, np.int64).reshape(m, -1) if m else np.zeros((0, 0), np.int64)
              for r, m in zip(rows, n_rows)]
    return list(struct_ids), arrays, cand_struct, cand_row, cand_recipe, list(recipe_ids)


def _join(first: tuple, second: tuple) -> tuple:
    """The reduction of two consecutive ranges of candidates from theirs: what
    :func:`_reduce_range` gives for both ranges at once (the same numbering, rows, arrays)."""
    structs, rows, cs1, cr1, crec1, recipes = first
    structs2, rows2, cs2, cr2, crec2, recipes2 = second
    sids = {st: i for i, st in enumerate(structs)}
    structs, rows = list(structs), list(rows)
    n1 = [len(r) for r in rows]
    smap = np.empty(len(structs2), np.int64)
    for j, st in enumerate(structs2):
        sid = sids.get(st)
        if sid is None:
            sid = sids[st] = len(structs)
            structs.append(st)
            rows.append(rows2[j])
            n1.append(0)
        else:
            rows[sid] = np.concatenate([rows[sid], rows2[j]])
        smap[j] = sid
    rids = {rc: i for i, rc in enumerate(recipes)}
    recipes = list(recipes)
    rmap = np.empty(len(recipes2), np.int32)
    for j, rc in enumerate(recipes2):
        rmap[j] = rids.setdefault(rc, len(recipes))
        if rmap[j] == len(recipes):
            recipes.append(rc)
    cs = smap[cs2]
    base = np.asarray(n1, np.int64)
    # a skeleton new in the second range starts at row 0: its base is 0 above
    return (structs, rows, np.concatenate([cs1, cs]), np.concatenate([cr1, cr2 + base[cs]]),
            np.concatenate([crec1, rmap[crec2]]), recipes)


def _reduce_forked(table, lo: int, hi: int) -> tuple:
    """:func:`_reduce_range`, stamped as the forked half of the planning."""
    from dslsearch.fitting.timeline import stamp

    stamp("plan half")
    try:
        return _reduce_range(table, lo, hi)
    finally:
        stamp("end")


def _reduce_all(table, split: bool = False) -> tuple:
    """Every candidate's reduction (:func:`_reduce_range` of the whole table). With
    ``split`` (and ``os.fork``, at least :data:`SPLIT_MIN` candidates) the second half of
    the candidates (by their nodes' total size) is reduced in a process forked from this
    one while this one reduces the first (:class:`~dslsearch.fitting.forked.ForkedCall`),
    and the two are joined (:func:`_join`): the same result. If that process fails, its
    half is reduced here."""
    import os

    n = len(table.candidates)
    if not (split and hasattr(os, "fork") and n >= max(SPLIT_MIN, 2)):
        return _reduce_range(table, 0, n)
    from dslsearch.fitting.forked import ForkedCall

    work = np.cumsum(table.size[table.candidates])
    mid = int(np.searchsorted(work, work[-1] / 2))
    second = ForkedCall(_reduce_forked, table, mid, n)
    try:
        first = _reduce_range(table, 0, mid)
    except BaseException:
        second.cancel()
        raise
    return _join(first, second.result())


def _unique_rows(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(M, axis=0, return_inverse=True)`` of an ``(n, w)`` int64 array (the same
    rows, order and inverse) by one ``np.lexsort`` of its columns: several times faster than
    sorting the rows as structured records."""
    if M.shape[0] == 0:
        return M[:0], np.zeros(0, np.int64)
    perm = np.lexsort(M.T[::-1])                         # first column is the primary key
    S = M[perm]
    new = np.ones(len(S), bool)
    new[1:] = (S[1:] != S[:-1]).any(1)
    inv = np.empty(len(S), np.int64)
    inv[perm] = np.cumsum(new) - 1
    return S[new], inv


def _units(rows: list, order: list[int]) -> tuple[list, list, np.ndarray]:
    """Distinct units of all skeletons at once: one lexicographic ``np.unique`` over rows
    ``(rank of skeleton, slot ids padded with -1)``.

    Returns:
        ``(slots, row_unit, unit_start)``: per skeleton in ``order``, its distinct slot rows;
        per skeleton id, the unit number of each of its rows; the first unit number of each
        skeleton in ``order`` (and the total).
    """
    rank = np.empty(len(rows), np.int64)
    rank[order] = np.arange(len(order))
    width = max((r.shape[1] for r in rows), default=0)
    M = np.full((sum(len(r) for r in rows), width + 1), -1, np.int64)
    pos = 0
    for s, r in enumerate(rows):
        M[pos:pos + len(r), 0] = rank[s]
        M[pos:pos + len(r), 1:1 + r.shape[1]] = r
        pos += len(r)
    uniq, inv = _unique_rows(M)
    unit_start = np.searchsorted(uniq[:, 0], np.arange(len(order) + 1))
    slots = [uniq[unit_start[i]:unit_start[i + 1], 1:1 + rows[s].shape[1]]
             for i, s in enumerate(order)]
    offsets = np.cumsum([0] + [len(r) for r in rows])
    row_unit = [inv[offsets[s]:offsets[s + 1]] for s in range(len(rows))]
    return slots, row_unit, unit_start.astype(np.int64)


def plan_shards(table, config: FitConfig, split: bool = False) -> ShardPlan:
    """Reduce the table's candidates to units and cut the units into shards.

    ``split``: reduce half of a large table in a forked process (:func:`_reduce_all`), the
    same plan; for callers that have a second core to spare (several workers)."""
    structs, rows, cand_struct, cand_row, cand_recipe, recipes = _reduce_all(table, split)
    classify = _Classifier()  # each distinct sub-tree classified once
    kinds = [classify.kind(st) for st in structs]
    keys = [classify.sort_key(st, k) for st, k in zip(structs, kinds)]
    ops = [classify.ops(st) if k == 2 else 0 for st, k in zip(structs, kinds)]
    del classify
    order = sorted(range(len(structs)), key=keys.__getitem__)
    slots, row_unit, unit_start = _units(rows, order)
    offsets = np.cumsum([0] + [len(r) for r in rows])
    cand_unit = np.concatenate(row_unit)[offsets[cand_struct] + cand_row] if structs \
        else np.zeros(0, np.int64)
    sorted_structs = [structs[s] for s in order]
    shards = _cut([KIND_COST[kinds[s]] for s in order], [len(u) for u in slots],
                  config.shard_cost)
    cand_order = np.argsort(cand_unit, kind="stable")
    del rows, row_unit, keys
    release_free_memory()  # the skeletons' memo and the sorts' copies, freed above
    bounds = np.searchsorted(cand_unit[cand_order], [b for _, b in shards])
    return ShardPlan(sorted_structs, slots, unit_start, cand_unit, cand_recipe, recipes,
                     shards, np.diff(np.concatenate([[0], bounds])).astype(int).tolist(),
                     cand_order, np.asarray([kinds[s] for s in order], np.int8),
                     np.asarray([ops[s] for s in order], np.int16))
