"""Benchmark of the fit stage: seconds, formulas/s, peak memory, 1 vs N workers.

    python benchmarks/bench_fit.py [--system pendulum] [--depth 7] [--workers 1 2]

Each configuration runs in a fresh subprocess on a fresh store (the enumerated table is
written first and not timed), so peak memory (ru_maxrss of the run and of its worker
processes) and time belong to the fit alone. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time, os
import hamiltonian_data
from dslsearch.fitting import FitConfig
from noether_search.stages import enumerate_candidates, fit_laws
from noether_search.store import ResultsStore
system, depth, workers, root = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ds = hamiltonian_data.load(system=system)
store = ResultsStore.open(root)
table = enumerate_candidates(ds, depth, store=store)
t0, c0 = time.perf_counter(), os.times()
res = fit_laws(ds, depth, FitConfig(workers=workers), store=store, table=table)
wall = time.perf_counter() - t0
from joblib.externals.loky import get_reusable_executor
get_reusable_executor().shutdown(wait=True)   # reap the workers: their rusage is counted
c1 = os.times()
cpu = (c1.user - c0.user) + (c1.system - c0.system) + (c1.children_user - c0.children_user) \
    + (c1.children_system - c0.children_system)
law = res.laws[0] if res.laws else None
print(json.dumps({"wall": wall, "cpu": cpu, "candidates": res.n_candidates,
                  "units": res.n_units, "fitted": res.n_fitted, "failed": res.n_failed,
                  "trivial": res.n_trivial, "survivors": res.n_survivors,
                  "laws": len(res.laws),
                  "best": law.variants if law else None,
                  "R_true": law.R_true if law else None,
                  "R_random": law.R_random if law else None,
                  "rss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--system", default="pendulum")
    ap.add_argument("--depth", type=int, default=7)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    rows = []
    for w in args.workers:
        root = os.path.join(tempfile.mkdtemp(prefix="bench_fit_"), "store")
        out = subprocess.run([sys.executable, "-c", CHILD, args.system, str(args.depth), str(w),
                              root], capture_output=True, text=True, check=True)
        rows.append((w, json.loads(out.stdout.strip().splitlines()[-1])))
    base = rows[0][1]["wall"]
    print(f"fit stage, {args.system}, depth {args.depth}, os.cpu_count()={os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| workers | wall s | cpu s | formulas/s | speed-up | peak RSS parent MB "
          "| peak RSS worker MB | candidates | distinct fits | survivors | laws |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for w, r in rows:
        print(f"| {w} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['candidates'] / r['wall']:.0f} "
              f"| {base / r['wall']:.2f} | {r['rss_self_mb']:.0f} | {r['rss_children_mb']:.0f} "
              f"| {r['candidates']} | {r['units']} | {r['survivors']} | {r['laws']} |")
    r = rows[-1][1]
    print(f"\nbest law variants: {r['best']}\nR_true {r['R_true']:.3g}  R_random {r['R_random']:.3g}"
          if r["best"] else "\nno law survives")


if __name__ == "__main__":
    main()
