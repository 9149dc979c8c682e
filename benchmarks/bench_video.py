"""Pixel-pendulum benchmark: base predictor, "more steps" control and Noether over seeds,
as a markdown table (mean ± standard deviation over seeds of the mean over the 26 predicted
frames and the test windows), and the mean MSE at a few prediction steps.

    python benchmarks/bench_video.py [--seeds 3] [--episodes 20] [--store DIR]

With ``--store DIR`` (e.g. the store of an earlier ``noether-search video`` run with the
same settings) the stored seeds are reused and only the missing ones are trained.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

LABELS = {"base": "base predictor", "more_steps": "more steps (control)",
          "noether": "Noether"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--store", default=None)
    args = parser.parse_args()
    import torch

    from noether_search.stages.video import run_video
    from noether_search.store import ResultsStore
    from noether_search.video.config import VideoConfig
    from noether_search.video.results import METHODS

    torch.set_num_threads(1)
    config = VideoConfig(n_test=args.episodes)
    with tempfile.TemporaryDirectory() as tmp:
        store = ResultsStore.open(args.store or f"{tmp}/video")
        t0 = time.perf_counter()
        result = run_video(config, range(args.seeds), store=store)
        seconds = time.perf_counter() - t0
    s = result.summary()
    print(f"`python benchmarks/bench_video.py {' '.join(sys.argv[1:])}`".replace(" `", "`"))
    print()
    print(f"{s['episodes']['test']} test episodes ({s['episodes']['test_windows']} windows), "
          f"seeds {s['seeds']}, {seconds:.0f} s ({result.reused} seed(s) reused)")
    print()
    steps = [1, 5, 10, 26]
    print("| model | MSE | PSNR [dB] | SSIM | " + " | ".join(f"MSE step {k}" for k in steps)
          + " |")
    print("| --- " * (4 + len(steps)) + "|")
    for m in METHODS:
        by_step = result.by_step("mse", m).mean(axis=0)
        cells = [f"{s[f'{m}_mse']:.5f} ± {s[f'{m}_mse_std']:.5f}",
                 f"{s[f'{m}_psnr']:.3f} ± {s[f'{m}_psnr_std']:.3f}",
                 f"{s[f'{m}_ssim']:.4f} ± {s[f'{m}_ssim_std']:.4f}"]
        cells += [f"{by_step[k - 1]:.5f}" for k in steps]
        print(f"| {LABELS[m]} | " + " | ".join(cells) + " |")
    wins = (result.per_seed("mse", "noether") < result.per_seed("mse", "base")).sum()
    wins_more = (result.per_seed("mse", "noether") < result.per_seed("mse", "more_steps")).sum()
    print()
    print(f"Noether's MSE below the base in {wins} of {len(result.runs)} seeds, below "
          f"'more steps' in {wins_more}.")


if __name__ == "__main__":
    main()
