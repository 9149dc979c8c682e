"""Values of parameter-free sub-formulas on the data, computed once and shared.

The table is a DAG ordered children before parents, and a node's size exceeds its
children's, so all needed nodes of one size and one op are evaluated in a single numpy
operation (the op's ``numpy`` implementation from :data:`dslsearch.ops.OPS`): about
``7 sizes x 8 ops`` vectorised steps however many nodes there are.
"""

from __future__ import annotations

import numpy as np

from dslsearch.ops import INPUT, OPS, PARAM, arities


def closure(op: np.ndarray, a: np.ndarray, b: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """Sorted node ids of ``roots`` and all their descendants, ``(n,)`` int64."""
    need = np.zeros(len(op), bool)
    frontier = np.unique(np.asarray(roots, np.int64))
    need[frontier] = True
    arity = np.asarray(arities(), np.int64)
    while frontier.size:
        # INPUT stores a column index in `a`, not a child; PARAM has none
        k = arity[op[frontier]]
        kids = np.concatenate([a[frontier][k >= 1], b[frontier][k >= 2]])
        kids = np.unique(kids)
        kids = kids[~need[kids]]
        need[kids] = True
        frontier = kids
    return np.nonzero(need)[0]


class NodeValues:
    """Values of parameter-free nodes on a set of points.

    Args:
        op, a, b, size: the table arrays, ``(n_nodes,)``.
        x: the points, ``(N, d)`` float64, in the data's units converted to SI base units.
        roots: parameter-free node ids whose values are needed (with their descendants).

    Attributes:
        values: ``(n_needed, N)`` float64; rows for :attr:`ids`. Non-finite where a node
            divides by zero or overflows (no warning is emitted).
        ids: sorted node ids held, ``(n_needed,)``.
    """

    def __init__(self, op, a, b, size, x: np.ndarray, roots: np.ndarray):
        ids = closure(op, a, b, roots)
        if np.any(op[ids] == PARAM):
            raise ValueError("roots: NodeValues holds parameter-free nodes only; "
                             "a root or its descendants contains a PARAM node")
        self.ids = ids
        index = np.full(len(op), -1, np.int64)
        index[ids] = np.arange(len(ids))
        self._index = index
        N = x.shape[0]
        V = np.empty((len(ids), N), np.float64)
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
                    args = [V[index[child[nodes]]] for child in (a, b)[: spec.arity]]
                    V[rows] = spec.numpy(*args)
        self.values = V

    def __getitem__(self, nodes) -> np.ndarray:
        """Values of ``nodes`` (int or array of node ids): ``(N,)`` or ``(len(nodes), N)``."""
        return self.values[self._index[nodes]]
