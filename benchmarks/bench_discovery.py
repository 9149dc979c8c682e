"""Discovery benchmark: does the default fit recover each built-in system's known invariants?

    python benchmarks/bench_discovery.py [--systems NAME ...] [--depth 7] [--search both]
        [--ops paper] [--term-size 6] [--noise 0 ...] [--seeds 1]

For every system, noise level and seed, the fit stage (``fit_laws``, in memory) runs in a
fresh process, so its time and peak memory (ru_maxrss of the process plus its reaped worker
processes) belong to that fit alone. The known invariants (``system.invariants``, for
comparison only) are then checked against the reported laws on the training states:

- a known invariant is *found* when some reported law is a function of it and it of the law
  (:func:`matches`: the two gradients span one direction, by ``independent_laws``);
- *true* independent invariants: the rank of the known invariants' gradients;
- a known invariant is *spanned* when it is a function of the reported independent laws
  together (adding it to the basis does not raise the rank: ``3 L1² − L3²`` and
  ``4 L1² + L2²`` span both rigid-body invariants without being either);
- a basis law is *spurious* when it is not a function of the known invariants (adding it to
  them raises the rank).

Prints one markdown table headed by the command that produced it.
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import multiprocessing
import resource
import sys
import time

import numpy as np

MB = 1024.0  # ru_maxrss is in KiB on Linux


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


def rank(laws, x: np.ndarray) -> int:
    """Number of functionally independent laws among ``laws`` on the states ``x (N, d)``."""
    from dslsearch.independence import independent_laws

    return independent_laws(list(laws), x).n_independent if laws else 0


def matches(law, known, x: np.ndarray) -> bool:
    """True when ``law`` and ``known`` are functions of each other on the states ``x (N, d)``:
    their gradients are parallel (adding either to the other does not raise the rank)."""
    return rank([law, known], x) == 1


def spurious(law, known: list, x: np.ndarray, known_rank: int) -> bool:
    """True when ``law`` is not a function of the ``known`` laws (it raises their rank)."""
    return rank([*known, law], x) > known_rank


def _fit(name: str, depth: int, search: str | None, ops: str | None,
         term_size: int | None, noise: float, seed: int) -> dict:
    """Run in a fresh process: generate the data, fit, compare. One table row as a dict."""
    import hamiltonian_data
    from noether_search.stages import fit_laws

    system = hamiltonian_data.SYSTEMS[name]
    dataset = system.generate(noise=noise, seed=seed)
    kwargs = {k: v for k, v in (("search", search), ("ops", ops)) if v is not None}
    if term_size is not None:
        from dslsearch.sums import SumsConfig

        kwargs["sums"] = SumsConfig(term_size=term_size)
    t0 = time.perf_counter()
    result = fit_laws(dataset, depth, **kwargs)
    independent = getattr(result, "independent", None)
    x = dataset.x_train
    if independent is None:  # a fit stage without the independence hook
        from dslsearch.independence import independent_laws

        independent = independent_laws(result.laws, x)
    seconds = time.perf_counter() - t0
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)  # reap the workers: their rusage counts
    peak = sum(resource.getrusage(who).ru_maxrss
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / MB
    return _compare(system, dataset, result.laws, independent.basis, x) | {
        "system": name, "noise": noise, "seed": seed, "seconds": seconds, "peak_mb": peak,
        "n_laws": len(result.laws), "n_independent": independent.n_independent,
        "measured": measured(system)}


def _compare(system, dataset, laws, basis, x: np.ndarray) -> dict:
    """Found / known invariants, true rank and spurious basis laws of one fit."""
    known = known_laws(system, dataset)
    true_rank = rank(known, x)
    found = [k for k in known if any(matches(law, k, x) for law in laws)]
    n_basis = len(basis)
    spanned = [k for k in known if basis and rank([*basis, k], x) == n_basis]
    bad = [str(b) for b in basis if spurious(b, known, x, true_rank)] if known else []
    return {"found": len(found), "spanned": len(spanned), "known": len(known),
            "stated": len(system.invariants),
            "true": true_rank, "spurious": bad, "basis": [str(b) for b in basis]}


def run_one(*args) -> dict:
    """:func:`_fit` in a fresh spawned process (clean imports, its own peak memory)."""
    ctx = multiprocessing.get_context("spawn")
    with futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        return pool.submit(_fit, *args).result()


def table(rows: list[dict], command: str) -> str:
    """The markdown table of ``rows`` headed by ``command``."""
    import os

    lines = [f"`{command}` (os.cpu_count() = {os.cpu_count()}, load average "
             f"{os.getloadavg()[0]:.1f})", "",
             "| system | noise | seed | known found | known spanned | independent reported / true "
             "| spurious | laws | s | peak MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = r["system"] + (" (measured)" if r["measured"] else "")
        known = f"{r['found']}/{r['known']}" + (
            f" ({r['stated']} stated)" if r["stated"] != r["known"] else "")
        lines.append(f"| {name} | {r['noise']:g} | {r['seed']} | {known} "
                     f"| {r['spanned']}/{r['known']} | {r['n_independent']} / {r['true']} "
                     f"| {len(r['spurious'])} "
                     f"| {r['n_laws']} | {r['seconds']:.1f} | {r['peak_mb']:.0f} |")
    details = [f"- {r['system']} (noise {r['noise']:g}, seed {r['seed']}): basis "
               + (", ".join(f"`{b}`" for b in r["basis"]) or "empty")
               + (f"; spurious: {', '.join(f'`{s}`' for s in r['spurious'])}"
                  if r["spurious"] else "") for r in rows]
    return "\n".join(lines + [""] + details)


def main(argv=None) -> None:
    import hamiltonian_data

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", nargs="+", default=list(hamiltonian_data.SYSTEMS),
                    choices=list(hamiltonian_data.SYSTEMS), metavar="NAME",
                    help="systems to run (default: all built-in)")
    ap.add_argument("--depth", type=int, default=7, help="largest formula size (default 7)")
    ap.add_argument("--search", default=None, choices=["exhaustive", "sums", "both"],
                    help="fit_laws search (default: the fit stage's default)")
    ap.add_argument("--ops", default=None, help="operator set, e.g. all (default: paper)")
    ap.add_argument("--term-size", type=int, default=None,
                    help="largest term of the sum search in nodes (default: its default)")
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0],
                    help="noise levels: std in SI units for generated systems (default 0)")
    ap.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per level (default 1)")
    args = ap.parse_args(argv)
    rows = []
    for name in args.systems:
        real = measured(hamiltonian_data.SYSTEMS[name])
        for noise in args.noise:
            if real and noise:
                continue  # measured data take no added noise
            for seed in range(1 if real else args.seeds):
                rows.append(run_one(name, args.depth, args.search, args.ops,
                                    args.term_size, noise, seed))
                print(f"{name} noise {noise:g} seed {seed}: {rows[-1]['seconds']:.1f} s",
                      file=sys.stderr, flush=True)
    print(table(rows, "python benchmarks/bench_discovery.py " + " ".join(
        sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    main()
