"""The gradient fit in numpy: forward values, hand-written backward, Adam, Newton polish.

The same algorithm as the torch path of :mod:`dslsearch.fitting.optimise` (grid of starts,
Adam on ``theta = c / |start|``, damped Newton polish), written with numpy alone so a
worker process never imports torch (about 2 CPU seconds and 220 MB per process). Values
and gradients equal the torch path's to rounding (float64, a different order of
summation); the Newton polish takes its Hessian from central differences of the exact
gradient instead of double backward, which changes the path but not the optimum it
converges to (a step is kept only where it lowers R). Tests compare both paths.

Shapes follow :func:`~dslsearch.fitting.optimise.evaluate_topology`: slots ``(G, 1, 1, N)``,
parameters ``(G, E, S, 1)`` (G candidates, E segmentations, S starts, N points); every
array has the candidates on its first axis, so a node where candidates use different
operations computes each operation on its own candidates' rows.
"""

from __future__ import annotations

import functools
import operator

import numpy as np

from dslsearch.fitting.objective import FIT_EPS, Segments, minus_segment_means
from dslsearch.fitting.skeleton import PARAM_S, RECIPROCAL, SLOT, struct_op
from dslsearch.ops import ADD, COS, DIV, EXP, INV, LOG, MUL, OPS, SIN, SQRT, SQUARE, SUB


# d(op)/d(arg) times the incoming gradient ``g``: f(g, args, out) -> one array per argument
def _d_div(g, a, o):
    return g / a[1], -g * a[0] / (a[1] * a[1])


def _d_recip(g, a, o):
    return (-g / (a[0] * a[0]),)


DERIVATIVES = {
    ADD: lambda g, a, o: (g, g),
    SUB: lambda g, a, o: (g, -g),
    MUL: lambda g, a, o: (g * a[1], g * a[0]),
    DIV: _d_div,
    SIN: lambda g, a, o: (g * np.cos(a[0]),),
    COS: lambda g, a, o: (-g * np.sin(a[0]),),
    SQUARE: lambda g, a, o: (g * (2.0 * a[0]),),
    SQRT: lambda g, a, o: (g / (2.0 * o),),
    LOG: lambda g, a, o: (g / a[0],),
    EXP: lambda g, a, o: (g * o,),
    INV: _d_recip,
    RECIPROCAL.code: _d_recip,
}
"""Backward rule of each operation code the numpy path knows (a topology using any other
operation, e.g. one registered later in :data:`dslsearch.ops.OPS`, is fitted with torch)."""


def _square_into(x, out=None):
    return np.multiply(x, x, out=out)


#: the ufunc (with ``out=``) equal to each operation's ``numpy`` implementation, by that
#: implementation: results are written straight into the output's rows; an operation not
#: listed calls its ``numpy`` implementation and is copied
UFUNCS = {operator.add: np.add, operator.sub: np.subtract, operator.mul: np.multiply,
          operator.truediv: np.true_divide, np.sin: np.sin, np.cos: np.cos,
          np.sqrt: np.sqrt, np.log: np.log, np.exp: np.exp,
          OPS[SQUARE].numpy: _square_into}


def _op_into(code: int, args: list, out: np.ndarray | None) -> np.ndarray:
    """``op(*args)``, written into ``out`` where given."""
    fn = struct_op(code).numpy
    uf = UFUNCS.get(fn)
    if uf is None:
        res = fn(*args)
        if out is None:
            return res
        out[...] = res
        return out
    return uf(*args) if out is None else uf(*args, out=out)


def supported(ops: np.ndarray) -> bool:
    """Whether every operation code in ``ops`` has a backward rule here."""
    return all(int(c) in DERIVATIVES for c in np.unique(np.asarray(ops)))


@functools.lru_cache(maxsize=1 << 12)
def program(topo: tuple) -> tuple[tuple, ...]:
    """A topology as a post-order list of nodes ``(kind, index, children, has_param)``.

    ``kind`` is ``"S"`` (slot number ``index``), ``"P"`` (parameter ``index``) or ``"O"``
    (operation, ``index`` its column in the ops array); ``children`` are list positions.
    """
    nodes: list[tuple] = []
    counters = {"S": 0, "P": 0, "O": 0}

    def walk(t) -> int:
        if t in (SLOT, PARAM_S):
            kind = t[0]
            nodes.append((kind, counters[kind], (), kind == "P"))
            counters[kind] += 1
            return len(nodes) - 1
        col = counters["O"]
        counters["O"] += 1
        kids = tuple(walk(c) for c in t[1:])
        nodes.append(("O", col, kids, any(nodes[k][3] for k in kids)))
        return len(nodes) - 1

    walk(topo)
    return tuple(nodes)


