"""Fitting one shard of fit units: the hot path, run inside a worker.

Pure function of its inputs (no global RNG; numpy, or torch on one thread), so a shard
gives the same numbers whichever process, backend or worker count runs it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dslsearch.fitting.evaluate import SlotValues
from dslsearch.fitting.malloc import tune_malloc
from dslsearch.fitting.filter import FitStatus, could_pass
from dslsearch.fitting.objective import Segments, is_trivial, relabel, sums_of_squares
from dslsearch.fitting.optimise import (AdamConfig, basis_values, coefficients_to_params,
                                        evaluate_topology, linearise, solve_affine, topology)
from dslsearch.fitting.skeleton import (RECIPROCAL, SLOT, FitUnit, evaluate_struct,
                                        n_struct_params)


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
        memory_bytes: memory this shard's worker may use for values of sub-formulas
            (:class:`~dslsearch.fitting.evaluate.SlotValues`) and its batches. The laws do
            not depend on it; the batches' sizes can move the rounding of a gradient fit,
            and with it the optimum a few candidates end at (117 of the pendulum's 33,631
            at depth 7 between 128 and 64 MB).
        values_key: names the table, data and budget (:func:`values_key`), so a worker
            reuses its sub-formula values without hashing the table for every shard; ""
            to hash them here.
        kinds: ``(len(units),)`` int8 kind of each unit as the plan classified its
            skeleton (0 parameter-free, 1 closed form, 2 gradient fit:
            :meth:`~dslsearch.fitting.plan.ShardPlan.unit_kinds`), so the worker does not
            classify every skeleton again; None to classify them here. Results do not
            depend on it.
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
    memory_bytes: int = 256 << 20
    values_key: str = ""
    kinds: np.ndarray | None = None


@dataclass
class ShardOutput:
    """Per-unit results, arrays of length ``len(units)`` (params ``(n, P_max)``, NaN-padded)."""

    params: np.ndarray
    r_true: np.ndarray
    r_random: np.ndarray
    status: np.ndarray
    message: list[str]


_VALUES_CACHE: dict = {}

def values_key(op, a, b, x, memory_bytes: int) -> str:
    """A hash of what a worker's :class:`SlotValues` depend on: table arrays, points,
    budget."""
    import hashlib

    h = hashlib.sha256(str(memory_bytes).encode())
    for arr in (op, a, b, x):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def keep_values(op, a, b, size, x: np.ndarray, key: str, budget_bytes: int) -> None:
    """Make this process's :class:`SlotValues` of a table and points now, under ``key``
    (:func:`values_key`) with ``budget_bytes`` of kept values: worker processes forked
    afterwards find them made (one copy in shared pages instead of one per worker).
    Values do not depend on the budget, only which of them are kept."""
    from dslsearch.fitting.skeleton import parameter_counts

    if key not in _VALUES_CACHE:
        _VALUES_CACHE.clear()  # one data set at a time: bounded memory
        free = parameter_counts(op, a, b) == 0
        _VALUES_CACHE[key] = SlotValues(op, a, b, size, x, free, budget_bytes)


def keep_values_forked(op, a, b, size, x: np.ndarray, key: str,
                       budget_bytes: int) -> Callable[..., None]:
    """:func:`keep_values`, computed in a process forked from this one
    (:class:`~dslsearch.fitting.forked.ForkedCall`) into memory shared with it, while this
    process goes on (planning the shards). Returns ``wait(cancel=False)``: it waits for
    them and then holds the values under ``key`` here, in the shared pages that worker
    processes forked afterwards inherit; ``wait(cancel=True)`` stops that process instead
    (the caller failed). Unlike a thread of this process, the forked process does not share
    this process's interpreter lock, so the planning and the values do not slow each other.
    The values are those :func:`keep_values` makes, by the same code; if the forked process
    fails (killed, out of memory) they are computed here instead. POSIX only."""
    import mmap

    from dslsearch.fitting.evaluate import kept_shape
    from dslsearch.fitting.forked import ForkedCall
    from dslsearch.fitting.skeleton import parameter_counts

    if key in _VALUES_CACHE:
        return lambda cancel=False: None
    free = parameter_counts(op, a, b) == 0
    shape = kept_shape(op, a, b, size, x, free, budget_bytes)
    shared = np.frombuffer(mmap.mmap(-1, max(8 * shape[0] * shape[1], 8)), np.float64)
    values = SlotValues(op, a, b, size, x, free, budget_bytes,
                        out=shared[: shape[0] * shape[1]].reshape(shape), compute=False)
    call = ForkedCall(_compute_kept, values, op, a, b, size, x)

    def wait(cancel: bool = False) -> None:
        if cancel:
            call.cancel()
            return
        call.result()   # computed here if the forked process failed: the same values
        _VALUES_CACHE.clear()  # one data set at a time, as keep_values
        _VALUES_CACHE[key] = values

    return wait


def _compute_kept(values: SlotValues, op, a, b, size, x) -> None:
    """Fill ``values``' kept values (made with ``compute=False``); in a forked process, the
    garbage collector off so that it copies no page it does not write."""
    import gc

    from dslsearch.fitting.timeline import stamp

    stamp("values")
    enabled = gc.isenabled()
    gc.disable()
    try:
        values.kept.compute(op, a, b, size, x)
    finally:
        if enabled:
            gc.enable()
        stamp("end")


def drop_values() -> None:
    """Free this process's sub-formula values (:func:`keep_values`, :func:`fit_shard`)."""
    _VALUES_CACHE.clear()


