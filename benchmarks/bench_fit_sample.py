"""Depth-9 fit cost from a sample of shards: enumeration and planning measured in full,
the fitting of every M-th shard measured and scaled by M.

    nice -n 10 python benchmarks/bench_fit_sample.py [--system pendulum] [--depth 9]
        [--every 40] [--workers 2] [--memory 1024]

A full depth-9 fit takes many CPU minutes; this gives its size, the planning's time and
memory, and an estimate of the fit's CPU seconds (sum over the sampled shards times M)
in one process, with the per-worker memory budget of ``--workers`` workers. Prints a
markdown table headed by the command that produced it.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import sys
import time

import numpy as np


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    import hamiltonian_data
    from dslsearch.enumerate import enumerate_formulas
    from dslsearch.fitting import FitConfig, Segments
    from dslsearch.fitting.plan import plan_shards, segments
    from dslsearch.fitting.shard import ShardInput, fit_shard, values_key

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--system", default="pendulum")
    ap.add_argument("--depth", type=int, default=9)
    ap.add_argument("--every", type=int, default=40, help="fit every M-th shard (M)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory", type=int, default=1024)
    args = ap.parse_args()
    load = os.getloadavg()[0]
    ds = hamiltonian_data.load(system=args.system)
    t0 = time.perf_counter()
    table = enumerate_formulas(ds.variables, args.depth)
    t_enum, peak_enum = time.perf_counter() - t0, _peak_mb()
    config = FitConfig(workers=args.workers, memory_mb=args.memory)
    t0, c0 = time.perf_counter(), time.process_time()
    plan = plan_shards(table, config)
    t_plan, c_plan, peak_plan = time.perf_counter() - t0, time.process_time() - c0, _peak_mb()
    x, labels = segments(ds, config)
    seg = Segments(labels)
    rand = seg.shuffled(config.seed)
    fit_points = np.arange(0, x.shape[0], config.fit_stride)
    sampled, cpu = 0, 0.0
    # as fit_table sends them: the key of the worker's cached values, each unit's kind
    vkey = values_key(table.op, table.a, table.b, x, config.worker_memory_bytes())
    for k in range(args.every // 2, len(plan.shards), args.every):
        inp = ShardInput(table.op, table.a, table.b, table.size, plan.units(k), x, seg.labels,
                         rand.labels, fit_points, float(config.factor), config.adam,
                         config.worker_memory_bytes(), vkey, plan.unit_kinds(k))
        c0 = time.process_time()
        fit_shard(inp)
        cpu += time.process_time() - c0
        sampled += 1
    print("    " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0])]
                            + sys.argv[1:]))
    print(f"\nos.cpu_count()={os.cpu_count()}; load average {load:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after\n")
    print("| system | depth | candidates | fit units | shards | enumerate s | peak MB after "
          "enumerating | plan s (CPU s) | peak MB after planning | shards fitted | their CPU s "
          "| estimated fit CPU s | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.system} | {args.depth} | {len(table.candidates)} | {plan.n_units} "
          f"| {len(plan.shards)} | {t_enum:.1f} | {peak_enum:.0f} | {t_plan:.1f} ({c_plan:.1f}) "
          f"| {peak_plan:.0f} | {sampled} | {cpu:.1f} | {cpu * args.every:.0f} "
          f"| {_peak_mb():.0f} |")


if __name__ == "__main__":
    main()