def _apply(column: np.ndarray, args: list, per_code) -> np.ndarray | tuple:
    """``per_code(code, rows_args)`` on each code's candidate rows, results put back in order.

    Rows are taken as runs of equal codes (slices, no copy, when the batch is sorted by
    its operations, as the shards do) or, where runs are many, gathered per code. Returns an
    array (forward) or a tuple of arrays (backward), the candidates on axis 0."""
    cuts = np.flatnonzero(column[1:] != column[:-1]) + 1
    if cuts.size == 0:
        return per_code(int(column[0]), args)
    if cuts.size < 64:
        bounds = np.concatenate([[0], cuts, [len(column)]])
        groups = [(int(column[a]), slice(a, b)) for a, b in zip(bounds[:-1], bounds[1:])]
    else:
        groups = [(int(c), np.nonzero(column == c)[0]) for c in np.unique(column)]
    results = []
    for code, rows in groups:
        res = per_code(code, [a[rows] for a in args])
        results.append((rows, res if isinstance(res, tuple) else (res,)))
    out = []
    for j in range(len(results[0][1])):
        shape = np.broadcast_shapes(*(r[j].shape[1:] for _, r in results))
        arr = np.empty((len(column),) + shape)
        for rows, r in results:
            arr[rows] = r[j]
        out.append(arr)
    return out[0] if not isinstance(res, tuple) else tuple(out)


def forward(topo: tuple, ops: np.ndarray, slots: list, params: list) -> tuple[np.ndarray, list]:
    """Values of G candidates of one topology, each with its own operations.

    Args:
        ops: ``(G, n_ops)`` int codes (:func:`~dslsearch.fitting.optimise.topology`).
        slots: ``(G, 1, 1, N)`` arrays; params: ``(G, E, S, 1)`` arrays.

    Returns:
        ``(value, tape)``: the root's values (broadcast shape of its inputs) and every
        node's value in :func:`program` order, for :func:`backward`.
    """
    prog = program(topo)
    vals: list = []
    with np.errstate(all="ignore"):
        for kind, index, kids, _ in prog:
            if kind == "S":
                vals.append(slots[index])
            elif kind == "P":
                vals.append(params[index])
            else:
                vals.append(_forward_node(ops[:, index], [vals[k] for k in kids]))
    return vals[-1], vals


def _forward_node(column: np.ndarray, args: list) -> np.ndarray:
    """One node's values: each run of candidates with one operation computed straight into
    its rows of the output (:func:`_apply` for gathered rows)."""
    cuts = np.flatnonzero(column[1:] != column[:-1]) + 1
    if cuts.size == 0:
        return _op_into(int(column[0]), args, None)
    if cuts.size >= 64:
        return _apply(column, args, lambda code, aa: struct_op(code).numpy(*aa))
    shape = np.broadcast_shapes(*(a.shape for a in args))
    out = np.empty(shape)
    bounds = np.concatenate([[0], cuts, [len(column)]])
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        rows = slice(lo, hi)
        _op_into(int(column[lo]), [a[rows] for a in args], out[rows])
    return out


#: operations computed once per distinct sub-formula in the grid of starts (a value of
#: these costs about 20 ns, a copied one about 1 ns)
SHARED_OPS = frozenset({SIN, COS, EXP, LOG})


