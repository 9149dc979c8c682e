"""Discovery benchmark: does the default fit recover each built-in system's known invariants,
and report nothing on the negative controls? Ours and the peers, on the same data.

    python benchmarks/bench_discovery.py [--systems NAME ...] [--depth 7] [--search both]
        [--ops paper] [--term-size 6] [--term-ops sqrt,log,inv] [--noise 0 ...] [--seeds 1]
        [--test calibrated] [--methods ours sindy gplearn] [--peer-seconds 60]
        [--out rows.jsonl] [--report-only]

For every method, system, noise level (a fraction of each state variable's std) and seed,
the method runs in a fresh process, so its time and peak memory (ru_maxrss of the process
plus its reaped worker processes) belong to that run alone. ``ours`` is the fit stage
(``fit_laws``, in memory, acceptance test ``--test``); the peers are those of
``benchmarks/peers`` (``PEERS``, when importable: the optional ``bench`` extra), each given
``--peer-seconds`` per system. The known invariants (``system.invariants``, for comparison
only; the negative controls have none) are then checked against the reported laws on the
training states, the same way for every method:

- a known invariant is *found* when some reported law is a function of it and it of the law
  (:func:`matches`: the two gradients span one direction, by ``independent_laws``);
- *true* independent invariants: the rank of the known invariants' gradients;
- a known invariant is *spanned* when it is a function of the reported independent laws
  together (adding it to the basis does not raise the rank: ``3 L1² − L3²`` and
  ``4 L1² + L2²`` span both rigid-body invariants without being either);
- a basis law is *spurious* when it is not a function of the known invariants (adding it to
  them raises the rank).

The gradient test's tolerance widens with a law's R (a law fitted to noisy data is a
function of the invariant only to that precision), so it can count an approximation of an
invariant's shape as the invariant. On noisy points a law is a function of others only if
its trajectory levels are a function of theirs too (:func:`levels_of`, as in the fit's
basis): without it a noisy law whose R is 100 times another's (Kepler's energy beside the
angular momentum) counted as a near-miss of it, and a basis holding both spanned nothing. The *strict* columns ask more: a basis law counts only
when it is conserved on the noise-free states of the same trajectories (generated with the
same seed, no noise), ``R < STRICT_R`` (its values vary along a trajectory by less than
about 3 % of their spread between trajectories); *strict detection* = known invariants
spanned by those laws; *strict false discovery* counts the other basis laws as false too.
Noise-free data: the states fitted; measured data (no noise-free states): the plain
columns. The *within* columns count a law as the invariant within the uncertainty it
states (:func:`within_uncertainty`: its constants fitted on the noise-free states conserve
it and lie inside its stated intervals); every other law as the plain columns do.

Summary per method and noise level (all systems and seeds pooled): *detection rate* =
known invariants spanned / known invariants; *false discovery rate* = spurious independent
laws / independent laws reported (every law reported on a negative control is spurious; 0
when nothing is reported); *F1* of precision (1 − FDR) and detection; *s/system* the mean
seconds per run.

With ``--out FILE``, each row is appended to FILE (JSON lines) as it finishes and rows
already there with the same settings are reused, not run again: a long benchmark can be run
in parts by repeating the same command (stopping it loses only the run in progress).

Prints markdown tables headed by the command that produced them.
"""

from __future__ import annotations

import argparse
import dataclasses
import concurrent.futures as futures
import multiprocessing
import os
import resource
import sys
import time

import numpy as np

from dslsearch.uncertainty import REFIT, REFITS

MB = 1024.0  # ru_maxrss is in KiB on Linux
#: largest R on the noise-free states of a basis law counted by the strict columns
STRICT_R = 1e-3


def measured(system) -> bool:
    """True for measured (not generated) data: no added noise, no seeds."""
    return system.summary.startswith("measured")


def known_laws(system, dataset) -> list:
    """The system's known invariants as laws (free constants set to 1, units unchecked, as
    the oracle of the rank stage); invariants outside the formula language are left out."""
    from noether_search.stages.rank import oracle_law

    out = []
    for text in system.invariants:
        law = oracle_law(_with_invariant(dataset, text))
        if law is not None:
            out.append(law)
    return out


def _with_invariant(dataset, text: str):
    import dataclasses

    return dataclasses.replace(dataset, invariant=text)