def _slot_values(inp: ShardInput) -> SlotValues:
    """The process's :class:`SlotValues` of the shard's table and data, made once per process
    and reused by every shard that process runs (keyed by :attr:`ShardInput.values_key`)."""
    key = inp.values_key or values_key(inp.op, inp.a, inp.b, inp.x, inp.memory_bytes)
    keep_values(inp.op, inp.a, inp.b, inp.size, inp.x, key, inp.memory_bytes)
    return _VALUES_CACHE[key]


def fit_shard(inp: ShardInput) -> ShardOutput:
    """Fit every unit of a shard; never raises for a bad formula (status + message instead).

    Runs on numpy alone unless ``inp.adam.engine`` is "torch" (or a gradient-fitted unit
    uses an operation without a numpy backward rule): then torch is imported."""
    tune_malloc()
    with np.errstate(all="ignore"):  # NaN/inf are recorded as statuses, not warned about
        fitter = _ShardFitter(inp)
        if not inp.units:
            return fitter.out
        free, affine, nonlinear = _group_units(inp.units, inp.kinds)
        fitter.fit_free(free)
        for (struct, lin), rows in affine.items():
            fitter.fit_affine(struct, lin, np.asarray(rows))
        if not _uses_torch(inp.adam, nonlinear):
            for topo, items in nonlinear.items():
                fitter.fit_nonlinear(topo, items)
            return fitter.out
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # deterministic, and no oversubscription of the cores
        try:
            for topo, items in nonlinear.items():
                fitter.fit_nonlinear(topo, items)
        finally:
            torch.set_num_threads(threads)
    return fitter.out


def _uses_torch(adam: AdamConfig, nonlinear: dict) -> bool:
    return any(_engine(adam, np.asarray([o for _, o in items])) is not _npgrad()
               for items in nonlinear.values())


def _npgrad():
    from dslsearch.fitting import npgrad

    return npgrad


class _TorchEngine:
    """The torch path of the gradient fit (:mod:`dslsearch.fitting.optimise`)."""

    def __init__(self):
        from dslsearch.fitting import optimise

        self.fit_gradient = optimise.fit_gradient
        self.newton_polish = optimise.newton_polish
        self.evaluate = _eval_topo


def _engine(adam: AdamConfig, ops: np.ndarray):
    """The module-like object that fits ``ops``' topology: numpy unless ``adam.engine`` is
    "torch" or an operation has no numpy backward rule (``npgrad.DERIVATIVES``)."""
    if adam.engine == "numpy" and _npgrad().supported(ops):
        return _npgrad()
    return _TorchEngine()


def _group_units(units: list[FitUnit], kinds: np.ndarray | None = None
                 ) -> tuple[list, dict, dict]:
    """Unit indices split by how they are fitted.

    Each distinct skeleton is classified once (units of one skeleton are consecutive in a
    shard); with ``kinds`` (the plan's kind of each unit) the skeletons that need a
    gradient fit are not linearised here at all.

    Returns:
        ``(free, affine, nonlinear)``: parameter-free units; affine units by
        ``(struct, linearise(struct))``; the others by topology, as ``(index, ops)`` items.
    """
    free, affine, nonlinear = [], defaultdict(list), defaultdict(list)
    prev, target, ops = None, None, None
    for i, u in enumerate(units):
        if u.struct is not prev and u.struct != prev:
            prev, ops = u.struct, None
            kind = _struct_kind(prev) if kinds is None else int(kinds[i])
            if kind == 0:
                target = free
            elif kind == 1:
                target = affine[(prev, linearise(prev))]
            else:
                topo, ops = topology(prev)
                target = nonlinear[topo]
        target.append(i if ops is None else (i, ops))
    return free, affine, nonlinear