def _distinct_rows(K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(first, inverse)`` of the rows of ``K (G, w)`` int64: ``first`` the ascending
    position of each distinct row's first occurrence, ``inverse`` each row's index into
    ``first``."""
    perm = np.lexsort(K.T[::-1])
    S = K[perm]
    new = np.ones(len(S), bool)
    new[1:] = (S[1:] != S[:-1]).any(1)
    group = np.cumsum(new) - 1
    first = perm[new]                      # stable sort: the smallest position of each row
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    inverse = np.empty(len(K), np.int64)
    inverse[perm] = rank[group]
    return first[order], inverse


def forward_grid(topo: tuple, ops: np.ndarray, slots: list, params: list,
                 slot_ids: np.ndarray) -> np.ndarray:
    """The root's values of :func:`forward` when every candidate has the same parameter
    values (the grid of starts), without the tape.

    Candidates often share a sub-formula (the same operations over the same slots, e.g.
    ``cos(c*q)`` in ``cos(c*q) + p`` and ``cos(c*q) * p``): at a node of an operation of
    :data:`SHARED_OPS` each distinct sub-formula is computed once and copied to the
    others. Values are those of :func:`forward` bit for bit (the same operation on the same
    numbers).

    Args:
        slot_ids: ``(G, n_slots)`` int64 node ids of each candidate's slots (equal ids,
            equal values).
    """
    prog = program(topo)
    vals: list = []
    keys: list = []  # per node: its sub-formula as columns of ops ("o", j) / slot ids ("s", j)
    with np.errstate(all="ignore"):
        for kind, index, kids, has_param in prog:
            if kind == "S":
                vals.append(slots[index])
                keys.append((("s", index),))
                continue
            if kind == "P":
                vals.append(params[index])
                keys.append(())
                continue
            key = (("o", index),) + tuple(c for k in kids for c in keys[k])
            keys.append(key)
            args = [vals[k] for k in kids]
            column = ops[:, index]
            if has_param and len(column) > 1 and np.isin(column, list(SHARED_OPS)).any():
                vals.append(_forward_shared(column, args, key, ops, slot_ids))
            else:
                vals.append(_forward_node(column, args))
    return vals[-1]


def _forward_shared(column, args, key, ops, slot_ids) -> np.ndarray:
    """:func:`_forward_node` computed on the first row of each distinct sub-formula
    ``key`` and copied to the rows that repeat it."""
    K = np.stack([ops[:, j] if t == "o" else slot_ids[:, j] for t, j in key], 1)
    first, inverse = _distinct_rows(np.ascontiguousarray(K, np.int64))
    if len(first) > 0.8 * len(column):     # few repeats: not worth the copies
        return _forward_node(column, args)
    sub = [a[first] if a.shape[0] > 1 else a for a in args]
    return _forward_node(column[first], sub)[inverse]


def _unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``g`` over the axes where ``shape`` has 1 (the reverse of broadcasting)."""
    axes = tuple(i for i, (n, m) in enumerate(zip(g.shape, shape)) if m == 1 and n != 1)
    return g.sum(axes, keepdims=True) if axes else g