def rank(laws, x: np.ndarray, levels=None) -> int:
    """Number of functionally independent laws among ``laws`` on the states ``x (N, d)``;
    ``levels``: on noisy points, their trajectories and noise floor
    (:class:`dslsearch.independence.Levels`, :func:`levels_of`)."""
    from dslsearch.independence import independent_laws

    return independent_laws(list(laws), x, levels=levels).n_independent if laws else 0


def matches(law, known, x: np.ndarray, levels=None) -> bool:
    """True when ``law`` and ``known`` are functions of each other on the states ``x (N, d)``:
    their gradients are parallel (adding either to the other does not raise the rank)."""
    return rank([law, known], x, levels) == 1


def spurious(law, known: list, x: np.ndarray, known_rank: int, levels=None) -> bool:
    """True when ``law`` is not a function of the ``known`` laws (it raises their rank)."""
    return rank([*known, law], x, levels) > known_rank


def levels_of(dataset, x: np.ndarray):
    """The trajectories and noise floor of the training states ``x (N, d)`` of ``dataset``
    when they are noisy (:func:`dslsearch.acceptance.noisy_points`, as the fit decides),
    else None: on noisy points a law's R is mostly its noise's, and the gradient test's
    tolerance and near-miss rule, which go by R, are joined by the test of trajectory
    levels (:class:`dslsearch.independence.Levels`), as in the fit's own basis."""
    from dslsearch.acceptance import noise_floor, noisy_points
    from dslsearch.fitting import FitConfig
    from dslsearch.fitting.plan import segments
    from dslsearch.independence import Levels

    xs, labels = segments(dataset, FitConfig())
    if xs.shape != x.shape or not np.array_equal(xs, x) or not noisy_points(xs, labels):
        return None
    try:
        return Levels(labels, noise_floor(dataset.train))
    except ValueError:
        return None


