"""Baseline benchmark: train + evaluate the vanilla MLP per built-in system.

Prints wall and CPU seconds, derivative MSEs and rollout RMSE against the paper's figures.

    python benchmarks/bench_baseline.py [--threads 1]
"""

from __future__ import annotations

import argparse
import time

PAPER = {"pendulum": 0.0563, "spring": 0.0174, "real-pendulum": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--systems", nargs="+", default=list(PAPER))
    args = parser.parse_args()

    import torch

    import hamiltonian_data
    from noether_search.baseline import BaselineConfig, derivative_mse, rollout, train_mlp

    torch.set_num_threads(args.threads)
    print(f"{'system':<14} {'wall s':>7} {'cpu s':>7} {'mse train':>10} {'mse test':>10} "
          f"{'rollout':>8} {'paper':>7} {'H':>4}")
    for name in args.systems:
        w0, c0 = time.perf_counter(), time.process_time()
        ds = hamiltonian_data.load(system=name)
        model = train_mlp(ds, BaselineConfig.for_dataset(ds))
        tr, te = derivative_mse(model, ds)
        ro = rollout(model, ds)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        paper = PAPER[name]
        print(f"{name:<14} {wall:>7.1f} {cpu:>7.1f} {tr:>10.2e} {te:>10.2e} {ro.rmse:>8.4f} "
              f"{paper if paper else '–':>7} {ro.horizon:>4}")


if __name__ == "__main__":
    main()
