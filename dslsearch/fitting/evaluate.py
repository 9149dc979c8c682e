"""Values of parameter-free sub-formulas on the data, computed once and shared.

The table is a DAG ordered children before parents, and a node's size exceeds its
children's, so all needed nodes of one size and one op are evaluated in a single numpy
operation (the op's ``numpy`` implementation from :data:`dslsearch.ops.OPS`): about
``7 sizes x 8 ops`` vectorised steps however many nodes there are. :class:`SlotValues`
keeps the smallest nodes' values within a memory budget and computes the rest on demand.
"""

from __future__ import annotations

import numpy as np

from dslsearch.ops import INPUT, OPS, PARAM, arities


def closure(op: np.ndarray, a: np.ndarray, b: np.ndarray, roots: np.ndarray,
            known: np.ndarray | None = None) -> np.ndarray:
    """Sorted node ids of ``roots`` and all their descendants, ``(n,)`` int64; with
    ``known`` (a ``(n_nodes,)`` bool mask) the walk stops at known nodes, which are left out."""
    need = np.zeros(len(op), bool) if known is None else known.copy()
    frontier = np.unique(np.asarray(roots, np.int64))
    frontier = frontier[~need[frontier]]
    need[frontier] = True
    found = [frontier]
    arity = np.asarray(arities(), np.int64)
    while frontier.size:
        # INPUT stores a column index in `a`, not a child; PARAM has none
        k = arity[op[frontier]]
        kids = np.concatenate([a[frontier][k >= 1], b[frontier][k >= 2]])
        kids = np.unique(kids)
        kids = kids[~need[kids]]
        need[kids] = True
        frontier = kids
        found.append(kids)
    # the nodes marked here (each once): sorted, as np.nonzero(need & ~known) would give
    # them, without a pass over every node of the table
    return np.sort(np.concatenate(found)).astype(np.int64, copy=False)


class NodeValues:
    """Values of parameter-free nodes on a set of points.

    Args:
        op, a, b, size: the table arrays, ``(n_nodes,)``.
        x: the points, ``(N, d)`` float64, in the data's units converted to SI base units.
        roots: parameter-free node ids whose values are needed (with their descendants).
        known: values already computed on the same points (their nodes are not computed
            again, and are read through this object too).
        out: ``(n_needed, N)`` float64 array to hold the values (a buffer shared with
            other processes); None: a new array.
        compute: False to leave the values to a later :meth:`compute` (which another
            process may run on a shared ``out``).

    Attributes:
        values: ``(n_needed, N)`` float64; rows for :attr:`ids`. Non-finite where a node
            divides by zero or overflows (no warning is emitted).
        ids: sorted node ids held, ``(n_needed,)``.
    """

    def __init__(self, op, a, b, size, x: np.ndarray, roots: np.ndarray,
                 known: NodeValues | None = None, out: np.ndarray | None = None,
                 compute: bool = True):
        ids = closure(op, a, b, roots, None if known is None else known.held)
        if np.any(op[ids] == PARAM):
            raise ValueError("roots: NodeValues holds parameter-free nodes only; "
                             "a root or its descendants contains a PARAM node")
        self.ids = ids
        self.known = known
        self._index = self._held = None
        self._n_nodes = len(op)
        if known is None:  # one array over the table, to look up any node in O(1)
            index = np.full(len(op), -1, np.int64)
            index[ids] = np.arange(len(ids))
            self._index = index
        shape = (len(ids), x.shape[0])
        if out is not None and (out.shape != shape or out.dtype != np.float64):
            raise ValueError(f"out: expected a float64 array of shape {shape} (one row per "
                             f"node needed), got {out.dtype} {out.shape}")
        self.values = np.empty(shape, np.float64) if out is None else out
        if compute:
            self.compute(op, a, b, size, x)

    def compute(self, op, a, b, size, x: np.ndarray) -> None:
        """Compute the values of :attr:`ids` into :attr:`values` (made without computing
        them: ``compute=False``), from the same table arrays and points."""
        ids, V = self.ids, self.values
        sub_op, sub_size = op[ids], size[ids]
        with np.errstate(all="ignore"):
            for s in range(1, int(sub_size.max(initial=0)) + 1):
                for o in np.unique(sub_op[sub_size == s]):
                    rows = np.nonzero((sub_size == s) & (sub_op == o))[0]
                    nodes = ids[rows]
                    if o == INPUT:
                        V[rows] = x[:, a[nodes]].T
                        continue
                    spec = OPS[int(o)]
                    V[rows] = spec.numpy(*[self[child[nodes]]
                                           for child in (a, b)[: spec.arity]])

    @property
    def held(self) -> np.ndarray:
        """``(n_nodes,)`` bool: the nodes whose values this object holds (made once)."""
        if self._held is None:
            self._held = np.zeros(self._n_nodes, bool)
            self._held[self.ids] = True
        return self._held

    def _own(self, nodes: np.ndarray) -> np.ndarray:
        """Row of each node in :attr:`values`, -1 where not held here (a search of the
        sorted :attr:`ids`: an object made per batch builds no array over the table)."""
        if self._index is not None:
            return self._index[nodes]
        if not len(self.ids):
            return np.full(nodes.shape, -1, np.int64)
        pos = np.minimum(np.searchsorted(self.ids, nodes), len(self.ids) - 1)
        return np.where(self.ids[pos] == nodes, pos, -1)

    def __getitem__(self, nodes) -> np.ndarray:
        """Values of ``nodes`` (int or array of node ids): ``(N,)`` or ``(len(nodes), N)``."""
        if self.known is None:
            return self.values[self._index[nodes]]
        nodes = np.asarray(nodes, np.int64)
        own = self._own(nodes)
        mine = own >= 0
        if mine.all():
            return self.values[own]
        out = self.known[np.where(mine, self.known.ids[0], nodes)]
        out[mine] = self.values[own[mine]]
        return out