def backward(topo: tuple, ops: np.ndarray, tape: list, grad_out: np.ndarray) -> list:
    """Gradients of ``sum(grad_out * value)`` with respect to each parameter.

    Args:
        tape: from :func:`forward`; grad_out: shaped as the root's value (broadcastable).

    Returns:
        one array per parameter, shaped as that parameter.
    """
    prog = program(topo)
    grads: list = [None] * len(prog)
    grads[-1] = grad_out
    out: dict[int, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for pos in range(len(prog) - 1, -1, -1):
            kind, index, kids, has_param = prog[pos]
            g = grads[pos]
            if g is None or not has_param:
                continue
            if kind == "P":
                out[index] = _unbroadcast(g, tape[pos].shape)
                continue
            args = [tape[k] for k in kids]
            d = _apply(ops[:, index], [g, tape[pos], *args],
                       lambda code, aa: DERIVATIVES[code](aa[0], aa[2:], aa[1]))
            for k, dk in zip(kids, d):
                if not prog[k][3]:
                    continue
                dk = _unbroadcast(np.broadcast_to(dk, np.broadcast_shapes(dk.shape, g.shape)),
                                  tape[k].shape)
                grads[k] = dk if grads[k] is None else grads[k] + dk
    return [out[k] for k in range(len(out))]


def r_reg(V: np.ndarray, seg: Segments, grad: bool = False):
    """Regularised R of values ``V (..., N)`` (as ``objective.r_reg_torch``), and with
    ``grad`` its gradient ``dR/dV (..., N)``."""
    with np.errstate(all="ignore"):
        Vc = V - V.mean(-1, keepdims=True)
        Vs = Vc if seg.grouped else Vc[..., seg.order]
        means = np.add.reduceat(Vs, seg.starts, axis=-1) / seg.counts
        Vw = minus_segment_means(Vs, means, seg)
        Q = np.einsum("...n,...n->...", V, V)
        W = np.einsum("...n,...n->...", Vw, Vw)
        T = np.einsum("...n,...n->...", Vc, Vc)
        den = T + FIT_EPS * Q
        R = (W + FIT_EPS * Q) / den
        if not grad:
            return R
        if not seg.grouped:
            back = np.empty_like(Vw)
            back[..., seg.order] = Vw
            Vw = back
        r, d = R[..., None], den[..., None]
        dV = 2.0 * (Vw + FIT_EPS * V - r * (Vc + FIT_EPS * V)) / d
    return R, dV


def r_all(vals: np.ndarray, segs: list[Segments], shape: tuple, grad: bool = False):
    """R ``(g, E, S)`` of values broadcast to ``shape = (g, E, S, N)``, segmentation e on
    axis 1 entry e; with ``grad`` also ``dR/dV`` of that shape."""
    V = np.broadcast_to(vals, shape)
    res = [r_reg(V[:, e], s, grad) for e, s in enumerate(segs)]
    if not grad:
        return np.stack(res, 1)
    return np.stack([r for r, _ in res], 1), np.stack([d for _, d in res], 1)


def evaluate(topo: tuple, ops: np.ndarray, slots: list[np.ndarray], params: np.ndarray
             ) -> np.ndarray:
    """Values ``(G, N)`` of candidates of one topology at ``params (G, P)``."""
    sl = [s[:, None, None, :] for s in slots]
    pt = params[:, None, None, :]
    V, _ = forward(topo, np.asarray(ops), sl, [pt[..., k:k + 1] for k in range(params.shape[1])])
    G, N = len(ops), slots[0].shape[1]
    return np.broadcast_to(V, (G, 1, 1, N))[:, 0, 0].copy()


def fit_gradient(topo: tuple, ops: np.ndarray, slots: list[np.ndarray], segs: list[Segments],
                 config, max_elements: int | None = None, slot_ids: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`dslsearch.fitting.optimise.fit_gradient` in numpy (same arguments, returns
    ``(R (E, G), params (E, G, P), converged (E, G))``).

    With ``slot_ids`` (``(G, n_slots)`` node ids of the slots) the grid of starts computes
    sub-formulas that candidates share once (:func:`forward_grid`); results are the same
    bit for bit.

    The grid runs in chunks of candidates (``(g, E, S0, N)`` values within the element
    cap); the candidates that pass its screen are then refined by Adam together, in
    chunks of the same cap over ``(g, E, S, N)`` (S = ``config.refine`` starts, far fewer
    than S0): a few batched Adam runs instead of one per grid chunk, each with only a
    handful of candidates. The candidates are independent, so chunking changes no number.
    """
    from dslsearch.fitting.optimise import start_table
    from dslsearch.fitting.skeleton import n_struct_params

    P = n_struct_params(topo)
    G, N = slots[0].shape
    E = len(segs)
    table = start_table(P, config.n_grid, config.seed)                    # (S0, P)
    S0, S = table.shape[0], config.refine
    R_out, p_out = np.full((E, G), np.nan), np.full((E, G, P), np.nan)
    conv_out = np.zeros((E, G), bool)
    chunk = config.chunk if max_elements is None else min(config.chunk, max_elements)
    g_chunk = max(1, chunk // (E * S0 * N))
    ops = np.asarray(ops, np.int64)
    refine_rows, refine_starts = [], []
    for g0 in range(0, G, g_chunk):
        sl = [s[g0:g0 + g_chunk][:, None, None, :] for s in slots]
        op_c = ops[g0:g0 + g_chunk]
        g = op_c.shape[0]
        c = np.broadcast_to(table, (g, E, S0, P))
        if slot_ids is None:
            vals, _ = forward(topo, op_c, sl, [c[..., k:k + 1] for k in range(P)])
        else:
            vals = forward_grid(topo, op_c, sl, [c[..., k:k + 1] for k in range(P)],
                                np.asarray(slot_ids, np.int64)[g0:g0 + g_chunk])
        Rg = r_all(vals, segs, (g, E, S0, N))
        Rg = np.where(np.isfinite(Rg), Rg, np.inf)
        idx = np.argsort(Rg, axis=-1, kind="stable")[..., :S]                  # (g, E, S)
        start = np.take_along_axis(c, idx[..., None], 2)                      # (g, E, S, P)
        ibest = idx[..., 0]
        Rbest = np.take_along_axis(Rg, ibest[..., None], 2)[..., 0]           # (g, E)
        c_best = np.take_along_axis(c, ibest[..., None, None], 2)[:, :, 0]     # (g, E, P)
        R_out[:, g0:g0 + g] = Rbest.T
        p_out[:, g0:g0 + g] = c_best.transpose(1, 0, 2)
        conv_out[:, g0:g0 + g] = True
        todo = np.nonzero((Rbest < config.screen).any(-1))[0]
        if todo.size:
            refine_rows.append(g0 + todo)
            refine_starts.append(start[todo])
    if refine_rows:
        _refine_all(topo, ops, slots, segs, config, np.concatenate(refine_rows),
                    np.concatenate(refine_starts), max(1, chunk // (E * S * N)),
                    (R_out, p_out, conv_out))
    return R_out, p_out, conv_out


def _refine_all(topo, ops, slots, segs, config, rows: np.ndarray, starts: np.ndarray,
                a_chunk: int, outs: tuple) -> None:
    """Adam from ``starts (len(rows), E, S, P)`` for candidates ``rows``, ``a_chunk`` at a
    time; each candidate's better fits written into ``outs = (R, params, converged)``."""
    for a0 in range(0, len(rows), a_chunk):
        rr = rows[a0:a0 + a_chunk]
        sl = [s[rr][:, None, None, :] for s in slots]
        R_ad, p_ad, conv_ad = adam(topo, ops[rr], sl, starts[a0:a0 + a_chunk], segs, config)
        keep_better(*outs, rr, R_ad, p_ad, conv_ad)


def keep_better(R_out, p_out, conv_out, rows, R_new, p_new, conv_new) -> None:
    """Write the refined fits of candidates ``rows`` into the outputs in place, keeping each
    start's earlier ``R`` and parameters where the refinement did not lower ``R``.

    Shapes: ``R_out, conv_out`` ``(S, C)``, ``p_out`` ``(S, C, P)``; ``R_new, conv_new``
    ``(S, len(rows))``, ``p_new`` ``(S, len(rows), P)``."""
    better = R_new < R_out[:, rows]
    R_out[:, rows] = np.where(better, R_new, R_out[:, rows])
    p_out[:, rows] = np.where(better[..., None], p_new, p_out[:, rows])
    conv_out[:, rows] = conv_new


class Adam:
    """Adam on one array in place, the arithmetic of ``torch.optim.Adam`` (betas 0.9,
    0.999, eps 1e-8, no weight decay)."""

    BETA1, BETA2, EPS = 0.9, 0.999, 1e-8

    def __init__(self, param: np.ndarray, lr: float):
        self.param, self.lr, self.step_count = param, lr, 0
        self.exp_avg = np.zeros_like(param)
        self.exp_avg_sq = np.zeros_like(param)

    def step(self, grad: np.ndarray) -> None:
        """One update of the parameter (in place) from its gradient ``grad``."""
        self.step_count += 1
        b1, b2 = self.BETA1, self.BETA2
        self.exp_avg += (1 - b1) * (grad - self.exp_avg)
        self.exp_avg_sq *= b2
        self.exp_avg_sq += (1 - b2) * (grad * grad)
        step_size = self.lr / (1 - b1 ** float(self.step_count))
        bias2_sqrt = (1 - b2 ** float(self.step_count)) ** 0.5
        denom = np.sqrt(self.exp_avg_sq) / bias2_sqrt + self.EPS
        self.param -= step_size * (self.exp_avg / denom)


def adam(topo, op_c, sl, start: np.ndarray, segs, config):
    """Adam from ``start (g, E, S, P)``; returns ``(R (E, g), params (E, g, P), conv)`` as
    the torch path's ``optimise._adam``."""
    g, E, S, P = start.shape
    N = sl[0].shape[-1]
    scale = np.maximum(np.abs(start), 1e-12)
    theta = np.sign(start).astype(np.float64)
    opt = Adam(theta, config.lr)
    best = np.full((g, E, S), np.inf)
    best_theta = theta.copy()
    history = []
    with np.errstate(all="ignore"):
        for _ in range(config.steps):
            cc = theta * scale
            vals, tape = forward(topo, op_c, sl, [cc[..., k:k + 1] for k in range(P)])
            R, dV = r_all(vals, segs, (g, E, S, N), grad=True)
            improved = R < best  # NaN compares False: a non-finite point never wins
            best = np.where(improved, R, best)
            best_theta = np.where(improved[..., None], theta, best_theta)
            history.append(best.min(-1))
            dV[~np.isfinite(R)] = 0.0
            grads = backward(topo, op_c, tape, dV)
            grad = np.concatenate(grads, -1) * scale
            opt.step(np.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0))
    barg = best.argmin(-1)                                                     # (g, E)
    bmin = np.take_along_axis(best, barg[..., None], 2)[..., 0]
    pick = barg[..., None, None]
    bc = (np.take_along_axis(best_theta, pick, 2) * np.take_along_axis(scale, pick, 2))[:, :, 0]
    late = history[int(0.8 * len(history))]
    conv = (late - bmin) <= 1e-3 * np.abs(bmin) + 1e-12
    return bmin.T, bc.transpose(1, 0, 2), conv.T


def _objective(topo, ops, sl, c: np.ndarray, seg: Segments, grad: bool):
    """R ``(G,)`` of candidates at ``c (G, P)`` (and with ``grad`` its gradient ``(G, P)``)."""
    G, P = c.shape
    N = sl[0].shape[-1]
    pt = c[:, None, None, :]
    vals, tape = forward(topo, ops, sl, [pt[..., k:k + 1] for k in range(P)])
    V = np.broadcast_to(vals, (G, 1, 1, N))[:, 0, 0]
    if not grad:
        return r_reg(V, seg)
    R, dV = r_reg(V, seg, grad=True)
    grads = backward(topo, ops, tape, dV[:, None, None, :])
    return R, np.concatenate(grads, -1)[:, 0, 0, :]


def newton_polish(topo, ops, slots: list, params: np.ndarray, seg: Segments,
                  steps: int = 12, rel_step: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """Damped Newton refinement of ``params (G, P)`` on one segmentation, batched: the
    torch path's ``optimise.newton_polish`` with the Hessian from central differences of
    the exact gradient (step ``rel_step * max(|c|, 1e-6)`` per parameter).

    Returns ``(R (G,), params (G, P))``."""
    G, P = params.shape
    sl = [s[:, None, None, :] for s in slots]
    ops = np.asarray(ops, np.int64)
    c = np.array(params, np.float64)
    damp = np.full(G, 1e-6)
    eye = np.eye(P)
    with np.errstate(all="ignore"):
        R = _objective(topo, ops, sl, c, seg, False)
        for _ in range(steps):
            _, grad = _objective(topo, ops, sl, c, seg, True)
            h = rel_step * np.maximum(np.abs(c), 1e-6)                           # (G, P)
            cols = []
            for k in range(P):
                e = h[:, k:k + 1] * eye[k]
                gp = _objective(topo, ops, sl, c + e, seg, True)[1]
                gm = _objective(topo, ops, sl, c - e, seg, True)[1]
                cols.append((gp - gm) / (2 * h[:, k:k + 1]))
            H = np.stack(cols, 2)
            H = 0.5 * (H + H.transpose(0, 2, 1))                                   # (G, P, P)
            ok = np.isfinite(grad).all(1) & np.isfinite(H).all((1, 2))
            grad = np.where(ok[:, None], grad, 0.0)
            H = np.where(ok[:, None, None], H, eye)
            scale = np.maximum(np.abs(np.diagonal(H, axis1=1, axis2=2)).max(1), 1e-300)
            A = H + (damp * scale)[:, None, None] * eye
            step = (np.linalg.pinv(A) @ grad[..., None])[..., 0]
            c_new = c - step
            R_new = _objective(topo, ops, sl, c_new, seg, False)
            better = np.isfinite(R_new) & (R_new < R) & np.isfinite(c_new).all(1)
            c = np.where(better[:, None], c_new, c)
            R = np.where(better, R_new, R)
            damp = np.where(better, np.maximum(damp / 10, 1e-12), damp * 10)
    return R, c
