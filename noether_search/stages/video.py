"""The video stage: base predictor, "more steps" control and Noether, over seeds, on the
rendered pixel pendulum or on a folder of the user's episodes
(:mod:`noether_search.video.folder`).

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
              store=None, progress: VideoProgress | None = None,
              footage=None) -> VideoResult:
    """Run the video experiment for each model seed (or reuse stored seeds).

    Args:
        config: data, protocol and training settings (validated here). With ``footage``,
            a config from :func:`~noether_search.video.folder.folder_config` for that
            folder sets the split; one without ``source`` gets the folder's default split
            (a fifth of the sorted episodes for validation, a fifth for test, the rest for
            training).
        seeds: model seeds; the episodes are the same for all (``config.data_seed``).
        store: a :class:`~noether_search.store.ResultsStore` to reuse and keep each seed's
            :class:`~noether_search.video.SeedRun`; None: in memory only.
        progress: ``progress(seed, phase, done, total)`` while a seed trains.
        footage: a :class:`~noether_search.video.folder.Footage` (a loaded folder) to use
            instead of the rendered pendulum; its content hash is part of the store key.

    Returns:
        :class:`~noether_search.video.VideoResult` with one run per seed, in order.

    Raises:
        ValueError: a setting out of range, an empty or repeated seed list, or training
            that diverged (nothing is stored for that seed); for a folder,
            :class:`~noether_search.video.folder.FootageError` (a ValueError) when its
            episodes cannot be split as asked.
    """
    if footage is not None and config.source is None:
        from noether_search.video.folder import folder_config

        config = folder_config(footage, config)
    elif footage is not None and config.source.digest != footage.digest:
        raise ValueError(f"run_video: the config was made for the folder "
                         f"{config.source.path} (content {config.source.digest}), not for "
                         f"{footage.root} ({footage.digest}); use folder_config(footage, ...)")
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
            data = _data(config, footage)
        runs.append(_compute(config, data, seed, store, key, progress))
    return VideoResult(config=config, runs=runs, key=key, reused=reused)


def _data(config: VideoConfig, footage):
    if config.source is None:
        from noether_search.video.run import video_data

        return video_data(config)
    if footage is None:
        raise ValueError(f"run_video: the config reads the folder {config.source.path}; "
                         "pass footage=load_footage(...)")
    from noether_search.video.folder import footage_data

    return footage_data(footage, config)


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
