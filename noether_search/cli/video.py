"""``noether-search video``: action-conditioned video prediction of the swing-up pendulum
or of a folder of the user's episodes, base predictor vs. "more steps" vs. Noether (a
meta-learned conserved embedding)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from noether_search.cli._common import (console, echo_json, open_store, progress_bar,
                                        set_torch_threads)

#: VideoConfig field -> the option that sets it (for error messages)
_OPTION = {"n_frames": "--frames", "n_test": "--episodes", "n_val": "--val-episodes",
           "n_train": "--train-episodes", "predictor.size": "--size",
           "noether.inner_lrs": "--inner-lr", "history": "--history",
           "horizon": "--horizon"}
_PHASES = {"base": "base predictor", "more_steps": "more steps (control)",
           "noether": "Noether (meta-tailoring)", "evaluate": "test metrics"}


@click.command("video")
@click.option("--system", type=click.Choice(["pixel-pendulum"]), default=None,
              help="The rendered video domain (Gym's swing-up pendulum with sinusoidal "
              "torques, grayscale frames); the default when --data is not given.")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="A folder of your own episodes instead of --system: one subfolder of "
              "frame images (or one .npy/.npz array) per episode, optional actions.csv; "
              "format in docs/VIDEO.md.")
@click.option("--store", "--out", "store", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Results store folder (default: results/pixel-pendulum, "
              "or results/<folder name> with --data). Seeds already in the store are reused.")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Model seeds 0..N-1 (mean and standard deviation over them).")
@click.option("--episodes", type=click.IntRange(min=1), default=None,
              help="Held-out test episodes (windows every --test-stride frames of each); "
              "default 20, with --data a fifth of the folder's episodes.")
@click.option("--val-episodes", type=click.IntRange(min=1), default=None,
              help="Validation episodes; checkpoints are chosen on these. Default 5, with "
              "--data a fifth of the folder's episodes.")
@click.option("--train-episodes", type=click.IntRange(min=1), default=None,
              help="Training episodes (the paper: 5). Default 5, with --data the rest. A "
              "folder's sorted episodes go to training, validation, test in that order.")
@click.option("--frames", type=click.IntRange(min=8), default=None,
              help="Frames per rendered episode (default 200; not with --data).")
@click.option("--test-stride", type=click.IntRange(min=1), default=30, show_default=True,
              help="A test/validation window (--history + --horizon frames) starts every "
                   "this many frames.")
@click.option("--base-epochs", type=click.IntRange(min=1), default=None,
              help="Epochs of base training (default 10).")
@click.option("--extra-epochs", type=click.IntRange(min=1), default=None,
              help="Epochs of 'more steps' and of Noether meta-training (default 4).")
@click.option("--history", type=click.IntRange(min=3), default=4, show_default=True,
              help="Given frames before each prediction (at least 3: the embedding compares "
                   "two LSTM outputs from the history).")
@click.option("--horizon", type=click.IntRange(min=1), default=26, show_default=True,
              help="Frames predicted (closed loop) at validation and test; training "
                   "predicts 10.")
@click.option("--size", type=click.IntRange(min=16), default=32, show_default=True,
              help="Frame side in pixels (a multiple of 8).")
@click.option("--inner-lr", type=click.FloatRange(min=0.0, min_open=True), default=None,
              multiple=True, help="Rate(s) of the Noether step on the LSTM outputs to choose "
              "from on the validation episodes (repeat the option; default 0.5, 2, 5, 20).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object on stdout instead of a table.")
def command(system: str | None, data: Path | None, store: Path | None, seeds: int,
            episodes: int | None, val_episodes: int | None, train_episodes: int | None,
            frames: int | None, test_stride: int, base_epochs: int | None,
            extra_epochs: int | None, history: int, horizon: int, size: int,
            inner_lr: tuple[float, ...], as_json: bool) -> None:
    """Train an action-conditioned frame predictor (SVG without its prior) on 5 episodes
    (of the rendered pendulum, or of your folder with --data), then compare on held-out
    episodes: the base predictor, the base trained further ("more steps") and the Noether
    Network (one inner step on the LSTM outputs against the conservation of a learned
    embedding), by MSE, PSNR and SSIM of 26 predicted frames given 4 history frames and 26
    actions (--history, --horizon)."""
    if system is not None and data is not None:
        raise click.UsageError("--system and --data exclude each other: --system runs a "
                               "rendered domain, --data your own episodes; give one")
    if data is not None and frames is not None:
        raise click.BadParameter("sets the rendered episodes' length; with --data each "
                                 "episode is as long as its frames", param_hint="--frames")
    set_torch_threads()
    from noether_search.store import StoreError
    from noether_search.video.config import NoetherConfig, PredictorConfig, VideoConfig

    defaults = VideoConfig()
    config = VideoConfig(
        n_train=train_episodes or defaults.n_train, n_val=val_episodes or defaults.n_val,
        n_test=episodes or defaults.n_test, n_frames=frames or defaults.n_frames,
        test_stride=test_stride, history=history, horizon=horizon,
        base_epochs=base_epochs or defaults.base_epochs,
        extra_epochs=extra_epochs or defaults.extra_epochs,
        predictor=PredictorConfig(size=size),
        noether=NoetherConfig(inner_lrs=tuple(inner_lr) or NoetherConfig().inner_lrs))
    try:
        config.validate()
    except ValueError as exc:
        field = str(exc).split("=", 1)[0].removeprefix("VideoConfig.")
        raise click.BadParameter(str(exc), param_hint=_OPTION.get(field, field)) from None
    start = time.perf_counter()
    footage = None
    if data is not None:
        footage, config = _load_folder(data, config, train_episodes, val_episodes, episodes)
    name = data.resolve().name if data is not None else system or "pixel-pendulum"
    results = open_store(store if store is not None else Path("results") / name)
    try:
        result = _run(config, seeds, results, footage)
    except (StoreError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    seconds = time.perf_counter() - start
    summary = result.summary() | {"seconds": seconds, "store": str(results.root / result.key)}
    if as_json:
        echo_json(summary)
        return
    _print_table(result, summary)


def _load_folder(data: Path, config, train: int | None, val: int | None,
                 test: int | None):
    from noether_search.video.folder import FootageError, folder_config, load_footage

    try:
        footage = load_footage(data, config.predictor.size)
        return footage, folder_config(footage, config, train, val, test)
    except FootageError as exc:
        raise click.BadParameter(str(exc), param_hint="--data") from None


def _run(config, n_seeds: int, store, footage):
    from noether_search.stages.video import run_video

    with progress_bar() as bar:
        tasks: dict = {}

        def progress(seed: int, phase: str, done: int, total: int) -> None:
            if (seed, phase) not in tasks:
                tasks[seed, phase] = bar.add_task(f"seed {seed}: {_PHASES[phase]}",
                                                  total=total)
            bar.update(tasks[seed, phase], completed=done)

        return run_video(config, range(n_seeds), store=store, progress=progress,
                         footage=footage)


def _print_table(result, summary: dict) -> None:
    from rich.table import Table

    from noether_search.video.results import METHODS

    c = result.config
    domain = "Pixel pendulum" if c.source is None else f"Episodes in {c.source.path}"
    table = Table(title=f"{domain}: {c.horizon} frames from {c.history} "
                        f"(+{c.horizon} actions); {summary['episodes']['test']} test "
                        f"episodes, {summary['episodes']['test_windows']} windows, "
                        f"{len(result.runs)} seeds (mean ± std over seeds)")
    for col in ("model", "MSE", "PSNR [dB]", "SSIM"):
        table.add_column(col)
    names = {"base": "base predictor", "more_steps": "more steps (control)",
             "noether": "Noether"}
    for m in METHODS:
        table.add_row(names[m], *(f"{summary[f'{m}_{k}']:.5g} ± {summary[f'{m}_{k}_std']:.2g}"
                                  for k in ("mse", "psnr", "ssim")))
    out = console()
    out.print(table)
    out.print("inner rate chosen on validation, per seed: "
              + ", ".join(f"{lr:g}" for lr in summary["inner_lr"]))
    out.print(f"{summary['seconds']:.0f} s ({result.reused} seed(s) reused); "
              f"stored in {summary['store']}")
