"""Benchmark of the fit stage: seconds, candidates/s, 1 -> N worker speed-up, peak memory.

    nice -n 10 python benchmarks/bench_fit.py [--cases pendulum:7 double-pendulum:7 pendulum:9]
        [--workers 1 2] [--memory 1024] [--engine numpy|torch] [--start auto|fork|loky]
        [--sample-ms 500] [--repeat 1] [--min-parallel N]

Each (case, workers) runs in a fresh Python process that imports the library only
(``dslsearch``, ``hamiltonian_data``: no torch in the parent; ``noether-search fit`` also
imports the pipeline's stages, torch among them, in its parent process): the data set is
loaded and the candidates enumerated first (timed apart, column "enumerate s"), then
``fit_table`` fits,
filters and merges every candidate in memory (column "fit s": worker start-up included).
While it runs, the benchmark samples the memory of the process and all its descendants
(the worker processes) every 500 ms (``--sample-ms``; 50 ms before, when the sampling took
about a tenth of a core beside the run: reading a process's PSS costs the kernel about
3 ms, more under load); "peak tree MB" is the largest sum seen of their
proportional set sizes (PSS: a page shared by k processes counts 1/k in each, so pages
that forked workers share with the calling process count once; the resident set size where
PSS cannot be read), "largest process MB" the largest single ``ru_maxrss`` (resident,
shared pages included); "fit CPU s" is the CPU time of
the fit in all processes (less sensitive to other load than the wall time). The machine's 1-minute load average
is printed next to each row: timings taken while other work runs are inflated; so is the
CPU time of the benchmark's own sampling ("sampler CPU s", on the same cores as the run). Prints a
markdown table headed by the command that produced it.

With ``--repeat N`` every case runs N rounds, each round one fresh process per worker count
in turn (1, 2, 1, 2, ...: a slow spell of the machine falls on both alike), and a second
table gives per case and worker count the median fit seconds over the rounds, their
range, and the speed-up as the ratio of the medians beside each round's own ratio (its
median and range): on a shared virtual machine a single pair of runs varies by 10 % or
more.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import hamiltonian_data
from dslsearch.enumerate import enumerate_formulas
from dslsearch.fitting import AdamConfig, FitConfig, fit_table
system, depth, workers, memory = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
engine, start = sys.argv[5], sys.argv[6]
extra = {} if sys.argv[7] == "default" else {"min_parallel": int(sys.argv[7])}
ds = hamiltonian_data.load(system=system)
t_imp = time.perf_counter() - t0
t0 = time.perf_counter()
table = enumerate_formulas(ds.variables, depth)
t_enum = time.perf_counter() - t0
import os
t0, c0 = time.perf_counter(), os.times()
res = fit_table(table, ds, FitConfig(workers=workers, memory_mb=memory, start=start,
                                     adam=AdamConfig(engine=engine), **extra))
wall = time.perf_counter() - t0
from joblib.externals.loky import reusable_executor
if reusable_executor._executor is not None:   # reap any workers: their CPU time is counted
    reusable_executor._executor.shutdown(wait=True)
c1 = os.times()
cpu = sum(getattr(c1, f) - getattr(c0, f) for f in ("user", "system", "children_user",
                                                       "children_system"))
law = res.laws[0] if res.laws else None
print(json.dumps({"import": t_imp, "enumerate": t_enum, "wall": wall, "cpu": cpu,
                  "candidates": res.n_candidates, "units": res.n_units,
                  "shards": res.shards_total, "survivors": res.n_survivors,
                  "laws": len(res.laws), "best": str(law) if law else None}))
"""


def _children(pid: int) -> list[int] | None:
    """Direct children of ``pid`` from ``/proc/PID/task/*/children`` (Linux; None where it
    cannot be read): a few files, where listing every process of the machine to find
    their parents costs several ms a sample."""
    import glob

    kids = []
    try:
        for path in glob.glob(f"/proc/{pid}/task/*/children"):
            with open(path) as f:
                kids += [int(c) for c in f.read().split()]
    except OSError:
        return None
    return kids


