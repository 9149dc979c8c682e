"""Fitting one shard of fit units: the hot path, run inside a worker.

Pure function of its inputs (no global RNG, one torch thread), so a shard gives the same
numbers whichever process, backend or worker count runs it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from dslsearch.fitting.evaluate import NodeValues
from dslsearch.fitting.filter import FitStatus, could_pass
from dslsearch.fitting.objective import Segments, is_trivial, sums_of_squares
from dslsearch.fitting.optimise import (AdamConfig, basis_values, coefficients_to_params,
                                        evaluate_topology, fit_gradient, linearise,
                                        solve_affine, topology)
from dslsearch.fitting.skeleton import FitUnit, SLOT, evaluate_struct, n_struct_params


@dataclass
class ShardInput:
    """Everything a worker needs (picklable, a few MB).

    Attributes:
        op, a, b, size: the table arrays ``(n_nodes,)``.
        units: the shard's fit units.
        x: ``(N, d)`` training points (SI base units).
        labels_true, labels_random: ``(N,)`` trajectory / pseudo-trajectory index per point.
        fit_points: ``(M,)`` indices of the points used while fitting (final R uses all N).
        factor: acceptance factor of the random-sequence test (to skip hopeless random fits).
        adam: gradient-fit settings.
    """

    op: np.ndarray
    a: np.ndarray
    b: np.ndarray
    size: np.ndarray
    units: list[FitUnit]
    x: np.ndarray
    labels_true: np.ndarray
    labels_random: np.ndarray
    fit_points: np.ndarray
    factor: float
    adam: AdamConfig


@dataclass
class ShardOutput:
    """Per-unit results, arrays of length ``len(units)`` (params ``(n, P_max)``, NaN-padded)."""

    params: np.ndarray
    r_true: np.ndarray
    r_random: np.ndarray
    status: np.ndarray
    message: list[str]


_VALUES_CACHE: dict = {}


def _node_values(inp: ShardInput) -> NodeValues:
    """Values of every parameter-free node of the table, computed once per process and
    reused by every shard that process runs (keyed by a hash of the table and the data)."""
    import hashlib

    h = hashlib.sha256()
    for arr in (inp.op, inp.a, inp.b, inp.x):
        h.update(np.ascontiguousarray(arr).tobytes())
    key = h.hexdigest()
    nv = _VALUES_CACHE.get(key)
    if nv is None:
        from dslsearch.fitting.skeleton import parameter_counts

        roots = np.nonzero(parameter_counts(inp.op, inp.a, inp.b) == 0)[0]
        nv = NodeValues(inp.op, inp.a, inp.b, inp.size, inp.x, roots)
        _VALUES_CACHE.clear()  # one data set at a time: bounded memory
        _VALUES_CACHE[key] = nv
    return nv


def _relabel(labels: np.ndarray) -> np.ndarray:
    _, inv = np.unique(labels, return_inverse=True)
    return inv


def fit_shard(inp: ShardInput) -> ShardOutput:
    """Fit every unit of a shard; never raises for a bad formula (status + message instead)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # deterministic, and no oversubscription of the cores
    try:
        with np.errstate(all="ignore"):  # NaN/inf are recorded as statuses, not warned about
            return _fit_shard(inp)
    finally:
        torch.set_num_threads(threads)


