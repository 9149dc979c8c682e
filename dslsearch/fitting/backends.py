"""Run shards in joblib worker processes or on dask.distributed."""

from __future__ import annotations

import os
from collections.abc import Callable

from dslsearch.fitting.config import FitConfig
from dslsearch.fitting.shard import ShardInput, ShardOutput, fit_shard

BACKENDS = ("joblib", "dask")


def run_shards(todo: list[int], make_input: Callable[[int], ShardInput], config: FitConfig,
               on_done: Callable[[int, ShardOutput], None]) -> None:
    """Run ``fit_shard`` on every shard index in ``todo``; ``on_done(k, out)`` in the calling
    process as each finishes (any order).

    Raises:
        ValueError: ``config.backend`` is not one of :data:`BACKENDS`.
    """
    if config.backend not in BACKENDS:
        raise ValueError(f"backend: expected 'joblib' or 'dask', got {config.backend!r}")
    workers = config.workers or os.cpu_count() or 1
    if config.backend == "dask":
        _run_dask(todo, make_input, config, workers, on_done)
    elif workers == 1 or len(todo) <= 1:
        for k in todo:
            on_done(k, fit_shard(make_input(k)))
    else:
        from joblib import Parallel, delayed

        par = Parallel(n_jobs=workers, return_as="generator_unordered")
        for k, out in par(delayed(_tagged)(k, make_input(k)) for k in todo):
            on_done(k, out)


def _run_dask(todo, make_input, config: FitConfig, workers: int, on_done) -> None:
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if config.scheduler:
        client = Client(config.scheduler)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        futures = {client.submit(fit_shard, make_input(k), pure=False): k for k in todo}
        for fut in as_completed(futures):
            on_done(futures[fut], fut.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _tagged(k: int, inp: ShardInput):
    # loky restarts a worker whose memory grew by 300 MB since its first task, taking it
    # for a leak; the per-process cache of sub-formula values (shard.py) is deliberate, and
    # a restart would redo the imports and that cache, so raise the threshold in the worker
    import sys

    loky = sys.modules.get("joblib.externals.loky.process_executor")
    if loky is not None and hasattr(loky, "_MAX_MEMORY_LEAK_SIZE"):
        loky._MAX_MEMORY_LEAK_SIZE = max(loky._MAX_MEMORY_LEAK_SIZE, 4 << 30)
    return k, fit_shard(inp)