def _pss(pid: int) -> int | None:
    """Proportional set size of ``pid`` in bytes (``/proc/PID/smaps_rollup``), None where
    it cannot be read."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) << 10
    except (OSError, ValueError):
        return None
    return None


def _tree_rss(proc) -> int:
    """Bytes of memory of ``proc`` and all its descendants now, each process's proportional
    set size (its resident set size where that cannot be read); 0 once it has ended.
    Read from ``/proc`` directly on Linux (the kernel's PSS sum takes about 3 ms a process,
    on the cores of the run it measures), through psutil elsewhere."""
    import psutil

    pids, todo = [], [proc.pid]
    while todo:
        pid = todo.pop()
        kids = _children(pid) if os.path.isdir("/proc/self/task") else None
        if kids is None:
            break
        pids.append(pid)
        todo += kids
    sizes = [_pss(pid) for pid in pids] if not todo and pids else None
    if sizes is not None and None not in sizes:
        return sum(sizes)
    total = 0
    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    for p in procs:
        try:
            try:
                total += p.memory_full_info().pss
            except (psutil.AccessDenied, AttributeError):
                total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run_case(system: str, depth: int, workers: int, memory: int, engine: str,
             start: str = "auto", sample_s: float = 0.5, min_parallel: int | None = None
             ) -> dict:
    """One fresh process: the child's JSON plus ``peak_tree_mb``, ``largest_mb``, ``load``."""
    import psutil

    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    popen = subprocess.Popen([sys.executable, "-c", CHILD, system, str(depth), str(workers),
                              str(memory), engine, start,
                              "default" if min_parallel is None else str(min_parallel)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    proc = psutil.Process(popen.pid)
    peak = 0
    c0 = time.process_time()
    while popen.poll() is None:
        peak = max(peak, _tree_rss(proc))
        time.sleep(sample_s)
    sampler = time.process_time() - c0
    out, err = popen.communicate()
    if popen.returncode != 0:
        raise SystemExit(f"{system} depth {depth} workers {workers} failed:\n{err[-3000:]}")
    row = json.loads(out.strip().splitlines()[-1])
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    row.update(peak_tree_mb=peak / 2**20, largest_mb=max(after, before) / 1024,
               load=load, load_after=os.getloadavg()[0], sampler=sampler)
    return row


def print_command(note: str) -> None:
    """The command line that made the table, then the machine's cores and ``note``."""
    print("    " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0])]
                            + sys.argv[1:]))
    print(f"\nos.cpu_count()={os.cpu_count()}; {note}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=["pendulum:7", "double-pendulum:7",
                                                    "pendulum:9"],
                    help="SYSTEM:DEPTH pairs (default: %(default)s)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--memory", type=int, default=1024,
                    help="FitConfig.memory_mb, the fit's memory aim in MB (default: 1024)")
    ap.add_argument("--engine", choices=("numpy", "torch"), default="numpy",
                    help="AdamConfig.engine of the gradient fits (default: %(default)s)")
    ap.add_argument("--start", choices=("auto", "fork", "loky"), default="auto",
                    help="FitConfig.start, how worker processes start (default: %(default)s)")
    ap.add_argument("--sample-ms", type=int, default=500,
                    help="ms between two samples of the process tree's memory (default: "
                         "%(default)s; each costs about 3 ms of CPU per process, on the "
                         "cores the run uses)")
    ap.add_argument("--min-parallel", type=int, default=None,
                    help="FitConfig.min_parallel: fewest candidates for which workers "
                         "start (default: the library's; 0 starts them for any table)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="rounds of every case, worker counts in turn; with more than one, "
                         "a table of medians follows (default: %(default)s)")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error(f"--repeat: expected a positive number of rounds, got {args.repeat}")
    print_command("load = 1-minute load average before/after the run")
    print("| system | depth | candidates | fit units | workers | enumerate s | fit s "
          "| fit CPU s | candidates/s | speed-up | peak tree MB | largest process MB | laws "
          "| best law | load | sampler CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    walls: dict[tuple[str, int], list[float]] = {}
    for case in args.cases:
        system, depth = case.rsplit(":", 1)
        for _ in range(args.repeat):
            base = None
            for w in args.workers:
                r = run_case(system, int(depth), w, args.memory, args.engine, args.start,
                             args.sample_ms / 1000, args.min_parallel)
                base = base or r["wall"]
                walls.setdefault((case, w), []).append(r["wall"])
                _print_row(system, depth, w, r, base)
    if args.repeat > 1:
        _print_medians(args.cases, args.workers, walls)


def _print_medians(cases: list[str], workers: list[int],
                   walls: dict[tuple[str, int], list[float]]) -> None:
    """Per case and worker count: median fit s over the rounds, range, and the speed-up
    over the first worker count as the ratio of medians and as each round's ratio."""
    import statistics

    print("\n| case | workers | rounds | median fit s | min–max fit s | speed-up (ratio of "
          "medians) | speed-up per round: median (min–max) |")
    print("|---|---|---|---|---|---|---|")
    for case in cases:
        first = walls[(case, workers[0])]
        for w in workers:
            got = walls[(case, w)]
            ratios = [a / b for a, b in zip(first, got)]
            print(f"| {case} | {w} | {len(got)} | {statistics.median(got):.2f} "
                  f"| {min(got):.2f}–{max(got):.2f} "
                  f"| {statistics.median(first) / statistics.median(got):.2f} "
                  f"| {statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f}) |")


def _print_row(system: str, depth: str, w: int, r: dict, base: float) -> None:
    """One run's row of the first table."""
    print(f"| {system} | {depth} | {r['candidates']} | {r['units']} | {w} "
          f"| {r['enumerate']:.1f} | {r['wall']:.1f} | {r['cpu']:.1f} "
          f"| {r['candidates'] / r['wall']:.0f} "
          f"| {base / r['wall']:.2f} | {r['peak_tree_mb']:.0f} | {r['largest_mb']:.0f} "
          f"| {r['laws']} | `{r['best']}` | {r['load']:.1f}/{r['load_after']:.1f} "
          f"| {r['sampler']:.2f} |",
          flush=True)


if __name__ == "__main__":
    main()
