"""Where the fit's wall time goes: a timeline of the calling process and each worker's CPU.

    nice -n 10 python benchmarks/bench_fit_timeline.py [--case pendulum:7] [--workers 1 2]
        [--start auto|fork|loky] [--stamps]

With ``--stamps`` it prints instead the phase stamps of :mod:`dslsearch.fitting.timeline`
(``DSLSEARCH_TIMELINE``), written by every thread and process of the run: per phase, its
CPU seconds, the seconds during which it was the only working thread (one core idle
on two) and its CPU seconds then (the measure to compare on a loaded machine), then every
stretch of 20 ms or more with one working thread.

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


STAMPS_CHILD = r"""
import sys, time
import hamiltonian_data
from dslsearch.enumerate import enumerate_formulas
from dslsearch.fitting import FitConfig, fit_table
system, depth, workers, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ds = hamiltonian_data.load(system=system)
table = enumerate_formulas(ds.variables, depth)
import os, resource
c0, f0 = os.times(), resource.getrusage(resource.RUSAGE_SELF)
res = fit_table(table, ds, FitConfig(workers=workers, start=start))
c1, f1 = os.times(), resource.getrusage(resource.RUSAGE_SELF)
fc = resource.getrusage(resource.RUSAGE_CHILDREN)
print(res.seconds, c1.user - c0.user, c1.system - c0.system, c1.children_user
      - c0.children_user, c1.children_system - c0.children_system, f1.ru_minflt - f0.ru_minflt,
      fc.ru_minflt, [str(l) for l in res.laws])
"""


def _stamps_report(system: str, depth: str, w: int, start: str) -> None:
    """Run one fit with stamps on; print the phases and the stretches with one busy thread."""
    import tempfile

    from dslsearch.fitting import timeline

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "stamps.tsv")
        load = os.getloadavg()[0]
        p = subprocess.run([sys.executable, "-c", STAMPS_CHILD, system, depth, str(w), start],
                           capture_output=True, text=True, env={**os.environ, timeline.ENV: path})
        if p.returncode:
            raise SystemExit(p.stderr[-3000:])
        stamps = timeline.read(path)
    t0 = min(s[3] for s in stamps)
    spans = timeline.phases(stamps)
    end = max(s[4] for s in spans) - t0
    print(f"\n{system} depth {depth}, {w} worker(s), start {start}; load {load:.1f}/"
          f"{os.getloadavg()[0]:.1f}; fit_table {p.stdout.split()[0]} s; stamps to "
          f"{end:.2f} s\n")
    names: dict = {}
    pids: list = []
    for pid, tid, *_ in stamps:
        if (pid, tid) not in names:
            pids += [pid] if pid not in pids else []
            names[(pid, tid)] = (f"P{pids.index(pid)}"
                                 f".T{sum(1 for k in names if k[0] == pid)}")
    stats = timeline.alone(spans)
    print("| phase | threads | first begin s | last end s | CPU s | wall s | alone s "
          "| CPU s alone |")
    print("|---|---|---|---|---|---|---|---|")
    firsts = {}
    for s in spans:
        f = firsts.setdefault(s[2], [s[3], s[4], set()])
        f[0], f[1] = min(f[0], s[3]), max(f[1], s[4])
        f[2].add(names[(s[0], s[1])])
    for ph, (c, wall, al, cal) in sorted(stats.items(), key=lambda kv: firsts[kv[0]][0]):
        f = firsts[ph]
        print(f"| {ph} | {' '.join(sorted(f[2]))} | {f[0] - t0:.2f} | {f[1] - t0:.2f} "
              f"| {c:.2f} | {wall:.2f} | {al:.2f} | {cal:.2f} |")
    work = sum(v[0] for k, v in stats.items())
    one = sum(v[2] for v in stats.values())
    one_cpu = sum(v[3] for v in stats.values())
    print(f"\nCPU s in all threads {work:.2f}; seconds with one working thread {one:.2f} "
          f"(its CPU s then {one_cpu:.2f})")
    v = p.stdout.split()
    caller = sum(st[5] for st in spans if st[0] == stamps[0][0])
    print(f"\nprocess CPU s (user + system): caller {float(v[1]):.2f} + {float(v[2]):.2f} "
          f"({float(v[1]) + float(v[2]) - caller:.2f} in threads without stamps: the process "
          f"pool's, forks), children {float(v[3]):.2f} + {float(v[4]):.2f}; minor page "
          f"faults: caller {v[5]}, children {v[6]}")
    shards = [s for s in timeline.phases(stamps, numbered=True) if s[2][6:].isdigit()]
    print("\nshards (begin s, CPU s) in order of start: " + "; ".join(
        f"{s[2][6:]}: {s[3] - t0:.2f}, {s[5]:.2f}" for s in sorted(shards, key=lambda s: s[3])))
    print("\n| one working thread from s | to s | thread | phase |")
    print("|---|---|---|---|")
    busy = [s for s in spans if not timeline.is_wait(s[2]) and s[4] > s[3]]
    edges = sorted({t for s in busy for t in (s[3], s[4])})
    run = None
    for lo, hi in zip(edges[:-1] + [None], edges[1:] + [None]):
        cur = None
        if lo is not None:
            on = [s for s in busy if s[3] <= (lo + hi) / 2 < s[4]]
            cur = (names[(on[0][0], on[0][1])], on[0][2]) if len(on) == 1 else None
        if run and (cur != run[2] or lo is None):
            if run[1] - run[0] >= 0.02:
                print(f"| {run[0] - t0:.2f} | {run[1] - t0:.2f} | {run[2][0]} | {run[2][1]} |")
            run = None
        if cur:
            run = [run[0], hi, cur] if run else [lo, hi, cur]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="pendulum:7", help="SYSTEM:DEPTH (default: %(default)s)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--start", choices=("auto", "fork", "loky"), default="auto",
                    help="FitConfig.start (default: %(default)s)")
    ap.add_argument("--stamps", action="store_true",
                    help="print the phase stamps (DSLSEARCH_TIMELINE) instead")
    args = ap.parse_args()
    print("    " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0])]
                            + sys.argv[1:]))
    system, depth = args.case.rsplit(":", 1)
    if args.stamps:
        for w in args.workers:
            _stamps_report(system, depth, w, args.start)
        return
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