def _struct_kind(struct: tuple) -> int:
    """0: parameter-free, 1: affine in its parameters, 2: gradient fit."""
    if n_struct_params(struct) == 0:
        return 0
    return 1 if linearise(struct) is not None else 2


class _ShardFitter:
    """Fits groups of a shard's units and records their results in :attr:`out`."""

    def __init__(self, inp: ShardInput):
        self.inp = inp
        n = len(inp.units)
        p_max = max((n_struct_params(u.struct) for u in inp.units), default=0)
        self.out = ShardOutput(np.full((n, max(p_max, 1)), np.nan), np.full(n, np.nan),
                               np.full(n, np.nan), np.zeros(n, np.int8), [""] * n)
        if n == 0:
            return
        self.nv = _slot_values(inp)
        self.seg_t, self.seg_r = Segments(inp.labels_true), Segments(inp.labels_random)
        fp = inp.fit_points
        self.fseg_t = Segments(relabel(inp.labels_true[fp]))
        self.fseg_r = Segments(relabel(inp.labels_random[fp]))

    def batch_rows(self, arrays: int, most: int) -> int:
        """Rows of a batch for which ``arrays`` temporaries ``(rows, N)`` float64 fit in a
        quarter of the shard's memory budget (64 to ``most``); results do not depend on it."""
        row_bytes = 8 * max(len(self.inp.x), 1) * arrays
        return int(np.clip(self.inp.memory_bytes // (4 * row_bytes), 64, most))

    def slot_values(self, rows) -> list[np.ndarray]:
        """One ``(G, N)`` array per slot of units ``rows`` (which share a structure)."""
        units = self.inp.units
        ids = np.asarray([units[r].slots for r in rows], np.int64).reshape(len(rows), -1)
        V = self.nv[ids]                                                   # (G, n_slots, N)
        return [V[:, j] for j in range(ids.shape[1])]

    def fit_free(self, free: list[int]) -> None:
        """Parameter-free units: R straight from the shared values."""
        step = self.batch_rows(12, 4096)
        for start in range(0, len(free), step):
            rows = np.asarray(free[start:start + step])
            structs = [self.inp.units[r].struct for r in rows]
            V = self.nv[np.asarray([self.inp.units[r].slots[0] for r in rows])]
            recip = np.asarray([s != SLOT for s in structs])
            V[recip] = RECIPROCAL.numpy(V[recip])
            self.finish(rows, V, None)

    def fit_affine(self, struct: tuple, lin: tuple, rows: np.ndarray) -> None:
        """Units affine in their parameters: generalised eigenproblem, exact."""
        lin_struct, inverse = lin
        P = len(inverse)
        step = self.batch_rows(6 * (P + 1), 1024)
        for start in range(0, len(rows), step):
            rr = rows[start:start + step]
            slots = self.slot_values(rr)
            F = basis_values(lin_struct, slots, P)                   # (G, P+1, N)
            ok = np.isfinite(F).all((1, 2))
            params = np.full((len(rr), P), np.nan)
            R, Vec = solve_affine(np.where(ok[:, None, None], F, 0.0), [self.seg_t, self.seg_r])
            Fc = F[:, 0] - F[:, 0].mean(-1, keepdims=True)
            f0_const = ~(np.einsum("gn,gn->g", Fc, Fc) > 1e-20 * np.einsum(
                "gn,gn->g", F[:, 0], F[:, 0]))
            params[:] = coefficients_to_params(Vec[0], f0_const, inverse)
            # constant for every parameter value (e.g. (p + p/c)/p): any value shows it
            params[ok & np.isnan(R[0])] = 1.0
            params[~ok] = np.nan
            Vfin = evaluate_struct(struct, slots, [params[:, k:k + 1] for k in range(P)], np)
            Vfin = np.broadcast_to(Vfin, slots[0].shape).copy() if slots else Vfin
            Vfin[~ok] = np.nan
            self.finish(rr, Vfin, np.where(ok[:, None], params, 0.0), r_random_fit=R[1])
            for k, r in enumerate(rr):
                if not ok[k]:
                    self.out.params[r, :P] = np.nan

    def fit_nonlinear(self, topo: tuple, items: list) -> None:
        """Units of one topology: grid + batched Adam, Newton polish of the promising ones;
        the random data is refitted only where the verdict could depend on it."""
        inp = self.inp
        items = sorted(items, key=lambda item: item[1])  # by ops: few runs per node
        rows = np.asarray([i for i, _ in items])
        ops = np.asarray([o for _, o in items], np.int64).reshape(len(items), -1)
        slots_all = self.slot_values(rows)
        slots_fit = [s[:, inp.fit_points] for s in slots_all]
        eng = _engine(inp.adam, ops)
        shared = {}
        if eng is _npgrad():  # the grid computes sub-formulas candidates share once
            shared["slot_ids"] = np.asarray([inp.units[r].slots for r in rows.tolist()],
                                            np.int64).reshape(len(rows), -1)
        _, p_t, conv = eng.fit_gradient(topo, ops, slots_fit, [self.fseg_t], inp.adam,
                                        inp.memory_bytes // 64, **shared)
        params = p_t[0]
        Vfin = eng.evaluate(topo, ops, slots_all, params)
        Vs = np.where(np.isfinite(Vfin), Vfin, 0.0)
        Wt, T, _ = sums_of_squares(Vs, self.seg_t)
        maybe = could_pass(Wt / T, inp.factor) & np.isfinite(Vfin).all(1)
        r_rand_fit = np.full(len(rows), np.nan)
        if maybe.any():
            idx = np.nonzero(maybe)[0]
            r_rand_fit[idx] = self.refine(eng, topo, ops[idx], [s[idx] for s in slots_all],
                                          [s[idx] for s in slots_fit], params, Vfin, idx)
        self.finish(rows, Vfin, params, r_random_fit=r_rand_fit, conv=conv[0])

    def refine(self, eng, topo, ops, slots_all, slots_fit, params, Vfin, idx) -> np.ndarray:
        """For the candidates ``idx`` that could pass: polish their true-data fit in place
        (``params``, ``Vfin``) and return R of their own fit on the random data."""
        inp = self.inp
        # Newton refinement from the optimum, on all points: the final R's optimum
        _, params[idx] = eng.newton_polish(topo, ops, slots_all, params[idx], self.seg_t,
                                           inp.adam.polish_steps)
        Vfin[idx] = eng.evaluate(topo, ops, slots_all, params[idx])
        _, p_r, _ = eng.fit_gradient(topo, ops, slots_fit, [self.fseg_r], inp.adam,
                                     inp.memory_bytes // 64)
        Vr = eng.evaluate(topo, ops, slots_all, p_r[0])
        Vr = np.where(np.isfinite(Vr), Vr, 0.0)
        Wr, Tr, _ = sums_of_squares(Vr, self.seg_r)
        return Wr / Tr

    def finish(self, rows: np.ndarray, V: np.ndarray, params: np.ndarray | None,
               r_random_fit: np.ndarray | None = None, conv: np.ndarray | None = None) -> None:
        """Final scores on all points for units ``rows`` with values ``V (G, N)``."""
        out = self.out
        finite = np.isfinite(V).all(1)
        Vs = np.where(finite[:, None], V, 0.0)
        Wt, T, Q = sums_of_squares(Vs, self.seg_t)
        Wr, _, _ = sums_of_squares(Vs, self.seg_r)
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
            status[~np.isfinite(params).all(1)] = FitStatus.NONFINITE
            out.params[rows, : params.shape[1]] = params
        out.r_true[rows] = np.where(status == FitStatus.OK, rt, np.where(trivial, np.nan, rt))
        out.r_random[rows] = rr
        out.status[rows] = status
        text = [_MESSAGE[c] for c in status.tolist()]
        if params is not None:  # finite values, an infinite parameter
            for i in np.nonzero((status == FitStatus.NONFINITE) & finite)[0].tolist():
                text[i] = _AT_INFINITY
        message = out.message
        for r, t in zip(rows.tolist(), text):
            message[r] = t


#: each status code's message (:attr:`FitStatus.message`), and the message of a fit whose
#: values are finite but whose optimum lies at an infinite parameter
_MESSAGE = {int(st): st.message for st in FitStatus}
_AT_INFINITY = "optimum at an infinite parameter (the formula reduces to a simpler one)"


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