def _fit_shard(inp: ShardInput) -> ShardOutput:
    n = len(inp.units)
    p_max = max((n_struct_params(u.struct) for u in inp.units), default=0)
    out = ShardOutput(np.full((n, max(p_max, 1)), np.nan), np.full(n, np.nan),
                      np.full(n, np.nan), np.zeros(n, np.int8), [""] * n)
    if n == 0:
        return out
    nv = _node_values(inp)
    seg_t, seg_r = Segments(inp.labels_true), Segments(inp.labels_random)
    fp = inp.fit_points
    fseg_t = Segments(_relabel(inp.labels_true[fp]))
    fseg_r = Segments(_relabel(inp.labels_random[fp]))

    def finish(rows: np.ndarray, V: np.ndarray, params: np.ndarray | None,
               r_random_fit: np.ndarray | None = None, conv: np.ndarray | None = None):
        """Final scores on all points for units ``rows`` with values ``V (G, N)``."""
        finite = np.isfinite(V).all(1)
        with np.errstate(all="ignore"):
            Vs = np.where(finite[:, None], V, 0.0)
            Wt, T, Q = sums_of_squares(Vs, seg_t)
            Wr, _, _ = sums_of_squares(Vs, seg_r)
            rt, rr = Wt / T, Wr / T
        if r_random_fit is not None:  # the random-data fit (its own parameters) is lower
            rr = np.where(np.isfinite(r_random_fit), np.fmin(rr, r_random_fit), rr)
        trivial = is_trivial(T, Q) & finite
        status = np.full(len(rows), FitStatus.OK, np.int8)
        if conv is not None:
            status[~conv] = FitStatus.NOT_CONVERGED
        status[trivial] = FitStatus.TRIVIAL
        status[~finite] = FitStatus.NONFINITE
        if params is not None:
            bad_p = ~np.isfinite(params).all(1)
            status[bad_p] = FitStatus.NONFINITE
            out.params[rows, : params.shape[1]] = params
        out.r_true[rows] = np.where(status == FitStatus.OK, rt, np.where(trivial, np.nan, rt))
        out.r_random[rows] = rr
        out.status[rows] = status
        for i, r in enumerate(rows):
            st = FitStatus(int(status[i]))
            msg = st.message
            if params is not None and st == FitStatus.NONFINITE and finite[i]:
                msg = "optimum at an infinite parameter (the formula reduces to a simpler one)"
            out.message[r] = msg

    # group units: parameter-free, affine (by struct), nonlinear (by topology)
    free, affine, nonlin = [], defaultdict(list), defaultdict(list)
    for i, u in enumerate(inp.units):
        if n_struct_params(u.struct) == 0:
            free.append(i)
        elif (lin := linearise(u.struct)) is not None:
            affine[(u.struct, lin)].append(i)
        else:
            topo, ops = topology(u.struct)
            nonlin[topo].append((i, ops))

    # 1. parameter-free: R straight from the shared values
    for start in range(0, len(free), 4096):
        rows = np.asarray(free[start:start + 4096])
        structs = [inp.units[r].struct for r in rows]
        V = nv[np.asarray([inp.units[r].slots[0] for r in rows])]
        recip = np.asarray([s != SLOT for s in structs])
        with np.errstate(all="ignore"):
            V[recip] = 1.0 / V[recip]
        finish(rows, V, None)

    # 2. affine in the parameters: generalised eigenproblem, exact
    for (struct, (lin, inverse)), rows in affine.items():
        rows = np.asarray(rows)
        for start in range(0, len(rows), 1024):
            rr = rows[start:start + 1024]
            slots = [nv[np.asarray([inp.units[r].slots[j] for r in rr])]
                     for j in range(len(inp.units[rr[0]].slots))]
            P = len(inverse)
            F = basis_values(lin, slots, P)                          # (G, P+1, N)
            ok = np.isfinite(F).all((1, 2))
            params = np.full((len(rr), P), np.nan)
            R, Vec = solve_affine(np.where(ok[:, None, None], F, 0.0), [seg_t, seg_r])
            Fc = F[:, 0] - F[:, 0].mean(-1, keepdims=True)
            f0_const = ~(np.einsum("gn,gn->g", Fc, Fc) > 1e-20 * np.einsum(
                "gn,gn->g", F[:, 0], F[:, 0]))
            params[:] = coefficients_to_params(Vec[0], f0_const, inverse)
            # constant for every parameter value (e.g. (p + p/c)/p): any value shows it
            params[ok & np.isnan(R[0])] = 1.0
            params[~ok] = np.nan
            with np.errstate(all="ignore"):
                Vfin = evaluate_struct(struct, slots, [params[:, k:k + 1] for k in range(P)], np)
            Vfin = np.broadcast_to(Vfin, slots[0].shape).copy() if slots else Vfin
            Vfin[~ok] = np.nan
            finish(rr, Vfin, np.where(ok[:, None], params, 0.0), r_random_fit=R[1])
            for k, r in enumerate(rr):
                if not ok[k]:
                    out.params[r, :P] = np.nan

    # 3. nonlinear: grid + batched Adam per topology, Newton polish of the promising ones;
    #    the random data is refitted only where the verdict could depend on it
    import torch

    for topo, items in nonlin.items():
        rows = np.asarray([i for i, _ in items])
        ops = np.asarray([o for _, o in items], np.int64).reshape(len(items), -1)
        n_slots = len(inp.units[rows[0]].slots)
        slots_all = [nv[np.asarray([inp.units[r].slots[j] for r in rows])] for j in range(n_slots)]
        slots_fit = [s[:, fp] for s in slots_all]
        P = n_struct_params(topo)
        _, p_t, conv = fit_gradient(topo, ops, slots_fit, [fseg_t], inp.adam)
        params = p_t[0]
        Vfin = _eval_topo(topo, ops, slots_all, params)
        # random data: refit only where the candidate could still pass
        with np.errstate(all="ignore"):
            Vs = np.where(np.isfinite(Vfin), Vfin, 0.0)
            Wt, T, _ = sums_of_squares(Vs, seg_t)
            maybe = could_pass(Wt / T, inp.factor) & np.isfinite(Vfin).all(1)
        r_rand_fit = np.full(len(rows), np.nan)
        if maybe.any():
            idx = np.nonzero(maybe)[0]
            # polish the few promising true-data fits: long, small-step Adam from the optimum
            params[idx] = _polish(topo, ops[idx], [s[idx] for s in slots_all], params[idx],
                                  seg_t, inp.adam)  # on all points: the final R's optimum
            Vfin[idx] = _eval_topo(topo, ops[idx], [s[idx] for s in slots_all], params[idx])
            _, p_r, _ = fit_gradient(topo, ops[idx], [s[idx] for s in slots_fit], [fseg_r],
                                     inp.adam)
            Vr = _eval_topo(topo, ops[idx], [s[idx] for s in slots_all], p_r[0])
            with np.errstate(all="ignore"):
                Vr = np.where(np.isfinite(Vr), Vr, 0.0)
                Wr, Tr, _ = sums_of_squares(Vr, seg_r)
                r_rand_fit[idx] = Wr / Tr
        finish(rows, Vfin, params, r_random_fit=r_rand_fit, conv=conv[0])
    del torch
    return out


def _polish(topo, ops, slots, params: np.ndarray, seg: Segments, adam: AdamConfig) -> np.ndarray:
    """Newton-refine ``params (G, P)`` of candidates that could pass (see
    :func:`~dslsearch.fitting.optimise.newton_polish`)."""
    from dslsearch.fitting.optimise import newton_polish

    _, p = newton_polish(topo, ops, slots, params, seg, adam.polish_steps)
    return p


def _eval_topo(topo, ops, slots, params) -> np.ndarray:
    """Values ``(G, N)`` of candidates of one topology at ``params (G, P)`` (no gradient)."""
    import torch

    with torch.no_grad():
        sl = [torch.as_tensor(s)[:, None, None, :] for s in slots]
        pt = torch.as_tensor(params)[:, None, None, :]
        V = evaluate_topology(topo, torch.as_tensor(ops), sl,
                              [pt[..., k:k + 1] for k in range(params.shape[1])])
        N = slots[0].shape[1]
        return V.expand(len(ops), 1, 1, N)[:, 0, 0].numpy().copy()
