"""Instructions the fit stage executes with 1 and 2 workers (valgrind's callgrind).

    python benchmarks/bench_fit_instructions.py [--case spring:7] [--workers 1 2]

Wall and CPU seconds of a run vary by 10 % and more from run to run on shared virtual
cores; instruction counts do not (the same count twice whatever else the machine does).
Each worker count runs once in a fresh process under ``valgrind --tool=callgrind
--dump-before=_Fork``: a process writes its counts and starts them again from zero just
before it forks, so each forked process (the sub-formula values' process, each worker)
counts only its own instructions, and the calling process's counts come in parts
(before the first fork, between forks, after the last). The table gives each part and
the total over every process of the run: imports, data, enumeration and ``fit_table``
(fit, filter, merge), as ``benchmarks/bench_fit.py`` runs them. A total that is the same
for 1 and 2 workers means the two-worker path does no more work; its extra CPU seconds
are then cycles per instruction (two cores sharing caches and memory bandwidth, page
faults), which callgrind does not see (nor the kernel's work). Under callgrind a run is
about 40 times slower: spring depth 7 (13,386 candidates, workers started) takes about
2 minutes per worker count. Needs valgrind (Debian: ``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import sys
import hamiltonian_data
from dslsearch.enumerate import enumerate_formulas
from dslsearch.fitting import FitConfig, fit_table
system, depth, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ds = hamiltonian_data.load(system=system)
table = enumerate_formulas(ds.variables, depth)
res = fit_table(table, ds, FitConfig(workers=workers))
print(len(res.laws))
"""


def count(system: str, depth: int, workers: int) -> list[tuple[str, int]]:
    """``[(part, instructions)]`` of one run under callgrind, in order of process and part."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", "--dump-before=_Fork",
             f"--callgrind-out-file={tmp}/cg.%p", sys.executable, "-c", CHILD,
             system, str(depth), str(workers)],
            capture_output=True, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        if out.returncode != 0:
            raise SystemExit(f"{system}:{depth} workers {workers} failed:\n{out.stderr[-3000:]}")
        parts = []
        for f in sorted(Path(tmp).iterdir(), key=_order):
            m = re.search(r"^summary:\s*(\d+)", f.read_text(errors="replace"), re.M)
            parts.append((f.name, int(m.group(1)) if m else 0))
    return parts


def _order(f: Path) -> tuple[int, int]:
    """Files ``cg.PID`` (a process's last part) and ``cg.PID.K`` (its K-th dump), by
    process and then part (the last part after the numbered ones)."""
    bits = f.name.split(".")
    return int(bits[1]), int(bits[2]) if len(bits) > 2 else 1 << 30


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="spring:7", help="SYSTEM:DEPTH (default: %(default)s)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind: not found; install it (Debian: apt-get install valgrind)")
    system, depth = args.case.rsplit(":", 1)
    print("    " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:]) + "\n")
    print("| workers | process parts (instructions, 10^9) | total (10^9) | vs first |")
    print("|---|---|---|---|")
    first = None
    for w in args.workers:
        parts = count(system, int(depth), w)
        total = sum(n for _, n in parts)
        first = first or total
        shown = ", ".join(f"{name.split('.', 1)[1]}: {n / 1e9:.3f}" for name, n in parts)
        print(f"| {w} | {shown} | {total / 1e9:.3f} | {total / first - 1:+.2%} |")


if __name__ == "__main__":
    main()