def kept_nodes(size: np.ndarray, free: np.ndarray, n_points: int,
               budget_bytes: int) -> tuple[int, np.ndarray]:
    """``(kept_size, nodes)``: the largest size whose parameter-free nodes (with all smaller
    ones) fit in ``budget_bytes`` of values on ``n_points`` points, and those node ids."""
    row_bytes = 8 * max(n_points, 1)
    counts = np.bincount(size[free], minlength=int(size.max(initial=0)) + 1)
    fits = np.cumsum(counts) * row_bytes <= budget_bytes
    kept_size = int(np.nonzero(fits)[0].max(initial=0))
    return kept_size, np.nonzero(free & (size <= kept_size))[0]


def kept_shape(op, a, b, size, x: np.ndarray, free: np.ndarray,
               budget_bytes: int) -> tuple[int, int]:
    """Shape ``(n_kept, N)`` of the values a :class:`SlotValues` keeps."""
    _, small = kept_nodes(size, free, x.shape[0], budget_bytes)
    return len(closure(op, a, b, small)), x.shape[0]


class SlotValues:
    """Values of parameter-free nodes on demand, within a memory budget.

    The smallest nodes (those most shared as sub-formulas) are computed once and kept
    (at most ``budget_bytes`` of them); any other node's values are computed when asked
    for, from the kept ones, and not kept. So a worker holds the values of one batch, not
    of the whole table: ``(n_nodes, N)`` float64 is gigabytes at depth 9.

    Args:
        op, a, b, size: the table arrays, ``(n_nodes,)``.
        x: the points ``(N, d)`` (SI base units).
        free: ``(n_nodes,)`` bool, the parameter-free nodes.
        budget_bytes: memory for the kept values.
        out, compute: where the kept values go and whether they are computed now
            (:class:`NodeValues`; the shape of ``out`` is :func:`kept_shape`'s).
    """

    def __init__(self, op, a, b, size, x: np.ndarray, free: np.ndarray, budget_bytes: int,
                 out=None, compute: bool = True):
        self.op, self.a, self.b, self.size, self.x = op, a, b, size, x
        self.kept_size, small = kept_nodes(size, free, x.shape[0], budget_bytes)
        self.kept = NodeValues(op, a, b, size, x, small, out=out, compute=compute)

    def __getitem__(self, nodes) -> np.ndarray:
        """Values ``(len(nodes), N)`` of parameter-free node ids ``nodes``."""
        nodes = np.asarray(nodes, np.int64)
        uniq, inv = np.unique(nodes, return_inverse=True)
        nv = NodeValues(self.op, self.a, self.b, self.size, self.x, uniq, known=self.kept)
        return nv[uniq][inv.reshape(nodes.shape)]