def _peak_mb() -> float:
    return sum(resource.getrusage(who).ru_maxrss
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / MB


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its reaped children [s]."""
    return sum(u.ru_utime + u.ru_stime for u in
               map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))


def _load() -> float:
    import os

    return os.getloadavg()[0]


def _fit(name: str, depth: int, search: str | None, ops: str | None,
         term_size: int | None, noise: float, seed: int, test: str = "calibrated",
         term_ops: str | None = None, noisy_sums: bool = False,
         workers: int | None = None, refit: str = REFIT) -> dict:
    """Run in a fresh process: generate the data, fit, compare. One table row as a dict.
    ``noisy_sums``: the sum search's settings for noisy data (``SumsConfig(noisy=True)``);
    ``workers``: the fit's worker processes (None: one per CPU); ``refit``: how the laws'
    constants are refitted for the noise (``FitConfig.refit``)."""
    import hamiltonian_data
    from dslsearch.fitting import FitConfig
    from noether_search.stages import fit_laws

    system = hamiltonian_data.SYSTEMS[name]
    dataset = system.generate(noise=noise, seed=seed)
    kwargs = {k: v for k, v in (("search", search), ("ops", ops)) if v is not None}
    if term_size is not None or term_ops is not None or noisy_sums:
        from dslsearch.sums import SumsConfig

        sums = SumsConfig() if term_size is None else SumsConfig(term_size=term_size)
        sums = dataclasses.replace(sums, noisy=True) if noisy_sums else sums
        kwargs["sums"] = sums if term_ops is None else dataclasses.replace(
            sums, unary="" if term_ops == "none" else term_ops)
    t0, c0 = time.perf_counter(), _cpu_seconds()
    result = fit_laws(dataset, depth, FitConfig(test=test, seed=seed, workers=workers,
                                                refit=refit), **kwargs)
    independent = getattr(result, "independent", None)
    x = dataset.x_train
    if independent is None:  # a fit stage without the independence hook
        from dslsearch.independence import independent_laws

        independent = independent_laws(result.laws, x)
    seconds = time.perf_counter() - t0
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)  # reap the workers: their rusage counts
    return _compare(system, dataset, result.laws, independent.basis, x,
                    _clean(system, dataset, noise, seed)) | {
        "method": "ours" if test == "calibrated" else f"ours ({test})",
        "system": name, "noise": noise, "seed": seed, "seconds": seconds,
        "cpu_seconds": _cpu_seconds() - c0, "load": _load(),
        "peak_mb": _peak_mb(), "n_laws": len(result.laws),
        "workers": workers or os.cpu_count(),
        "n_independent": independent.n_independent, "measured": measured(system)}


class PeerAsLaw:
    """A peer's law (``PeerLaw``: ``fn``, ``grad``) with what the rank functions of
    :mod:`dslsearch.independence` ask of a law: ``variables``, ``R_true``, ``size`` and a
    differentiable ``torch_fn`` (values from ``fn``, gradient from ``grad``)."""

    def __init__(self, peer_law, variables, r_true: float):
        self.peer_law, self.variables, self.R_true, self.size = peer_law, variables, r_true, 1

    def __call__(self, x):
        return np.asarray(self.peer_law.fn(np.asarray(x, np.float64)), np.float64)

    def __str__(self) -> str:
        return self.peer_law.text

    def torch_fn(self):
        import torch

        law = self.peer_law

        class _Fn(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return torch.as_tensor(np.asarray(law.fn(x.detach().numpy()), np.float64))

            @staticmethod
            def backward(ctx, grad_out):
                (x,) = ctx.saved_tensors
                g = torch.as_tensor(np.asarray(law.grad(x.detach().numpy()), np.float64))
                return grad_out[:, None] * g

        return _Fn.apply


def _r_true(fn, dataset) -> float:
    """R of ``fn`` on the training trajectories (1 when not finite)."""
    from dslsearch.fitting.objective import Segments, r_score

    labels = np.repeat(np.arange(len(dataset.train)), [len(tr) for tr in dataset.train])
    with np.errstate(all="ignore"):
        v = np.asarray(fn(dataset.x_train), np.float64)
        r = float(r_score(v, Segments(labels))) if np.isfinite(v).all() else 1.0
    return r if np.isfinite(r) else 1.0


def _peer(peer: str, name: str, noise: float, seed: int, seconds: float) -> dict:
    """Run in a fresh process: one peer on one system's data, compared like ours."""
    import hamiltonian_data

    system = hamiltonian_data.SYSTEMS[name]
    dataset = system.generate(noise=noise, seed=seed)
    t0, c0 = time.perf_counter(), _cpu_seconds()
    result = peer_methods()[peer](dataset, seconds=seconds, seed=seed)
    elapsed, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    variables = [(v.name, v.unit) for v in dataset.variables]
    laws = [PeerAsLaw(law, variables, law.r if np.isfinite(law.r) else
                      _r_true(law.fn, dataset)) for law in result.laws]
    return _compare(system, dataset, laws, laws, dataset.x_train,
                    _clean(system, dataset, noise, seed)) | {
        "method": peer, "system": name, "noise": noise, "seed": seed, "seconds": elapsed,
        "cpu_seconds": cpu, "load": _load(), "peak_mb": _peak_mb(), "n_laws": len(laws),
        "n_independent": len(laws),
        "measured": measured(system)}


def peer_methods() -> dict:
    """``benchmarks.peers.PEERS`` (name -> discover), or {} when the peers are not
    available (not on this branch, or the ``bench`` extra not installed)."""
    try:
        from peers import PEERS               # run as a script from benchmarks/
    except ImportError:
        try:
            from benchmarks.peers import PEERS
        except ImportError:
            return {}
    return dict(PEERS)


def _clean(system, dataset, noise: float, seed: int):
    """The noise-free training trajectories of the run (the data set itself when it has no
    noise added); None for measured data (no noise-free states)."""
    if measured(system):
        return None
    if noise == 0:
        return dataset
    return system.generate(noise=0.0, seed=seed)


def clean_r(law, clean) -> float:
    """R of ``law`` on the training points of ``clean`` (the noise-free data set), cut into
    trajectories, or windows of one trajectory, as the fit cuts them (1 when not finite)."""
    from dslsearch.fitting import FitConfig
    from dslsearch.fitting.objective import Segments, r_score
    from dslsearch.fitting.plan import segments

    x, labels = segments(clean, FitConfig())
    with np.errstate(all="ignore"):
        v = np.asarray(law(x), np.float64)
        r = float(r_score(v, Segments(labels))) if np.isfinite(v).all() else 1.0
    return r if np.isfinite(r) else 1.0


def _compare(system, dataset, laws, basis, x: np.ndarray, clean=None) -> dict:
    """Found / known invariants, true rank and spurious basis laws of one fit; with
    ``clean`` (the noise-free data set), each basis law's R there and the strict counts."""
    known = known_laws(system, dataset)
    levels = levels_of(dataset, x)
    true_rank = rank(known, x, levels)
    found = [k for k in known if any(matches(law, k, x, levels) for law in laws)]
    spanned, bad = _spanned_spurious(system, known, basis, x, levels, true_rank)
    row = {"found": len(found), "spanned": len(spanned), "known": len(known),
           "stated": len(system.invariants),
           "true": true_rank, "spurious": bad, "basis": [str(b) for b in basis]}
    # the within columns: as the plain ones unless a law states intervals (below)
    row |= {"spanned_within": len(spanned), "spurious_within": bad}
    if clean is None:   # measured data: no noise-free states, the strict columns are these
        return row | {"spanned_strict": len(spanned), "spurious_strict": bad}
    row |= _strict_fields(known, basis, bad, clean)
    if not any(getattr(b, "intervals", ()) for b in basis):
        return row      # no stated uncertainty (peers, noise-free fits)
    fits = [noise_free_fit(b, clean) for b in basis]
    within = [f[0] if f is not None and all(f[1]) else b for b, f in zip(basis, fits)]
    spanned_w, bad_w = _spanned_spurious(system, known, within, x, levels, true_rank)
    return row | {"params": [[float(v) for v in getattr(b, "params", ())] for b in basis],
                  "intervals": [[list(iv) for iv in getattr(b, "intervals", ())]
                                for b in basis],
                  "noise_free_params": [None if f is None else [float(v) for v in f[0].params]
                                        for f in fits],
                  "inside": [None if f is None else f[1] for f in fits],
                  "spanned_within": len(spanned_w), "spurious_within": bad_w}


def _spanned_spurious(system, known: list, basis: list, x: np.ndarray, levels,
                      true_rank: int) -> tuple[list, list[str]]:
    """The known invariants spanned by the ``basis`` laws on the states ``x (N, d)`` and the
    printed forms of the basis laws that are spurious (every one on a negative control)."""
    n_basis = rank(basis, x, levels)
    spanned = [k for k in known if basis and rank([*basis, k], x, levels) == n_basis]
    if not system.invariants:       # a negative control: every reported law is spurious
        return spanned, [str(b) for b in basis]
    return spanned, ([str(b) for b in basis
                      if spurious(b, known, x, true_rank, levels)] if known else [])


def within_uncertainty(law, clean):
    """``law`` as its noise-free fit (:func:`noise_free_fit`) when that fit conserves it and
    every constant of the fit lies within the law's stated interval; else None.

    A noisy fit reports each constant with an interval (``law.intervals``); a law whose
    constants are off by more than the noise lets through is not conserved on the noise-free
    states, yet may be the invariant *within the uncertainty it states*. The *within*
    columns count such a law as its noise-free fit."""
    fit = noise_free_fit(law, clean)
    return fit[0] if fit is not None and all(fit[1]) else None


def noise_free_fit(law, clean):
    """``(fitted, inside)``: ``law`` with its constants fitted on the noise-free data set
    ``clean`` (R minimised there, started at the reported constants) and, for each constant
    the fit moves, whether it lies inside the law's stated interval (``law.intervals``);
    None where that fit does not conserve the law (``R ≥ STRICT_R``: not the invariant's
    form), or the law states no interval (no constants, a bound not finite). Constants
    whose interval has no width (those R does not determine: scale and offset) stay as
    reported."""
    from scipy.optimize import minimize

    from dslsearch.fitting import FitConfig
    from dslsearch.fitting.objective import Segments, r_score
    from dslsearch.fitting.plan import segments

    bounds = np.asarray(getattr(law, "intervals", ()) or np.zeros((0, 2)), np.float64)
    params = np.asarray(getattr(law, "params", ()), np.float64)
    if not bounds.size or bounds.shape != (params.size, 2) or not np.isfinite(bounds).all():
        return None
    free = bounds[:, 1] > bounds[:, 0]
    if not free.any():
        return None
    xc, labels = segments(clean, FitConfig())
    seg = Segments(labels)

    def with_free(z: np.ndarray) -> np.ndarray:
        p = params.copy()
        p[free] = z
        return p

    def loss(z: np.ndarray) -> float:
        with np.errstate(all="ignore"):
            v = np.asarray(law.formula.evaluate(xc, with_free(z)), np.float64)
            r = float(r_score(v, seg)) if np.isfinite(v).all() else np.inf
        return r if np.isfinite(r) else np.inf

    start = params[free]
    scale = np.where(start != 0, np.abs(start), 1.0)
    z = start / scale
    for _ in range(2):       # restarted once: Nelder–Mead's simplex can collapse early
        z = minimize(lambda z: loss(z * scale), z, method="Nelder-Mead",
                     options={"xatol": 1e-10, "fatol": 1e-16,
                              "maxiter": 400 * int(free.sum())}).x
    fitted = with_free(z * scale)
    r = loss(fitted[free])
    if not r < STRICT_R:
        return None
    inside = (fitted >= bounds[:, 0]) & (fitted <= bounds[:, 1])
    return dataclasses.replace(law, params=fitted, R_true=r), [bool(v) for v in inside[free]]


def _strict_fields(known: list, basis: list, bad: list[str], clean) -> dict:
    """Each basis law's R on the noise-free data set ``clean``; the known invariants spanned
    by the basis laws conserved there (R < STRICT_R; the gradient test on the noise-free
    states, each law's tolerance from its R there); the spurious laws and the others."""
    r_clean = [clean_r(b, clean) for b in basis]
    good = [_with_r(b, r) for b, r in zip(basis, r_clean) if r < STRICT_R]
    x = clean.x_train
    n_good = rank(good, x)
    strict = [k for k in known if good and rank([*good, k], x) == n_good]
    return {"clean_r": r_clean, "spanned_strict": len(strict),
            "spurious_strict": sorted({*bad, *(str(b) for b, r in zip(basis, r_clean)
                                             if r >= STRICT_R)})}


def _with_r(law, r: float):
    """``law`` with ``R_true = r`` (a :class:`~dslsearch.law.Law` or a :class:`PeerAsLaw`)."""
    if dataclasses.is_dataclass(law):
        return dataclasses.replace(law, R_true=r)
    return PeerAsLaw(law.peer_law, law.variables, r)


def rescored(row: dict) -> dict:
    """A row of ours without the strict columns (written before they existed) with them,
    from its basis laws' printed forms; other rows unchanged."""
    if "spanned_strict" in row or row.get("method", "ours") != "ours":
        return row
    import hamiltonian_data
    from dslsearch.law import Law

    system = hamiltonian_data.SYSTEMS[row["system"]]
    dataset = (system.generate(noise=row["noise"], seed=row["seed"])
               if not row.get("measured") else system.generate())
    variables = [(v.name, v.unit) for v in dataset.variables]
    basis = [Law.parse(text, variables) for text in row["basis"]]
    clean = _clean(system, dataset, row["noise"], row["seed"])
    if clean is None:
        return row | {"spanned_strict": row["spanned"], "spurious_strict": row["spurious"]}
    return row | _strict_fields(known_laws(system, dataset), basis, row["spurious"], clean)


def run_one(fn, *args) -> dict:
    """``fn(*args)`` in a fresh spawned process (clean imports, its own peak memory)."""
    ctx = multiprocessing.get_context("spawn")
    with futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result()


def _header(command: str) -> str:
    import os

    return (f"`{command}` (os.cpu_count() = {os.cpu_count()}, load average "
            f"{os.getloadavg()[0]:.1f})")


def table(rows: list[dict], command: str) -> str:
    """The markdown table of ``rows`` (one per run) headed by ``command``; CPU s is the
    user + system time of the run's process and its workers, load the 1-minute load
    average when it finished."""
    nan = float("nan")
    lines = [_header(command), "",
             "| method | system | noise | seed | known found | known spanned "
             "| independent reported / true | spurious | laws | s | CPU s | load | peak MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = r["system"] + (" (measured)" if r["measured"] else "")
        known = f"{r['found']}/{r['known']}" + (
            f" ({r['stated']} stated)" if r["stated"] != r["known"] else "")
        lines.append(f"| {r.get('method', 'ours')} | {name} | {r['noise']:g} | {r['seed']} "
                     f"| {known} | {r['spanned']}/{r['known']} "
                     f"| {r['n_independent']} / {r['true']} | {len(r['spurious'])} "
                     f"| {r['n_laws']} | {r['seconds']:.1f} | {r.get('cpu_seconds', nan):.1f} "
                     f"| {r.get('load', nan):.1f} | {r['peak_mb']:.0f} |")
    details = [f"- {r.get('method', 'ours')}, {r['system']} (noise {r['noise']:g}, seed "
               f"{r['seed']}): basis " + (", ".join(f"`{b}`" for b in r["basis"]) or "empty")
               + (f"; spurious: {', '.join(f'`{s}`' for s in r['spurious'])}"
                  if r["spurious"] else "")
               + (f"; R on the noise-free states: {', '.join(f'{v:.2g}' for v in r['clean_r'])}"
                  if r.get("clean_r") else "") for r in rows]
    return "\n".join(lines + [""] + details)


def scores(rows: list[dict]) -> dict:
    """Detection rate, false discovery rate, F1 and mean seconds of ``rows`` (pooled)."""
    known = sum(r["known"] for r in rows)
    detected = sum(r["spanned"] for r in rows)
    reported = sum(len(r["basis"]) for r in rows)
    false = sum(len(r["spurious"]) for r in rows)
    detection = detected / known if known else float("nan")
    fdr = false / reported if reported else 0.0
    precision = 1.0 - fdr
    f1 = (2 * precision * detection / (precision + detection)
          if known and precision + detection > 0 else float("nan"))
    strict = all("spanned_strict" in r for r in rows)
    within = all("spanned_within" in r for r in rows)
    detected_strict = sum(r.get("spanned_strict", 0) for r in rows)
    false_strict = sum(len(r.get("spurious_strict", ())) for r in rows)
    return {"detection": detection, "fdr": fdr, "f1": f1, "known": known,
            "detected": detected, "reported": reported, "false": false,
            "detected_strict": detected_strict if strict else None,
            "false_strict": false_strict if strict else None,
            "detected_within": sum(r["spanned_within"] for r in rows) if within else None,
            "false_within": (sum(len(r["spurious_within"]) for r in rows)
                             if within else None),
            "seconds": float(np.mean([r["seconds"] for r in rows])),
            "cpu_seconds": _mean_known([r.get("cpu_seconds", np.nan) for r in rows]),
            "runs": len(rows)}


def _mean_known(values: list[float]) -> float:
    """Mean of the finite ``values`` (NaN when none: rows of a run that did not record it)."""
    known = [v for v in values if np.isfinite(v)]
    return float(np.mean(known)) if known else float("nan")


def summary(rows: list[dict], command: str) -> str:
    """Per method and noise level: detection rate, false discovery rate, F1, s/system."""
    lines = [_header(command), "",
             "| method | noise | runs | detection rate | false discovery rate | F1 "
             "| strict detection | strict false discovery | within detection "
             "| within false discovery | s/system | CPU s/system |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    keys = dict.fromkeys((r.get("method", "ours"), r["noise"]) for r in rows)
    for method, noise in keys:
        sc = scores([r for r in rows if r.get("method", "ours") == method
                     and r["noise"] == noise])
        lines.append(f"| {method} | {noise:g} | {sc['runs']} | {sc['detection']:.2f} "
                     f"({sc['detected']}/{sc['known']}) | {sc['fdr']:.2f} "
                     f"({sc['false']}/{sc['reported']}) | {sc['f1']:.2f} "
                     f"| {_strict(sc)} | {_strict(sc, 'within')} | {sc['seconds']:.1f} "
                     f"| {sc['cpu_seconds']:.1f} |")
    cover = [(method, noise, coverage([r for r in rows if r.get("method", "ours") == method
                                       and r["noise"] == noise])) for method, noise in keys]
    lines += [""] + [f"- {method}, noise {noise:g}: {inside}/{total} constants inside their "
                     f"stated intervals (laws whose noise-free fit conserves them)"
                     for method, noise, (inside, total) in cover if total]
    return "\n".join(lines)


def coverage(rows: list[dict]) -> tuple[int, int]:
    """``(inside, total)``: over the basis laws of ``rows`` that have a noise-free fit of
    the invariant's form (:func:`noise_free_fit`), the constants of that fit inside the
    law's stated intervals, and all of them: how often the intervals hold the truth."""
    flags = [v for r in rows for law in r.get("inside", ()) if law is not None for v in law]
    return sum(flags), len(flags)


def _strict(sc: dict, kind: str = "strict") -> str:
    """The strict (``kind="within"``: within-uncertainty) detection and false discovery
    cells ("–" for rows without them)."""
    detected, false = sc[f"detected_{kind}"], sc[f"false_{kind}"]
    if detected is None:
        return "– | –"
    det = detected / sc["known"] if sc["known"] else float("nan")
    fdr = false / sc["reported"] if sc["reported"] else 0.0
    return (f"{det:.2f} ({detected}/{sc['known']}) | {fdr:.2f} "
            f"({false}/{sc['reported']})")


def seed_summary(rows: list[dict], command: str) -> str:
    """Per method, noise level and seed: detection rate, false discovery rate, F1; then
    their spread over the seeds (min–max) per method and noise level."""
    lines = [_header(command), "",
             "| method | noise | seed | runs | detection rate | false discovery rate | F1 "
             "| strict detection | strict false discovery | within detection "
             "| within false discovery |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    spread: dict[tuple, list[dict]] = {}
    keys = dict.fromkeys((r.get("method", "ours"), r["noise"], r["seed"]) for r in rows
                         if not r.get("measured"))
    for method, noise, seed in sorted(keys, key=lambda k: (k[0], k[1], k[2])):
        sc = scores([r for r in rows if (r.get("method", "ours"), r["noise"], r["seed"])
                     == (method, noise, seed) and not r.get("measured")])
        spread.setdefault((method, noise), []).append(sc)
        lines.append(f"| {method} | {noise:g} | {seed} | {sc['runs']} | {sc['detection']:.2f} "
                     f"({sc['detected']}/{sc['known']}) | {sc['fdr']:.2f} "
                     f"({sc['false']}/{sc['reported']}) | {sc['f1']:.2f} | {_strict(sc)} "
                     f"| {_strict(sc, 'within')} |")
    lines.append("")
    for (method, noise), scs in spread.items():
        parts = [f"{name} {min(sc[name] for sc in scs):.2f}–{max(sc[name] for sc in scs):.2f}"
                 for name in ("detection", "fdr", "f1")]
        lines.append(f"- {method}, noise {noise:g}, {len(scs)} seed(s): " + ", ".join(parts))
    return "\n".join(lines)


def plan(args, systems) -> list[tuple[str, float, int, str]]:
    """``(system, noise, seed, method)`` of every run, in order: system, noise, seed,
    method (measured data run once, noise-free)."""
    out = []
    for name in args.systems:
        real = measured(systems[name])
        for noise in args.noise:
            if real and noise:
                continue  # measured data take no added noise
            for seed in range(0, 1) if real else range(args.first_seed, args.seeds):
                out.extend((name, noise, seed, method) for method in args.methods)
    return out


def run_settings(args, method: str) -> dict:
    """The settings that make a row of ``method`` (a stored row is reused only when its
    settings are these)."""
    if method == "ours":
        settings = {"depth": args.depth, "search": args.search, "ops": args.ops,
                    "term_size": args.term_size, "test": args.test}
        if args.term_ops is not None:
            settings["term_ops"] = args.term_ops
        if args.noisy_sums:
            settings["noisy_sums"] = True
        if args.refit != "moments":        # moments: keys of rows stored before it
            settings["refit"] = args.refit
        return settings
    return {"peer_seconds": args.peer_seconds}


def row_key(method: str, name: str, noise: float, seed: int, settings: dict) -> str:
    import json

    return json.dumps([method, name, float(noise), int(seed), settings], sort_keys=True)


def load_rows(path: str) -> dict:
    """Rows of an earlier run stored in ``path`` (JSON lines), by :func:`row_key`; {} when
    the file does not exist. A damaged last line (a run stopped mid-write) is skipped."""
    import json
    import os

    if not os.path.exists(path):
        return {}
    out = {}
    with open(path) as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            method = row.get("method", "ours").split(" ")[0]
            out[row_key(method, row["system"], row["noise"], row["seed"],
                        row.get("settings", {}))] = row
    return out


def append_row(path: str, row: dict) -> None:
    """Append ``row`` to ``path`` as one JSON line (flushed at once)."""
    import json

    with open(path, "a") as fh:
        fh.write(json.dumps(row) + "\n")
        fh.flush()


def main(argv=None) -> None:
    import hamiltonian_data

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", nargs="+", default=list(hamiltonian_data.SYSTEMS),
                    choices=list(hamiltonian_data.SYSTEMS), metavar="NAME",
                    help="systems to run (default: all built-in, negative controls included)")
    ap.add_argument("--depth", type=int, default=7, help="largest formula size (default 7)")
    ap.add_argument("--search", default=None, choices=["exhaustive", "sums", "both"],
                    help="fit_laws search (default: the fit stage's default)")
    ap.add_argument("--ops", default=None, help="operator set, e.g. all (default: paper)")
    ap.add_argument("--term-size", type=int, default=None,
                    help="largest term of the sum search in nodes (default: its default)")
    ap.add_argument("--term-ops", default=None,
                    help="unary operations of the sum search's composite terms, or none "
                         "(default: its default, sqrt,log,inv)")
    ap.add_argument("--noisy-sums", action="store_true",
                    help="the sum search's settings for noisy data (SumsConfig(noisy=True); "
                         "default off, docs/SUMS.md)")
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0],
                    help="noise levels, each a fraction of every state variable's std "
                         "(default 0)")
    ap.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per level (default 1)")
    ap.add_argument("--first-seed", type=int, default=0,
                    help="start the seeds at K instead of 0 (K..N-1), e.g. to run only "
                         "seeds kept apart for confirmation (default 0)")
    ap.add_argument("--test", default="calibrated", choices=["calibrated", "factor"],
                    help="our acceptance test (default calibrated)")
    ap.add_argument("--refit", default=REFIT, choices=list(REFITS),
                    help="how our laws' constants are refitted for the noise (default "
                         "ml; FitConfig.refit)")
    peers = peer_methods()
    ap.add_argument("--methods", nargs="+", default=["ours", *peers],
                    choices=["ours", *peers], metavar="METHOD",
                    help=f"methods to run (default: ours and every peer: {list(peers)})")
    ap.add_argument("--peer-seconds", type=float, default=60.0,
                    help="time budget of a peer per system [s] (default 60)")
    ap.add_argument("--workers", type=int, default=None,
                    help="worker processes of each fit (default: one per CPU); with several "
                         "benchmark processes side by side, give each its share of the CPUs")
    ap.add_argument("--out", default=None, metavar="FILE.jsonl",
                    help="append each row to FILE as it finishes; rows already in FILE "
                         "with the same settings are not run again (a long run can be "
                         "split: repeat the command)")
    ap.add_argument("--rescore", action="store_true",
                    help="add the strict columns to rows of ours in FILE written without "
                         "them (from their laws' printed forms), in the tables only")
    ap.add_argument("--report-only", action="store_true",
                    help="with --out: print the tables of the rows already in FILE, run "
                         "nothing, and list the runs still missing")
    args = ap.parse_args(argv)
    if args.report_only and not args.out:
        ap.error("--report-only needs --out FILE (the rows to report)")
    if not 0 <= args.first_seed < args.seeds:
        ap.error(f"--first-seed {args.first_seed} must be at least 0 and below --seeds "
                 f"{args.seeds} (the seeds run are K..N-1)")
    done = load_rows(args.out) if args.out else {}
    rows, missing = [], []
    for name, noise, seed, method in plan(args, hamiltonian_data.SYSTEMS):
        settings = run_settings(args, method)
        key = row_key(method, name, noise, seed, settings)
        if key in done:
            rows.append(rescored(done[key]) if args.rescore else done[key])
            continue
        if args.report_only:
            missing.append(f"{method} {name} noise {noise:g} seed {seed}")
            continue
        if method == "ours":
            row = run_one(_fit, name, args.depth, args.search, args.ops,
                          args.term_size, noise, seed, args.test, args.term_ops,
                          args.noisy_sums, args.workers, args.refit)
        else:
            row = run_one(_peer, method, name, noise, seed, args.peer_seconds)
        row = row | {"settings": settings}
        rows.append(row)
        if args.out:
            append_row(args.out, row)
        print(table([row], "row").splitlines()[-3], file=sys.stderr)
        print(f"{method} {name} noise {noise:g} seed {seed}: "
              f"{row['seconds']:.1f} s (CPU {row.get('cpu_seconds', float('nan')):.1f} s, "
              f"load {row.get('load', float('nan')):.1f}), basis {row['basis']}, spurious "
              f"{len(row['spurious'])}", file=sys.stderr, flush=True)
    command = "python benchmarks/bench_discovery.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    print(summary(rows, command))
    print()
    if len({r["seed"] for r in rows}) > 1:
        print(seed_summary(rows, command))
        print()
    print(table(rows, command))
    if missing:
        print(f"\nNot run yet ({len(missing)}): " + "; ".join(missing))


if __name__ == "__main__":
    main()
