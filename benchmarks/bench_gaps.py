"""The gaps to the paper: `rank` variants, each matching one difference between the paper's
setup and this repository's defaults, over a few seeds (docs/TAILORING.md, "Gaps to the
paper").

    python benchmarks/bench_gaps.py [--systems spring real-pendulum] [--seeds 3]
                                    [--variants default no-val ...] [--store DIR]
                                    [--long-horizon auto|0]

Each variant runs `rank` with the defaults but for the overrides shown in its row, for seeds
0 … SEEDS−1 (one `rank` call per seed: the run keys and numbers are those of `rank --seeds`).
With ``--store DIR`` a system's fit and baselines (shared by all variants with the baseline's
default settings) and every finished run are reused from ``DIR/{system}``.

Columns: test rollout RMSE at the default horizon (docs/BASELINE.md), mean ± sample std over
the seeds; "gain": mean over seeds of 1 − Noether/MLP; "last step": mean of MLP/Noether at
the horizon's last step; "long": mean of MLP/Noether over a longer horizon (the whole test
part of the real pendulum, 110 steps; t ∈ [0, 20] s for the ideal systems), the same models
rolled out further; N<MLP, N<ctrl: seeds on which Noether is below the MLP, the control.
Nothing here is a default: no variant was chosen by these (test) numbers.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from bench_rank import _cpu   # CPU seconds of this process and its workers (run as a script)

#: name -> (RankConfig overrides, BaselineConfig overrides, what it matches)
VARIANTS = {
    "default": ({}, {}, "this repository's defaults (validation split 0.2, rollout "
                        "selection, central step, 100 full-batch epochs at 1e-3 and 1e-4)"),
    "no-val": ({"val_fraction": 0.0}, {},
               "the paper's data use: meta-tailoring trains on all training trajectories, "
               "choices on the training data"),
    "paper-select": ({"val_fraction": 0.0, "select": "loss"}, {},
                     "the paper's selection: screened inner rate only, law by post-step "
                     "training loss, all training trajectories"),
    "forward": ({"scheme": "forward"}, {},
                "the paper's inner-loss form: explicit Euler step g(x + f Δt)"),
    "epochs-300": ({"epochs": 300}, {},
                   "more outer steps (the paper's '100 epochs' may be mini-batch epochs); "
                   "the control gets the same"),
    "outer-1e-3": ({"outer_lrs": (1e-3,)}, {}, "one outer rate, Adam's default 1e-3"),
    "weak-baseline": ({}, {"steps": 500},
                      "a weaker vanilla MLP: 500 instead of HNN's 2000 Adam steps"),
}
#: extra horizon for the "long" column: systems with a truth integrate it, else whole test part
LONG_T = 20.0


def long_horizon(dataset) -> int:
    """Steps of the "long" column: t ∈ [0, 20] s when the system gives the truth, else the
    shortest test trajectory (the real pendulum's whole test part)."""
    from noether_search.baseline.evaluate import shortest_test_horizon

    dt = float(dataset.test[0].t[1] - dataset.test[0].t[0])
    system = dataset.system
    if system is not None and system.truth(dataset.test[0].x[:1], np.array([0.0, dt])) is not None:
        return int(round(LONG_T / dt))
    return shortest_test_horizon(dataset)


def run_variant(dataset, name: str, seeds: int, store, long: int) -> dict:
    """Every seed's RMSEs (and the long-horizon ratio) for one variant."""
    from noether_search.baseline.evaluate import rollout
    from noether_search.stages import RankConfig, rank

    over, base_over, _ = VARIANTS[name]
    per_seed = []
    for seed in range(seeds):
        cfg = RankConfig(seed=seed, **over)
        base = cfg.baseline_config(dataset, **base_over)
        r = rank(dataset, cfg, store, baseline_config=base)
        row = {m: r.rmse.get(m) for m in ("baseline", "control", "noether", "oracle")}
        by = r.rollouts.rmse_by_step
        row["last"] = (float(by["baseline"][-1] / by["noether"][-1])
                       if "noether" in by else math.nan)
        row["best"] = None if r.best is None else r.best.formula
        row["long"] = math.nan
        if long and r.best is not None:
            mlp = rollout(r.baseline.model, dataset, long).rmse
            noether = rollout(r.best.tailored.field(r.baseline.model, dataset), dataset,
                              long).rmse
            row["long"] = float(mlp / noether)
        per_seed.append(row)
    return {"per_seed": per_seed}


def _ms(values) -> str:
    v = [x for x in values if x is not None and math.isfinite(x)]
    if not v:
        return "–"
    if len(v) == 1:
        return f"{v[0]:.4f}"
    return f"{np.mean(v):.4f} ± {np.std(v, ddof=1):.4f}"


def _settings(name: str) -> str:
    over, base_over, _ = VARIANTS[name]
    parts = [f"{k}={v!r}" for k, v in over.items()]
    parts += [f"baseline {k}={v!r}" for k, v in base_over.items()]
    return ", ".join(parts) or "defaults"


def main() -> None:
    import os
    import sys
    import tempfile

    import hamiltonian_data
    from noether_search.store import ResultsStore

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--systems", nargs="+", default=["spring", "real-pendulum"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS),
                        choices=list(VARIANTS))
    parser.add_argument("--store", default=None)
    parser.add_argument("--long-horizon", default="auto",
                        help="steps of the 'long' column: auto (see the docstring) or 0 (none)")
    args = parser.parse_args()

    print(f"`python benchmarks/bench_gaps.py {' '.join(sys.argv[1:])}`\n", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for system in args.systems:
            dataset = hamiltonian_data.load(system=system)
            store = ResultsStore.open(f"{args.store or tmp}/{system}")
            long = long_horizon(dataset) if args.long_horizon == "auto" else int(
                args.long_horizon)
            print(f"### {system} ({args.seeds} seeds; long: {long} steps)\n")
            print("| variant | settings | MLP | control | Noether | oracle | gain | last step"
                  " | long | N<MLP | N<ctrl | CPU s | load |")
            print("| --- | --- |" + " ---: |" * 10 + " --- |", flush=True)
            laws = {}
            for name in args.variants:
                cpu, t0 = _cpu(), time.perf_counter()
                rows = run_variant(dataset, name, args.seeds, store, long)["per_seed"]
                cpu, wall = _cpu() - cpu, time.perf_counter() - t0
                col = {m: [r[m] for r in rows] for m in rows[0]}
                gain = [1 - n / b for n, b in zip(col["noether"], col["baseline"])
                        if n is not None and b is not None]
                beats = [sum(1 for r in rows if r["noether"] is not None and r[o] is not None
                             and r["noether"] < r[o]) for o in ("baseline", "control")]
                finite = [x for x in col["long"] if math.isfinite(x)]
                print(f"| {name} | {_settings(name)} | {_ms(col['baseline'])} | "
                      f"{_ms(col['control'])} | {_ms(col['noether'])} | {_ms(col['oracle'])} | "
                      f"{100 * np.mean(gain):+.1f} % | {np.nanmean(col['last']):.2f}× | "
                      + (f"{np.mean(finite):.2f}× | " if finite else "– | ")
                      + f"{beats[0]}/{len(rows)} | {beats[1]}/{len(rows)} | {cpu:.0f} "
                      f"(wall {wall:.0f}) | {os.getloadavg()[0]:.1f} |", flush=True)
                laws[name] = col["best"]
            print("\nLaw per seed: " + "; ".join(
                f"{k}: " + ", ".join(f"`{b}`" for b in v) for k, v in laws.items()) + "\n")
    print("Variants: " + "; ".join(f"**{k}**: {v[2]}" for k, v in VARIANTS.items()
                                   if k in args.variants))


if __name__ == "__main__":
    main()
