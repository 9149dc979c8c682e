"""The pixel-pendulum stage: base predictor, "more steps" control and Noether, over seeds.

Stored per seed under ``video/<config hash>/seed-<s>``, so an interrupted run resumes seed
by seed; ``video/<config hash>/config`` records the settings for reports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from noether_search.video.config import VideoConfig
from noether_search.video.results import SeedRun, VideoResult

#: ``progress(seed, phase, done, total)``; phase as :data:`noether_search.video.run.Progress`
VideoProgress = Callable[[int, str, int, int], None]


def video_key(config: VideoConfig) -> str:
    """``video/<16 hex>``: the store prefix of ``config``'s results."""
    return f"video/{config.digest()}"


def run_video(config: VideoConfig = VideoConfig(), seeds: Sequence[int] = (0, 1, 2),
              store=None, progress: VideoProgress | None = None) -> VideoResult:
    """Run the pixel-pendulum experiment for each model seed (or reuse stored seeds).

    Args:
        config: data, protocol and training settings (validated here).
        seeds: model seeds; the episodes are the same for all (``config.data_seed``).
        store: a :class:`~noether_search.store.ResultsStore` to reuse and keep each seed's
            :class:`~noether_search.video.SeedRun`; None: in memory only.
        progress: ``progress(seed, phase, done, total)`` while a seed trains.

    Returns:
        :class:`~noether_search.video.VideoResult` with one run per seed, in order.

    Raises:
        ValueError: a setting out of range, an empty or repeated seed list, or training
            that diverged (nothing is stored for that seed).
    """
    config.validate()
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"run_video: seeds={seeds}; give one or more distinct seeds")
    key = video_key(config)
    runs, reused, data = [], 0, None
    for seed in seeds:
        stored = _load(store, key, seed)
        if stored is not None:
            runs.append(stored)
            reused += 1
            continue
        if data is None:
            from noether_search.video.run import video_data

            data = video_data(config)
        runs.append(_compute(config, data, seed, store, key, progress))
    return VideoResult(config=config, runs=runs, key=key, reused=reused)


def _load(store, key: str, seed: int) -> SeedRun | None:
    from noether_search.store.codecs import VIDEO_SEED

    return None if store is None else store.load_cached(f"{key}/seed-{seed}", VIDEO_SEED)


def _compute(config: VideoConfig, data, seed: int, store, key: str,
             progress: VideoProgress | None) -> SeedRun:
    from noether_search.store.codecs import VIDEO_CONFIG, VIDEO_SEED
    from noether_search.video.run import run_seed

    cb = None if progress is None else (lambda phase, d, t: progress(seed, phase, d, t))
    run = run_seed(config, data, seed, cb)
    if store is not None:
        if not store.exists(f"{key}/config"):
            store.save(f"{key}/config", VIDEO_CONFIG, config)
        store.save(f"{key}/seed-{seed}", VIDEO_SEED, run)
    return run


def load_video(store) -> list[VideoResult]:
    """Every video experiment a store holds (seeds in ascending order), for reports."""
    from noether_search.store.codecs import VIDEO_CONFIG, VIDEO_SEED

    results = []
    for cfg_key in sorted(k for k in store.keys("video") if k.endswith("/config")):
        prefix = cfg_key[: -len("/config")]
        config = store.load_cached(cfg_key, VIDEO_CONFIG)
        seed_keys = sorted((k for k in store.keys(prefix) if "/seed-" in k),
                           key=lambda k: int(k.rsplit("-", 1)[1]))
        runs = [r for r in (store.load_cached(k, VIDEO_SEED) for k in seed_keys)
                if r is not None]
        if config is not None and runs:
            results.append(VideoResult(config=config, runs=runs, key=prefix, reused=len(runs)))
    return results
