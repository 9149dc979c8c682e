"""Enumeration benchmark: counts, seconds and peak memory per system and depth.

Each (system, depth) runs in a fresh subprocess so that its peak RSS is its own.
Depths below 9 keep every node (as `enumerate --out` does); depth 9 and above stream the
last size (as `enumerate --no-save` does).

    python benchmarks/bench_enumerate.py [--depths 7 8 9]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

SYSTEMS = {
    "pendulum": [("q", "rad"), ("p", "kg*m**2/s")],
    "spring": [("q", "m"), ("p", "kg*m/s")],
}

CHILD = r"""
import json, resource, sys, time
from dslsearch.enumerate import enumerate_formulas
variables, depth, keep = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
t = time.perf_counter()
table = enumerate_formulas([tuple(v) for v in variables], depth, keep_last=keep)
seconds = time.perf_counter() - t
print(json.dumps({"count": sum(table.counts_by_size.values()), "seconds": seconds,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--depths", type=int, nargs="+", default=[7, 8, 9])
    args = parser.parse_args()
    print(f"{'system':<10} {'depth':>5} {'mode':>7} {'candidates':>12} {'seconds':>8} {'peak MB':>8}")
    for name, variables in SYSTEMS.items():
        for depth in args.depths:
            keep = depth < 9
            out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(variables), str(depth),
                                  "1" if keep else "0"], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout)
            print(f"{name:<10} {depth:>5} {'keep' if keep else 'stream':>7} {r['count']:>12,} "
                  f"{r['seconds']:>8.2f} {r['peak_mb']:>8.0f}")


if __name__ == "__main__":
    main()
