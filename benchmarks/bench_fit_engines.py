"""The gradient fit's two engines compared: CPU seconds and how far their results differ.

    nice -n 10 python benchmarks/bench_fit_engines.py [--systems pendulum spring real-pendulum]
        [--depth 7]

For each system, ``fit_table`` runs once per engine (``AdamConfig.engine``: "numpy", then
"torch") with one worker, each in a fresh Python process (so the torch engine pays its
import, as a worker process does). Printed per system: the fit's wall and CPU seconds per
engine, whether the laws (printed form and number of merged members) are identical (or
have the same forms with constants within a relative difference), how
many candidates changed status, and the largest relative difference of R_true and
R_random over candidates finite under both, with the number above 1e-6. Prints a markdown
table headed by the command that produced it, and the 1-minute load average.
"""

from __future__ import annotations

import argparse
import re
import os
import pickle
import subprocess
import sys
import tempfile

import numpy as np
from bench_fit import print_command   # run as a script: benchmarks/ is on the path

CHILD = r"""
import os, pickle, sys, time
import hamiltonian_data
from dslsearch.enumerate import enumerate_formulas
from dslsearch.fitting import AdamConfig, FitConfig, fit_table
system, depth, engine, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ds = hamiltonian_data.load(system=system)
table = enumerate_formulas(ds.variables, depth)
t0, c0 = time.perf_counter(), os.times()
res = fit_table(table, ds, FitConfig(workers=1, adam=AdamConfig(engine=engine)))
wall, c1 = time.perf_counter() - t0, os.times()
f = res.fits
with open(path, "wb") as fh:
    pickle.dump({"wall": wall, "cpu": c1.user + c1.system - c0.user - c0.system,
                 "laws": [(str(law), law.n_merged) for law in res.laws],
                 "R_true": f.R_true, "R_random": f.R_random, "status": f.status}, fh)
"""


def _run(system: str, depth: int, engine: str, folder: str) -> dict:
    path = os.path.join(folder, f"{system}-{engine}.pkl")
    subprocess.run([sys.executable, "-c", CHILD, system, str(depth), engine, path], check=True)
    with open(path, "rb") as fh:
        return pickle.load(fh)


def _rel(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    both = np.isfinite(a) & np.isfinite(b)
    rel = np.abs(a[both] - b[both]) / np.maximum(np.abs(b[both]), 1e-300)
    return (float(rel.max()) if rel.size else 0.0), int((rel > 1e-6).sum())


_NUMBER = re.compile(r"\d+\.\d+(?:e[-+]?\d+)?")


def _laws(a: list, b: list) -> str:
    """"identical", or "same forms, constants within X" (relative), or "different"."""
    if a == b:
        return "identical"
    forms = [(_NUMBER.sub("#", s), n) for s, n in a] == [(_NUMBER.sub("#", s), n) for s, n in b]
    if not forms:
        return "different"
    ca = np.array([float(v) for s, _ in a for v in _NUMBER.findall(s)])
    cb = np.array([float(v) for s, _ in b for v in _NUMBER.findall(s)])
    return f"same forms, constants within {np.max(np.abs(ca - cb) / np.abs(cb)):.0e}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", nargs="+", default=["pendulum", "spring", "real-pendulum"])
    ap.add_argument("--depth", type=int, default=7)
    args = ap.parse_args()
    print_command("one worker; load = 1-minute load average before/after")
    print("| system | depth | numpy fit s (CPU s) | torch fit s (CPU s) | laws identical "
          "| status changed | max rel. diff R_true (> 1e-6) | max rel. diff R_random (> 1e-6) "
          "| load |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for system in args.systems:
            load = os.getloadavg()[0]
            a = _run(system, args.depth, "numpy", folder)
            b = _run(system, args.depth, "torch", folder)
            rt, nt = _rel(a["R_true"], b["R_true"])
            rr, nr = _rel(a["R_random"], b["R_random"])
            print(f"| {system} | {args.depth} | {a['wall']:.1f} ({a['cpu']:.1f}) "
                  f"| {b['wall']:.1f} ({b['cpu']:.1f}) | {_laws(a['laws'], b['laws'])} "
                  f"| {int((a['status'] != b['status']).sum())} of {len(a['status'])} "
                  f"| {rt:.1e} ({nt}) | {rr:.1e} ({nr}) "
                  f"| {load:.1f}/{os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
