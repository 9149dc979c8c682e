"""``video --data DIR`` against ``video --system pixel-pendulum`` on the same episodes.

The pendulum's episodes (data seed 0) are written to folders in three formats: 64×64 8-bit
PNG frames (resized to 32×32 when loaded), 32×32 16-bit PNG frames and 32×32 float32
``.npy`` arrays, each with the torques in ``actions.csv``. The loaded frames are compared
with the renderer's 32×32 frames, then the same experiment (same split, epochs and seeds)
runs on the rendered pendulum and on each folder, and a markdown table compares them.

    python benchmarks/bench_video_folder.py [--train 5] [--val 2] [--test 3] [--frames 200]
        [--base-epochs 6] [--extra-epochs 2] [--seeds 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_folders(root: Path, episodes) -> dict[str, Path]:
    """The episodes as 64×64 8-bit PNG, 32×32 16-bit PNG and 32×32 float32 .npy folders."""
    from skimage import io

    from noether_search.video.render import render

    out = {"png-64-8bit": root / "png64", "png-32-16bit": root / "png32",
           "npy-32-float32": root / "npy32"}
    for path in out.values():
        path.mkdir(parents=True)
    for i, ep in enumerate(episodes):
        name = f"episode{i}"
        for key, size, dtype, top in (("png-64-8bit", 64, np.uint8, 255),
                                      ("png-32-16bit", 32, np.uint16, 65535)):
            d = out[key] / name
            d.mkdir()
            for t, frame in enumerate(render(ep.theta, size)):
                io.imsave(d / f"{t:04d}.png", np.round(frame * top).astype(dtype),
                          check_contrast=False)
            np.savetxt(d / "actions.csv", ep.actions[:, None], delimiter=",", fmt="%.17g")
        np.save(out["npy-32-float32"] / f"{name}.npy", render(ep.theta, 32))
        np.savetxt(out["npy-32-float32"] / f"{name}.actions.csv", ep.actions[:, None],
                   delimiter=",", fmt="%.17g")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name, default in (("train", 5), ("val", 2), ("test", 3), ("frames", 200),
                          ("base-epochs", 6), ("extra-epochs", 2), ("seeds", 1)):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--keep", default=None, help="write the folders here (kept)")
    args = parser.parse_args()
    import torch

    from noether_search.stages.video import run_video
    from noether_search.video.config import VideoConfig
    from noether_search.video.env import make_episodes
    from noether_search.video.folder import folder_config, load_footage
    from noether_search.video.render import render

    torch.set_num_threads(1)
    config = VideoConfig(n_train=args.train, n_val=args.val, n_test=args.test,
                         n_frames=args.frames, base_epochs=args.base_epochs,
                         extra_epochs=args.extra_epochs)
    n = args.train + args.val + args.test
    episodes = make_episodes(n, args.frames, config.data_seed)   # the pendulum's episodes
    rendered = [render(ep.theta, 32) for ep in episodes]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        folders = write_folders(root, episodes)
        rows.append(_run("`--system pixel-pendulum` (rendered)", config, None, None,
                         args.seeds, run_video))
        for label, path in folders.items():
            t0 = time.perf_counter()
            fo = load_footage(path, 32)
            load_s = time.perf_counter() - t0
            diff = max(float(np.abs(a - b).max()) for a, b in zip(fo.frames, rendered))
            act = max(float(np.abs(a[:, 0] - ep.actions.astype(np.float32)).max())
                      for a, ep in zip(fo.actions, episodes))
            cfg = folder_config(fo, config, args.train, args.val, args.test)
            rows.append(_run(f"`--data` {label}", cfg, fo, (diff, act, load_s), args.seeds,
                             run_video))
    _print(rows, args, n)


def _run(label, config, footage, check, seeds, run_video) -> dict:
    c0, t0 = time.process_time(), time.perf_counter()
    result = run_video(config, range(seeds), footage=footage)
    s = result.summary()
    return {"label": label, "check": check, "s": s, "key": result.key,
            "cpu": time.process_time() - c0, "wall": time.perf_counter() - t0}


def _print(rows, args, n) -> None:
    print(f"`python benchmarks/bench_video_folder.py {' '.join(sys.argv[1:])}`"
          .replace(" `", "`"))
    print()
    print(f"{n} episodes of {args.frames} frames ({args.train} training, {args.val} "
          f"validation, {args.test} test), 32×32 model input, {args.base_epochs} + "
          f"{args.extra_epochs} epochs, seeds 0..{args.seeds - 1}; MSE mean over the 26 "
          "predicted frames and the test windows (± std over seeds when more than one)")
    print()
    print("| data | max \\|frame − rendered 32×32\\| | max \\|action − float32 torque\\| "
          "| load [s] | base MSE | more steps MSE | Noether MSE | CPU [s] |")
    print("| --- " * 8 + "|")
    for r in rows:
        s, check = r["s"], r["check"]
        cells = ["—", "—", "—"] if check is None else [f"{check[0]:.3g}", f"{check[1]:.3g}",
                                                       f"{check[2]:.1f}"]
        cells += [f"{s[f'{m}_mse']:.6f} ± {s[f'{m}_mse_std']:.6f}"
                  for m in ("base", "more_steps", "noether")]
        print(f"| {r['label']} | " + " | ".join(cells) + f" | {r['cpu']:.0f} |")
    print()
    ref = rows[0]["s"]
    for r in rows[1:]:
        same = all(r["s"][f"{m}_mse"] == ref[f"{m}_mse"] for m in ("base", "more_steps",
                                                                    "noether"))
        print(f"{r['label']}: store key {r['key']}; MSEs bit-identical to the rendered "
              f"run: {same}")
    print(f"rendered: store key {rows[0]['key']}")


if __name__ == "__main__":
    main()
