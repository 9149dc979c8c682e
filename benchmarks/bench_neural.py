"""Neural Noether benchmark: `neural` (default settings) per system and seed, after `rank` in
the same store so the symbolic Noether model is in the table; a markdown table of test
rollout RMSE, the linear-probe R² of the known invariant and the seconds of `neural`.

    python benchmarks/bench_neural.py [--systems pendulum spring] [--seeds 0 1 2]
                                      [--store DIR] [--no-rank]

With ``--store DIR`` each system's stages are kept in ``DIR/{system}`` (a rerun reuses them;
the times are then those of what was left to compute). ``--no-rank`` skips `rank` (the
symbolic column is then empty unless the store already holds a rank run).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

COLUMNS = ("baseline", "control", "neural", "symbolic", "oracle")


def run(name: str, seed: int, root: str, with_rank: bool) -> tuple[dict, float]:
    """``neural``'s summary for one system and seed, and the wall time of ``neural`` alone."""
    import hamiltonian_data
    from noether_search.stages import RankConfig, rank
    from noether_search.stages.neural import NeuralConfig, neural
    from noether_search.store import ResultsStore

    dataset = hamiltonian_data.load(system=name)
    store = ResultsStore.open(f"{root}/{name}-seed{seed}")
    if with_rank:
        rank(dataset, RankConfig(seed=seed), store)
    t0 = time.perf_counter()
    summary = neural(dataset, NeuralConfig(seed=seed), store).to_json()
    return summary, time.perf_counter() - t0


def _f(value, spec: str = ".4f") -> str:
    return "–" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--systems", nargs="+", default=["pendulum", "spring"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--store", default=None)
    parser.add_argument("--no-rank", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        rows = [(name, seed, *run(name, seed, args.store or tmp, not args.no_rank))
                for name in args.systems for seed in args.seeds]
    print("`python " + " ".join(["benchmarks/bench_neural.py", *sys.argv[1:]]) + "`\n")
    print("| system | seed | " + " | ".join(COLUMNS) + " | probe R² | chosen λ, outer lr "
          "| neural s |")
    print("| --- | --- |" + " --- |" * (len(COLUMNS) + 3))
    for name, seed, s, seconds in rows:
        cells = [_f(s.get(f"{m}_rmse")) for m in COLUMNS]
        chosen = s["chosen"]
        print(f"| {name} | {seed} | " + " | ".join(cells)
              + f" | {_f(s['probe_r2'], '.3f')} | {chosen['inner_lr']:g}, "
                f"{chosen['outer_lr']:g} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
