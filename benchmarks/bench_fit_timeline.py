"""Where the fit's wall time goes: a timeline of the calling process and each worker's CPU.

    nice -n 10 python benchmarks/bench_fit_timeline.py [--case pendulum:7] [--workers 1 2]
        [--start auto|fork|loky]

Each worker count runs in a fresh process (like ``bench_fit.py``): the data set is loaded
and the candidates enumerated, then ``fit_table`` runs with its phases wrapped: planning,
the fit key, the values key, waiting for the warm workers, the shards (first sent, first
back, last back), the noise floor, the merge. Each phase prints the wall seconds since the
start of ``fit_table`` and the calling process's CPU seconds spent in it (all its
threads). A sampler thread reads every child process's CPU seconds from ``/proc`` every
50 ms (the last reading before it exits, so up to 50 ms of a child's last CPU time can be
missed; children are the workers and the process that makes the shared sub-formula
values beside the planning), and
the worker's start and end seen by the sampler (its own CPU seconds, counted in the
caller's, are printed). Phases overlap where the code overlaps
them (the workers start while the caller plans). CPU seconds are less sensitive to other
load on the machine than wall seconds; the 1-minute load average is printed with each run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys

CHILD = r"""
import json, os, sys, threading, time
T0 = time.perf_counter()
EVENTS = []

def cpu():
    t = os.times()
    return t.user + t.system

def mark(name, c0=None):
    EVENTS.append((name, time.perf_counter(), cpu(), c0))

import hamiltonian_data
from dslsearch.enumerate import enumerate_formulas
import dslsearch.fitting.run as run
system, depth, workers, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ds = hamiltonian_data.load(system=system)
table = enumerate_formulas(ds.variables, depth)

def wrap(mod, name):
    fn = getattr(mod, name)
    def inner(*a, **k):
        c0 = cpu(); mark(name + " start")
        try:
            return fn(*a, **k)
        finally:
            mark(name + " end", c0)
    setattr(mod, name, inner)

for name in ("plan_shards", "fit_key", "values_key", "keep_values", "segments", "merge_laws",
             "run_shards", "_candidate_rows"):
    if hasattr(run, name):
        wrap(run, name)
orig_warm = run.warm_workers
def warm(config):
    c0 = cpu(); mark("warm_workers call")
    wait = orig_warm(config)
    def waited():
        c1 = cpu(); mark("wait warm start"); r = wait(); mark("wait warm end", c1); return r
    return waited
run.warm_workers = warm

orig_kept = getattr(run, "_kept_values", None)
def kept(*a):
    c0 = cpu(); mark("kept values start")
    wait = orig_kept(*a)
    mark("kept values started", c0)
    def waited(cancel=False):
        c1 = cpu(); mark("wait kept start"); r = wait(cancel); mark("wait kept end", c1)
        return r
    return waited
if orig_kept is not None:
    run._kept_values = kept

TICK = os.sysconf("SC_CLK_TCK")
def children(pid):
    # /proc/PID/task/*/children: a few small files (psutil lists every process)
    import glob
    kids = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            kids += [int(c) for c in open(path).read().split()]
        except OSError:
            pass
    return kids

def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK   # utime + stime

seen = {}
stop = threading.Event()
SAMPLER = {}
def sample():
    while not stop.is_set():
        SAMPLER["cpu"] = time.thread_time()
        todo = children(os.getpid())
        while todo:
            pid = todo.pop()
            todo += children(pid)
            try:
                c = proc_cpu(pid)
            except (OSError, ValueError, IndexError):
                continue
            rec = seen.setdefault(pid, {"first": time.perf_counter() - T_FIT})
            now = time.perf_counter() - T_FIT
            if c > rec.get("cpu", 0.0) + 0.01:
                rec["busy_until"] = now
                rec.setdefault("busy_from", now)
            rec["cpu"] = c
            rec["last"] = now
        time.sleep(0.05)

from dslsearch.fitting import FitConfig, fit_table
T_FIT = time.perf_counter()
th = threading.Thread(target=sample, daemon=True); th.start()
c_fit = cpu(); mark("fit_table start")
res = fit_table(table, ds, FitConfig(workers=workers, start=start))
mark("fit_table end", c_fit)
stop.set(); th.join()
out = {"events": [(n, t - T_FIT, c, None if c0 is None else c - c0) for n, t, c, c0 in EVENTS],
       "sampler": SAMPLER.get("cpu", 0.0),
       "workers": seen, "laws": [str(l) for l in res.laws], "seconds": res.seconds}
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="pendulum:7", help="SYSTEM:DEPTH (default: %(default)s)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--start", choices=("auto", "fork", "loky"), default="auto",
                    help="FitConfig.start (default: %(default)s)")
    args = ap.parse_args()
    print("    " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0])]
                            + sys.argv[1:]))
    system, depth = args.case.rsplit(":", 1)
    for w in args.workers:
        load = os.getloadavg()[0]
        p = subprocess.run([sys.executable, "-c", CHILD, system, depth, str(w), args.start],
                           capture_output=True, text=True)
        if p.returncode:
            raise SystemExit(p.stderr[-3000:])
        r = json.loads(p.stdout.strip().splitlines()[-1])
        print(f"\n{system} depth {depth}, {w} worker(s), start {args.start}; load {load:.1f}/"
              f"{os.getloadavg()[0]:.1f}\n")
        print("| event | wall s | caller CPU s in phase |")
        print("|---|---|---|")
        shards = [e for e in r["events"] if e[0].startswith("_candidate_rows")]
        firsts = shards[:2] + shards[-2:]
        for name, t, _, dc in r["events"]:
            if name.startswith("_candidate_rows") and [name, t, _, dc] not in firsts:
                continue
            print(f"| {name} | {t:.2f} | {'' if dc is None else f'{dc:.2f}'} |")
        print(f"\nshards back: {len(shards) // 2}; the sampler thread's own CPU s (in the "
              f"caller's CPU of the phases it ran in): {r['sampler']:.2f}")
        print("\n| child pid | seen from s | busy from s | busy until s | seen to s | CPU s |")
        print("|---|---|---|---|---|---|")
        for pid, rec in r["workers"].items():
            print(f"| {pid} | {rec['first']:.2f} | {rec.get('busy_from', 0):.2f} "
                  f"| {rec.get('busy_until', 0):.2f} | {rec['last']:.2f} | {rec['cpu']:.2f} |")
        caller = [dc for name, _, _, dc in r["events"] if name == "fit_table end"][0]
        kids = sum(rec["cpu"] for rec in r["workers"].values())
        print(f"\nCPU s: caller {caller:.2f} (sampler {r['sampler']:.2f}) + child processes "
              f"{kids:.2f} = {caller + kids:.2f}; fit_table {r['seconds']:.2f} s wall")
        print(f"\nlaws: {r['laws']}")


if __name__ == "__main__":
    main()
