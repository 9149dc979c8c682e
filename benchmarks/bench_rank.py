"""Whole-pipeline benchmark: `rank` from an empty store over seeds, seconds per stage and the
test RMSE of every model (mean ± standard deviation over the seeds).

    python benchmarks/bench_rank.py [--systems pendulum spring real-pendulum] [--seeds 5]
                                    [--workers 2] [--store DIR]

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


def run(name: str, seeds: int, workers: int | None, root: str | None) -> tuple[dict, float]:
    """``rank``'s summary for one system (default settings) and its wall time."""
    import hamiltonian_data
    from dslsearch.fitting import FitConfig
    from noether_search.stages import RankConfig, rank
    from noether_search.store import ResultsStore

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        dataset = hamiltonian_data.load(system=name)
        store = ResultsStore.open(f"{root or tmp}/{name}")
        s = rank(dataset, RankConfig(seeds=seeds), store,
                 fit_config=FitConfig(workers=workers)).to_json()
        return s, time.perf_counter() - t0


def _cell(s: dict, model: str) -> str:
    mean, std = s.get(f"{model}_rmse_mean"), s.get(f"{model}_rmse_std")
    if mean is None:
        return f"{'–':>17}"
    return f"{mean:>8.4f} ± {std:<6.4f}" if std is not None else f"{mean:>17.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--systems", nargs="+", default=list(PAPER))
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--store", default=None)
    args = parser.parse_args()

    rows = [(name, *run(name, args.seeds, args.workers, args.store)) for name in args.systems]
    print(f"test rollout RMSE, mean ± std over {args.seeds} seed(s); stage seconds summed "
          "over the seeds")
    print(f"{'system':<14} " + " ".join(f"{m:>17}" for m in MODELS)
          + f" {'N<MLP':>6} {'N<ctrl':>6}")
    for name, s, _ in rows:
        print(f"{name:<14} " + " ".join(_cell(s, m) for m in MODELS)
              + f" {s['noether_beats_baseline']:>4}/{s['seeds']} "
                f"{s['noether_beats_control']:>4}/{s['seeds']}")
    stages = list(rows[0][1]["stage_seconds"])
    print(f"\n{'system':<14} " + " ".join(f"{k:>11}" for k in stages) + f" {'total s':>8}"
          "  best law (per seed)")
    for name, s, total in rows:
        best = "; ".join(str(r["best"]) for r in s["per_seed"])
        print(f"{name:<14} " + " ".join(f"{s['stage_seconds'][k]:>11.1f}" for k in stages)
              + f" {total:>8.1f}  {best}")
    print("paper (MLP, Noether, oracle): "
          + "; ".join(f"{k}: {v}" for k, v in PAPER.items() if k in args.systems))


if __name__ == "__main__":
    main()
