"""Whole-pipeline benchmark: `rank` from an empty store over seeds, seconds per stage and the
test RMSE of every model (mean ± standard deviation over the seeds).

    python benchmarks/bench_rank.py [--systems pendulum spring real-pendulum] [--seeds 5]
                                    [--workers 2] [--store DIR] [--val-fraction 0.2]
                                    [--jobs N]

With ``--store DIR`` each system's stages are kept in ``DIR/{system}`` (a rerun or a run with
more seeds reuses them; the times are then those of what was left to compute).
"""

from __future__ import annotations

import argparse
import tempfile
import time

PAPER = {"pendulum": (0.0563, 0.0423, 0.0422), "spring": (0.0174, 0.0165, 0.0166),
         "real-pendulum": (None, None, None)}
MODELS = ("baseline", "control", "noether", "oracle")


def run(name: str, seeds: int, workers: int | None, root: str | None,
        val_fraction: float = 0.2, jobs: int | None = None,
        refit: bool = True) -> tuple[dict, float]:
    """``rank``'s summary for one system (default settings) and its wall time."""
    import hamiltonian_data
    from dslsearch.fitting import FitConfig
    from noether_search.stages import RankConfig, rank
    from noether_search.store import ResultsStore

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        dataset = hamiltonian_data.load(system=name)
        store = ResultsStore.open(f"{root or tmp}/{name}")
        s = rank(dataset, RankConfig(seeds=seeds, val_fraction=val_fraction, jobs=jobs,
                                       refit=refit), store,
                 fit_config=FitConfig(workers=workers)).to_json()
        return s, time.perf_counter() - t0


def _cell(s: dict, model: str) -> str:
    mean, std = s.get(f"{model}_rmse_mean"), s.get(f"{model}_rmse_std")
    if mean is None:
        return "–"
    return f"{mean:.4f} ± {std:.4f}" if std is not None else f"{mean:.4f}"


def _cpu() -> float:
    """CPU seconds (user + system) of this process, its finished children and its live
    workers (the seeds' and the fit's joblib workers stay alive between calls)."""
    import resource

    import psutil

    total = sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
                for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
            total += t.user + t.system
        except psutil.Error:  # gone meanwhile
            pass
    return total


def _load() -> str:
    """The 1-minute load average, the CPUs and torch's threads (timings depend on them)."""
    import os

    import torch

    return (f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, "
            f"{torch.get_num_threads()} torch thread(s)")


def main() -> None:
    import sys

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--systems", nargs="+", default=list(PAPER))
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--store", default=None)
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--jobs", type=int, default=None,
                        help="worker processes for the seeds (default: min(seeds, cores))")
    parser.add_argument("--no-refit", action="store_true",
                        help="evaluate the models trained without the validation part")
    args = parser.parse_args()

    print(f"`python benchmarks/{' '.join(sys.argv)}`".replace("benchmarks/benchmarks/",
                                                                "benchmarks/"))
    rows = []
    for name in args.systems:
        before, cpu = _load(), _cpu()
        s, total = run(name, args.seeds, args.workers, args.store, args.val_fraction,
                       args.jobs, not args.no_refit)
        rows.append((name, s, total, f"{before}, after {_load()}; CPU {_cpu() - cpu:.0f} s"))
        print(f"{name}: {total:.0f} s ({rows[-1][3]})", flush=True)
    print(f"\nTest rollout RMSE, mean ± sample std over {args.seeds} seed(s); N<MLP, N<ctrl: "
          "seeds on which the Noether model's RMSE is below the vanilla MLP's, the control's\n")
    print("| system | " + " | ".join(MODELS) + " | N<MLP | N<ctrl |")
    print("| --- |" + " ---: |" * (len(MODELS) + 2))
    for name, s, _, _ in rows:
        print(f"| {name} | " + " | ".join(_cell(s, m) for m in MODELS)
              + f" | {s['noether_beats_baseline']}/{s['seeds']}"
                f" | {s['noether_beats_control']}/{s['seeds']} |")
    stages = list(rows[0][1]["stage_seconds"])
    print("\nWall time per stage [s], summed over the seeds (fit: once)\n")
    print("| system | " + " | ".join(stages) + " | total | load |")
    print("| --- |" + " ---: |" * (len(stages) + 1) + " --- |")
    for name, s, total, load in rows:
        print(f"| {name} | " + " | ".join(f"{s['stage_seconds'][k]:.1f}" for k in stages)
              + f" | {total:.1f} | {load} |")
    print("\nBest law per seed\n")
    for name, s, _, _ in rows:
        print(f"- {name}: " + "; ".join(f"`{r['best']}`" for r in s["per_seed"]))
    print("\npaper (MLP, Noether, oracle): "
          + "; ".join(f"{k}: {v}" for k, v in PAPER.items() if k in args.systems))


if __name__ == "__main__":
    main()
