"""Whole-pipeline benchmark: `rank` from an empty store, seconds per stage and the RMSEs.

    python benchmarks/bench_rank.py [--systems pendulum spring real-pendulum] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time

PAPER = {"pendulum": (0.0563, 0.0423, 0.0422), "spring": (0.0174, 0.0165, 0.0166),
         "real-pendulum": (None, None, None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--systems", nargs="+", default=list(PAPER))
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    import hamiltonian_data
    from dslsearch.fitting import FitConfig
    from noether_search.stages import RankConfig, rank
    from noether_search.store import ResultsStore

    rows = []
    for name in args.systems:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            dataset = hamiltonian_data.load(system=name)
            store = ResultsStore.open(f"{tmp}/store")
            s = rank(dataset, RankConfig(), store,
                     fit_config=FitConfig(workers=args.workers)).to_json()
            total = time.perf_counter() - t0
        rows.append((name, s, total))
    stages = list(rows[0][1]["stage_seconds"])
    print(f"{'system':<14} " + " ".join(f"{k:>11}" for k in stages)
          + f" {'total s':>8} {'baseline':>9} {'noether':>9} {'oracle':>9}  best law")
    for name, s, total in rows:
        def fmt(v):
            return f"{v:>9.4f}" if v is not None else f"{'–':>9}"
        print(f"{name:<14} " + " ".join(f"{s['stage_seconds'][k]:>11.1f}" for k in stages)
              + f" {total:>8.1f} {fmt(s['baseline_rmse'])} {fmt(s['noether_rmse'])} "
                f"{fmt(s['oracle_rmse'])}  {s['best']['formula'] if s['best'] else '–'}")
    print("paper (MLP, Noether, oracle): "
          + "; ".join(f"{k}: {v}" for k, v in PAPER.items() if k in args.systems))


if __name__ == "__main__":
    main()
