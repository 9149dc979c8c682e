"""The fit stage end to end: shards, joblib / dask workers, resumable store writes, laws.

Candidates are reduced to *fit units* (root-affine parameters stripped, duplicates
removed), the units are sorted so that units of one skeleton topology sit together, and
cut into shards of bounded cost. A shard's result depends only on its inputs (fixed start
tables and one seeded random segmentation for the whole data set, one torch thread), so
results are identical for any backend and number of workers. Each finished shard is written
atomically to ``fits/d{N}-{hash}/shard-{k:05d}``; a rerun skips the shards already there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dslsearch.fitting.filter import FitStatus, accepted
from dslsearch.fitting.merge import merge_groups
from dslsearch.fitting.objective import Segments
from dslsearch.fitting.optimise import AdamConfig, linearise, topology
from dslsearch.fitting.shard import ShardInput, ShardOutput, fit_shard
from dslsearch.fitting.skeleton import SkeletonBuilder, n_struct_params

SHARD_ENCODING = "fit-shard"
LAWS_ENCODING = "fit-laws"
ENCODING_VERSION = 1


@dataclass(frozen=True)
class FitConfig:
    """Settings of the fit stage. Fields marked (result) enter the config hash."""

    factor: float = 100.0         # (result) accept when R_random >= factor * R_true
    seed: int = 0                 # (result) seed of the random-sequence shuffle
    fit_stride: int = 3           # (result) fit on every k-th point; final R uses all points
    window: int | None = None     # (result) split train trajectories into windows of this
    #                               many points (None: only when there is 1 trajectory: 20)
    shard_cost: int = 20000       # (result) cost budget of a shard (1 per parameter-free
    #                               unit, 3 per closed-form fit, 30 per gradient fit)
    merge_tol: float = 1e-6       # (result) 1 - |corr| below which survivors are one law
    adam: AdamConfig = AdamConfig()  # (result) gradient-fit settings
    workers: int | None = None    # worker processes (None: all cores)
    backend: str = "joblib"       # "joblib" or "dask"
    scheduler: str | None = None  # dask scheduler address (None: a LocalCluster)

    def result_fields(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("workers", "backend", "scheduler"):
            d.pop(k)
        return d


@dataclass
class Law:
    """A conservation law: a survivor and every survivor equal to it up to sign, scale and
    additive constant.

    Attributes:
        formula: the representative (fewest nodes) :class:`~dslsearch.formula.Formula`.
        params: its fitted parameters ``(P,)`` (SI base units of the data).
        expr: sympy syntax with the fitted numbers and the data's variable names.
        variants: distinct ``expr`` of the merged survivors, representative first.
        n_merged: number of surviving candidates merged into this law.
        R_true, R_random: R of the representative on the true and random sequences.
        size: node count of the representative.
        param_units: pretty unit of each parameter (``"kg·m⁴/s²"``; ``""`` dimensionless).
        param_text: each parameter with its unit, ``"2.999 kg·m⁴/s²"``.
        node: table node id of the representative.
    """

    formula: object
    params: np.ndarray
    expr: str
    variants: list[str]
    n_merged: int
    R_true: float
    R_random: float
    size: int
    param_units: list[str]
    param_text: list[str]
    node: int

    @property
    def n_variants(self) -> int:
        return len(self.variants)

    def torch_fn(self) -> Callable:
        """Differentiable ``g(x: (B, d)) -> (B,)`` with the fitted parameters."""
        return self.formula.torch_fn([float(p) for p in self.params])

    def to_json(self) -> dict:
        return {"formula": self.expr, "variants": self.n_variants, "R_true": self.R_true,
                "R_random": self.R_random}


@dataclass
class FitResult:
    """What :func:`fit_candidates` returns.

    Attributes:
        laws: merged laws, best (lowest R_true) first.
        n_candidates: candidates in the table; n_units: distinct fitting problems after
        stripping root-affine parameters; n_fitted: candidates with status OK;
        n_failed: NaN/inf or not converged; n_trivial; n_survivors: candidates passing the
        random-sequence test; seconds: wall time of this call; key: store folder key.
    """

    laws: list[Law]
    n_candidates: int
    n_units: int
    n_fitted: int
    n_failed: int
    n_trivial: int
    n_survivors: int
    seconds: float
    key: str
    shards_done: int = 0
    shards_total: int = 0
    extra: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------------------
def config_hash(config: FitConfig, dataset, table) -> str:
    """12 hex digits over the result-relevant settings, the data and the table."""
    h = hashlib.sha256()
    h.update(json.dumps(config.result_fields(), sort_keys=True, default=str).encode())
    h.update(str(dataset.content_hash()).encode())
    for arr in (table.op, table.a, table.b, table.candidates):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:12]


def _segments(dataset, config: FitConfig) -> tuple[np.ndarray, np.ndarray]:
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


def _unit_cost(struct: tuple) -> int:
    if n_struct_params(struct) == 0:
        return 1
    return 3 if linearise(struct) is not None else 30


def _plan(table, config: FitConfig):
    """Reduce candidates to units and cut the units into shards.

    Returns:
        ``(units, reductions, cand_unit, shards)``: ``shards`` a list of unit-index arrays.
    """
    sb = SkeletonBuilder(table.op, table.a, table.b)
    reductions = [sb.reduce(int(c)) for c in table.candidates]
    index: dict = {}
    cand_unit = np.empty(len(reductions), np.int64)
    for i, r in enumerate(reductions):
        cand_unit[i] = index.setdefault(r.unit, len(index))
    units = list(index)

    def sort_key(i: int):
        u = units[i]
        P = n_struct_params(u.struct)
        kind = 0 if P == 0 else (1 if linearise(u.struct) is not None else 2)
        topo = repr(topology(u.struct)[0]) if kind == 2 else repr(u.struct)
        return (kind, topo, repr(u.struct), u.slots)

    order = sorted(range(len(units)), key=sort_key)
    shards, cur, cost = [], [], 0
    for i in order:
        c = _unit_cost(units[i].struct)
        if cur and cost + c > config.shard_cost:
            shards.append(np.asarray(cur))
            cur, cost = [], 0
        cur.append(i)
        cost += c
    if cur:
        shards.append(np.asarray(cur))
    return units, reductions, cand_unit, shards


def _load_table(store, dataset, depth: int):
    from dslsearch.enumerate import enumerate_formulas, read_table, table_key, write_table

    if store is not None and store.exists(table_key(depth)):
        table = read_table(store, depth)
    else:
        table = enumerate_formulas(dataset.variables, depth)
        if store is not None:
            write_table(store, table)
    want = tuple((v.name, v.unit) for v in dataset.variables)
    if tuple(tuple(v) for v in table.variables) != want:
        raise ValueError(
            f"store: candidates/d{depth} was enumerated for variables {table.variables}, "
            f"but the data has {want}; use another --out folder for this data")
    return table


def _candidate_rows(out: ShardOutput, shard_units: np.ndarray, cand_unit, reductions,
                    cand_ids: np.ndarray):
    """Expand unit results of one shard to its candidates (candidate order)."""
    pos = {int(u): j for j, u in enumerate(shard_units)}
    cands = np.nonzero(np.isin(cand_unit, shard_units))[0]
    p_max = max((reductions[c].n_params for c in cands), default=0)
    params = np.full((len(cands), max(p_max, 1)), np.nan)
    r_true = np.empty(len(cands))
    r_rand = np.empty(len(cands))
    status = np.empty(len(cands), np.int8)
    message = []
    for row, c in enumerate(cands):
        j = pos[int(cand_unit[c])]
        red = reductions[c]
        for k, orig in enumerate(red.kept):
            params[row, orig] = out.params[j, k]
        for orig, neutral in red.stripped:
            params[row, orig] = neutral
        r_true[row], r_rand[row] = out.r_true[j], out.r_random[j]
        status[row] = out.status[j]
        message.append(out.message[j])
    return cands, cand_ids[cands], params, r_true, r_rand, status, message


def _write_shard(store, key, rows) -> None:
    import h5py

    cands, ids, params, r_true, r_rand, status, message = rows
    with store.write(key, SHARD_ENCODING, ENCODING_VERSION) as f:
        f.create_dataset("candidate_index", data=cands.astype(np.int64))
        f.create_dataset("node", data=ids.astype(np.int64))
        f.create_dataset("params", data=params)
        f.create_dataset("R_true", data=r_true)
        f.create_dataset("R_random", data=r_rand)
        f.create_dataset("status", data=status)
        f.create_dataset("message", data=np.array(message, dtype=object),
                         dtype=h5py.string_dtype())


def read_fits(store, key: str) -> dict:
    """All candidates' fit results under ``fits/<key>``, in candidate order.

    Returns:
        dict of arrays: ``node``, ``params (n, P_max)``, ``R_true``, ``R_random``,
        ``status``, ``message`` (list of str).
    """
    parts = []
    for k in store.keys(f"fits/{key}"):
        if not k.rsplit("/", 1)[-1].startswith("shard-"):
            continue
        with store.read(k, SHARD_ENCODING) as f:
            parts.append({n: f[n][()] for n in ("candidate_index", "node", "params", "R_true",
                                                "R_random", "status", "message")})
    if not parts:
        return {}
    idx = np.concatenate([p["candidate_index"] for p in parts])
    order = np.argsort(idx)
    p_max = max(p["params"].shape[1] for p in parts)
    params = np.concatenate([np.pad(p["params"], ((0, 0), (0, p_max - p["params"].shape[1])),
                                    constant_values=np.nan) for p in parts])
    msgs = [m.decode() if isinstance(m, bytes) else str(m) for p in parts for m in p["message"]]
    return {"candidate_index": idx[order],
            "node": np.concatenate([p["node"] for p in parts])[order],
            "params": params[order],
            "R_true": np.concatenate([p["R_true"] for p in parts])[order],
            "R_random": np.concatenate([p["R_random"] for p in parts])[order],
            "status": np.concatenate([p["status"] for p in parts])[order],
            "message": [msgs[i] for i in order]}


def _run_shards(todo, make_input, config: FitConfig, on_done):
    """Run ``fit_shard`` on every shard index in ``todo``; ``on_done(k, out)`` in the parent
    as each finishes (any order)."""
    workers = config.workers or os.cpu_count() or 1
    if config.backend == "dask":
        from dask.distributed import Client, LocalCluster, as_completed

        cluster = None
        if config.scheduler:
            client = Client(config.scheduler)
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        try:
            futures = {client.submit(fit_shard, make_input(k), pure=False): k for k in todo}
            for fut in as_completed(futures):
                on_done(futures[fut], fut.result())
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        return
    if config.backend != "joblib":
        raise ValueError(f"backend: expected 'joblib' or 'dask', got {config.backend!r}")
    if workers == 1 or len(todo) <= 1:
        for k in todo:
            on_done(k, fit_shard(make_input(k)))
        return
    from joblib import Parallel, delayed

    par = Parallel(n_jobs=workers, return_as="generator_unordered")
    results = par(delayed(_tagged)(k, make_input(k)) for k in todo)
    for k, out in results:
        on_done(k, out)


def _tagged(k: int, inp: ShardInput):
    # loky restarts a worker whose memory grew by 300 MB since its first task, taking it
    # for a leak; the per-process cache of sub-formula values (shard.py) is deliberate, and
    # a restart would redo the imports and that cache, so raise the threshold in the worker
    import sys

    loky = sys.modules.get("joblib.externals.loky.process_executor")
    if loky is not None and hasattr(loky, "_MAX_MEMORY_LEAK_SIZE"):
        loky._MAX_MEMORY_LEAK_SIZE = max(loky._MAX_MEMORY_LEAK_SIZE, 4 << 30)
    return k, fit_shard(inp)


def fit_candidates(store, dataset, depth: int, config: FitConfig = FitConfig(),
                   progress: Callable[[int, int], None] | None = None) -> FitResult:
    """Fit and filter every depth-``depth`` candidate of ``dataset``; merge survivors to laws.

    Reuses the store's ``candidates/d{depth}`` (enumerates and writes it if absent) and any
    finished shards of the same configuration; writes each finished shard and the laws.

    Args:
        store: a :class:`noether_search.store.ResultsStore`.
        dataset: a ``hamiltonian_data.Dataset`` (training trajectories are used).
        depth: maximum formula size.
        config: settings; see :class:`FitConfig`.
        progress: called as ``progress(candidates_done, n_candidates)``.

    Returns:
        :class:`FitResult`.

    Raises:
        ValueError: the stored table belongs to other variables, or a bad backend.
    """
    t0 = time.perf_counter()
    table = _load_table(store, dataset, depth)
    units, reductions, cand_unit, shards = _plan(table, config)
    key = f"d{depth}-{config_hash(config, dataset, table)}"
    x, labels = _segments(dataset, config)
    seg = Segments(labels)
    rand = seg.shuffled(config.seed)
    fit_points = np.arange(0, x.shape[0], max(config.fit_stride, 1))
    n_cand = len(table.candidates)
    cand_counts = np.bincount(cand_unit, minlength=len(units))
    shard_cands = [int(cand_counts[s].sum()) for s in shards]
    done = 0
    todo = []
    for k in range(len(shards)):
        if store.exists(f"fits/{key}/shard-{k:05d}"):
            done += shard_cands[k]
        else:
            todo.append(k)
    if progress:
        progress(done, n_cand)

    def make_input(k: int) -> ShardInput:
        return ShardInput(table.op, table.a, table.b, table.size, [units[i] for i in shards[k]],
                          x, seg.labels, rand.labels, fit_points, float(config.factor),
                          config.adam)

    def on_done(k: int, out: ShardOutput) -> None:
        nonlocal done
        rows = _candidate_rows(out, shards[k], cand_unit, reductions, table.candidates)
        _write_shard(store, f"fits/{key}/shard-{k:05d}", rows)
        done += shard_cands[k]
        if progress:
            progress(done, n_cand)

    _run_shards(todo, make_input, config, on_done)
    fits = read_fits(store, key)
    laws = _laws(table, dataset, x, fits, config)
    if todo or not store.exists(f"fits/{key}/laws"):  # a finished stage is not rewritten
        _write_laws(store, f"fits/{key}/laws", laws)
    status = fits["status"]
    acc = accepted(status, fits["R_true"], fits["R_random"], config.factor)
    return FitResult(
        laws=laws, n_candidates=n_cand, n_units=len(units),
        n_fitted=int((status == FitStatus.OK).sum()),
        n_failed=int(((status == FitStatus.NONFINITE) | (status == FitStatus.NOT_CONVERGED)).sum()),
        n_trivial=int((status == FitStatus.TRIVIAL).sum()),
        n_survivors=int(acc.sum()), seconds=time.perf_counter() - t0, key=key,
        shards_done=len(shards) - len(todo), shards_total=len(shards))


def _laws(table, dataset, x: np.ndarray, fits: dict, config: FitConfig) -> list[Law]:
    from dslsearch.formula import format_param
    from hamiltonian_data.units import format_dims

    acc = np.nonzero(accepted(fits["status"], fits["R_true"], fits["R_random"],
                              config.factor))[0]
    if acc.size == 0:
        return []
    names = [v.name for v in dataset.variables]
    input_dims = table.input_dims
    formulas, params, values = [], [], []
    for i in acc:
        f = table.formula(int(fits["node"][i]))
        p = fits["params"][i, : f.n_params]
        formulas.append(f)
        params.append(p)
        with np.errstate(all="ignore"):
            values.append(np.broadcast_to(np.asarray(f.evaluate(x, p), np.float64), x.shape[:1]))
    V = np.asarray(values)
    sizes = np.asarray([int(table.size[fits["node"][i]]) for i in acc])
    r_true = fits["R_true"][acc]
    exprs = [f.expr_str(names, list(map(float, p))) for f, p in zip(formulas, params)]
    # simplest first: fewest nodes, fewest parameters, shortest printed form, then best R
    order = np.lexsort((r_true, [len(e) for e in exprs], [f.n_params for f in formulas], sizes))
    groups = merge_groups(V, order, config.merge_tol)
    laws = []
    for g in groups:
        rep = g[0]
        f, p = formulas[rep], params[rep]
        dims = f.param_units(input_dims)
        laws.append(Law(
            formula=f, params=np.asarray(p, np.float64), expr=exprs[rep],
            variants=list(dict.fromkeys(exprs[j] for j in g)), n_merged=len(g),
            R_true=float(r_true[rep]), R_random=float(fits["R_random"][acc[rep]]),
            size=int(sizes[rep]), param_units=[format_dims(d) for d in dims],
            param_text=[format_param(float(v), d) for v, d in zip(p, dims)],
            node=int(fits["node"][acc[rep]])))
    laws.sort(key=lambda law: (law.R_true, law.size))
    return laws


def _write_laws(store, key: str, laws: list[Law]) -> None:
    import h5py

    with store.write(key, LAWS_ENCODING, ENCODING_VERSION, n_laws=len(laws)) as f:
        s = h5py.string_dtype()
        f.create_dataset("node", data=np.asarray([law.node for law in laws], np.int64))
        f.create_dataset("expr", data=np.array([law.expr for law in laws], dtype=object), dtype=s)
        f.create_dataset("variants", data=np.array(
            [json.dumps(law.variants) for law in laws], dtype=object), dtype=s)
        f.create_dataset("R_true", data=np.asarray([law.R_true for law in laws], np.float64))
        f.create_dataset("R_random", data=np.asarray([law.R_random for law in laws], np.float64))
        p_max = max((len(law.params) for law in laws), default=0)
        f.create_dataset("params", data=np.asarray(
            [np.pad(law.params, (0, p_max - len(law.params)), constant_values=np.nan)
             for law in laws], np.float64).reshape(len(laws), p_max))


def read_laws(store, key: str) -> list[dict]:
    """The laws of ``fits/<key>/laws`` as dicts (node, expr, variants, R_true, R_random, params)."""
    with store.read(f"fits/{key}/laws", LAWS_ENCODING) as f:
        n = int(f.attrs["n_laws"])
        out = []
        for i in range(n):
            out.append({"node": int(f["node"][i]),
                        "expr": f["expr"][i].decode() if isinstance(f["expr"][i], bytes)
                        else str(f["expr"][i]),
                        "variants": json.loads(f["variants"][i]),
                        "R_true": float(f["R_true"][i]), "R_random": float(f["R_random"][i]),
                        "params": f["params"][i]})
        return out
