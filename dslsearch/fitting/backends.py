"""Run shards in joblib worker processes or on dask.distributed.

With ``FitConfig.scheduler`` (``--scheduler``) the shards go to an existing dask cluster:
:func:`check_scheduler` connects and waits for a worker with timeouts, so a wrong address or
a cluster without workers fails in seconds with a message, before the caller writes anything;
while the shards run, a cluster that loses every worker for :data:`WORKER_WAIT` seconds
stops the run instead of waiting forever.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from dslsearch.fitting.config import FitConfig
from dslsearch.fitting.shard import ShardInput, ShardOutput, fit_shard
from dslsearch.fitting.timeline import stamp

BACKENDS = ("joblib", "dask")
#: seconds to connect to a dask scheduler
CONNECT_TIMEOUT = 10.0
#: seconds to wait for the scheduler to have at least one worker
WORKER_WAIT = 30.0


class SchedulerError(ValueError):
    """The dask scheduler given by ``--scheduler`` cannot be used; the message says why."""


def _connect(scheduler: str, connect_timeout: float):
    """A dask ``Client`` of ``scheduler`` (an address, or the path of a scheduler file)."""
    from dask.distributed import Client

    try:
        if Path(scheduler).is_file():
            return Client(scheduler_file=scheduler, timeout=connect_timeout)
        return Client(scheduler, timeout=connect_timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SchedulerError(
            f"--scheduler {scheduler}: cannot connect to a dask scheduler within "
            f"{connect_timeout:g} s ({type(exc).__name__}: {exc}); check the address "
            "(tcp://HOST:PORT as printed by `dask scheduler`, or its --scheduler-file) and "
            "that the scheduler runs and is reachable from here, or leave out --scheduler "
            "to run a local cluster") from None


def _wait_for_workers(client, scheduler: str, worker_wait: float) -> int:
    address = getattr(client.scheduler, "address", None) or scheduler
    try:
        client.wait_for_workers(1, timeout=worker_wait)
    except (OSError, TimeoutError) as exc:
        raise SchedulerError(
            f"--scheduler {scheduler}: the scheduler has no workers after {worker_wait:g} s "
            f"({type(exc).__name__}); start workers with `dask worker {address}` "
            "(or through your cluster's job queue, see docs/CLUSTER.md) and rerun") from None
    return len(client.scheduler_info().get("workers", {}))


def check_scheduler(scheduler: str, connect_timeout: float = CONNECT_TIMEOUT,
                    worker_wait: float = WORKER_WAIT) -> int:
    """Connect to the dask scheduler and wait until it has a worker; returns the number of
    workers. Call it before writing anything, so a bad ``--scheduler`` costs nothing.

    Raises:
        SchedulerError: unreachable within ``connect_timeout`` seconds, or no worker within
            ``worker_wait`` seconds (the message names ``--scheduler``, the address, the fix).
    """
    client = _connect(scheduler, connect_timeout)
    try:
        return _wait_for_workers(client, scheduler, worker_wait)
    finally:
        client.close()


def forks(config: FitConfig) -> bool:
    """Whether :func:`run_shards` runs the shards in worker processes forked from the
    calling one (:func:`_run_forked`) rather than in joblib's (loky's) fresh interpreters.

    ``config.start`` "fork" or "loky" decides; "auto" forks for the joblib backend with
    more than one worker on Linux when torch is not imported in this process (a forked
    child must not inherit torch's thread pools). Results are the same either way."""
    workers = config.workers or os.cpu_count() or 1
    if config.backend != "joblib" or workers == 1 or config.start == "loky":
        return False
    if config.start == "fork":
        return True
    return sys.platform == "linux" and "torch" not in sys.modules


def _warm(engine: str) -> int:
    """Import what a shard needs (numpy, this package; torch for the torch engine) in a
    worker process."""
    if engine == "torch":
        import torch  # noqa: F401

    import dslsearch.fitting.npgrad  # noqa: F401
    from dslsearch.fitting.malloc import tune_malloc

    tune_malloc()

    return os.getpid()


def warm_workers(config: FitConfig) -> Callable[[], None]:
    """Start the joblib worker processes and their imports in the
    background, so they overlap with the caller's planning; returns a function that waits
    for them. A no-op for one worker or the dask backend.

    :func:`run_shards` then finds them started and warm (and stops them when done)."""
    workers = config.workers or os.cpu_count() or 1
    if config.backend != "joblib" or workers == 1 or forks(config):
        return lambda: None
    import threading

    from joblib import Parallel, delayed

    def start() -> None:
        try:
            Parallel(n_jobs=workers)(delayed(_warm)(config.adam.engine) for _ in range(workers))
        except Exception:  # noqa: BLE001 - a failed warm-up only costs time; run_shards
            pass           # starts the workers again and reports any real error

    thread = threading.Thread(target=start, name="warm-workers", daemon=True)
    thread.start()
    return thread.join


def run_shards(todo: list[int], make_input: Callable[[int], ShardInput], config: FitConfig,
               on_done: Callable[[int, ShardOutput], None],
               started: Callable[[], None] | None = None) -> Callable[[], None]:
    """Run ``fit_shard`` on every shard index in ``todo``; ``on_done(k, out)`` in the calling
    process as each finishes (any order). ``started()`` is called once the workers run
    (after they are forked, so that threads it starts are not forked with them).

    Returns:
        a function that waits until the workers have exited. Forked workers are told to
        stop when the last shard is back and exit while the caller goes on; call it before
        this process forks again, and before returning (other backends: nothing to wait
        for).

    Raises:
        ValueError: ``config.backend`` is not one of :data:`BACKENDS`.
    """
    if config.backend not in BACKENDS:
        raise ValueError(f"backend: expected 'joblib' or 'dask', got {config.backend!r}")
    workers = config.workers or os.cpu_count() or 1
    started = started or (lambda: None)
    if forks(config) and len(todo) > 1:
        return _run_forked(todo, make_input, workers, on_done, started)
    started()
    if config.backend == "dask":
        _run_dask(todo, make_input, config, workers, on_done)
    elif workers == 1 or len(todo) <= 1:
        for k in todo:
            stamp(f"shard {k}")
            out = fit_shard(make_input(k))
            on_done(k, out)
    else:
        from joblib import Parallel, delayed

        par = Parallel(n_jobs=workers, return_as="generator_unordered")
        for k, out in par(delayed(_tagged)(k, make_input(k)) for k in todo):
            on_done(k, out)
    if config.backend == "joblib" and workers > 1:
        _release_workers()  # started by warm_workers or above
    return lambda: None


#: what forked workers read (:func:`forked_pool`): set before they fork
_FORKED: dict = {}


def _forked_call(i):
    return _FORKED["fn"](i)


def forked_pool(fn: Callable, workers: int):
    """A ``concurrent.futures`` pool of ``workers`` processes forked from this one at its
    first ``submit(_forked_call, i)``, each running ``fn(i)`` (``fn`` and all it refers
    to are inherited, pages shared copy-on-write: only ``i`` goes to a worker and only the
    result comes back). Use with :func:`close_forked`. No other thread of this process
    should be running when it forks (a lock it held would stay held in the workers),
    except threads that only write to ``sys.stdout`` or ``sys.stderr`` (a progress bar):
    the workers get their own (:func:`_own_std_streams`)."""
    import gc
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _FORKED["fn"] = fn
    # the workers' garbage collector leaves the inherited objects alone (their pages stay
    # shared instead of being copied when it marks them); undone once they have forked
    gc.freeze()
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=_own_std_streams)


def _own_std_streams() -> None:
    """In a forked worker: new ``sys.stdout`` and ``sys.stderr`` objects on copies of their
    file descriptors. A thread of the calling process (a progress bar) may have held an
    inherited stream's lock at the fork; the worker's exit flushes its streams and would
    wait for that lock forever."""
    stamp("worker start")
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        try:
            fresh = open(os.dup(stream.fileno()), "w", buffering=1,
                         encoding=getattr(stream, "encoding", None),
                         errors=getattr(stream, "errors", None))
        except (AttributeError, OSError, ValueError, TypeError):
            continue   # not a file (a captured stream): kept
        setattr(sys, name, fresh)
    stamp("idle")


def close_forked(pool, wait: bool = True) -> Callable[[], None]:
    """Stop the workers of :func:`forked_pool` (cancelling items not started). Without
    ``wait`` they are told to stop and exit while this process goes on: returns a function
    that waits for that (the pool's manager thread, which joins them)."""
    import gc

    gc.unfreeze()
    try:
        thread = None if wait else getattr(pool, "_executor_manager_thread", None)
        pool.shutdown(wait=wait or thread is None, cancel_futures=True)
    finally:
        _FORKED.clear()
    return thread.join if thread is not None else (lambda: None)


def map_forked(fn: Callable, items: list, workers: int) -> list:
    """``[fn(item) for item in items]`` in ``workers`` processes forked from this one
    (:func:`forked_pool`), in order.

    Raises:
        concurrent.futures.process.BrokenProcessPool: a worker died (killed, out of memory).
    """
    import gc

    if not items:
        return []
    def job(i: int):
        stamp("forked map")
        try:
            return fn(items[i])
        finally:
            stamp("idle")

    stamp("fork map workers")
    pool = forked_pool(job, min(workers, len(items)))
    try:
        futures = [pool.submit(_forked_call, i) for i in range(len(items))]
        gc.unfreeze()   # the workers have forked
        stamp("wait:forked map")
        got = [fut.result() for fut in futures]
        stamp("close map workers")
        return got
    finally:
        close_forked(pool)


def _run_forked(todo: list[int], make_input: Callable[[int], ShardInput], workers: int,
                on_done: Callable[[int, ShardOutput], None],
                started: Callable[[], None]) -> Callable[[], None]:
    """The shards in ``workers`` processes forked from this one once the shards are
    planned (:func:`forked_pool`): they start in milliseconds with this process's imports,
    table, plan and sub-formula values (:func:`~.shard.keep_values`), and make each
    shard's input themselves, so only a shard's number goes to a worker and only its
    results come back. Shards are handed out in the order of ``todo``; the workers stop
    when they are done (or when ``on_done`` raises: shards not started are cancelled).
    Returns a function that waits for them to exit (they exit while the caller goes on:
    :func:`close_forked` without ``wait``).

    Raises:
        concurrent.futures.process.BrokenProcessPool: a worker died (killed, out of memory).
    """
    import gc
    from concurrent.futures import as_completed

    import dslsearch.fitting.npgrad  # noqa: F401 - imported once, before the workers fork

    def job(k: int) -> tuple[int, ShardOutput]:
        stamp(f"shard {k}")
        try:
            return k, fit_shard(make_input(k))
        finally:
            stamp("idle")

    stamp("fork workers")
    pool = forked_pool(job, min(workers, len(todo)))
    try:
        futures = [pool.submit(_forked_call, k) for k in todo]  # forks at the first submit
        gc.unfreeze()
        stamp("start background")
        started()
        stamp("wait:shards")
        for fut in as_completed(futures):
            on_done(*fut.result())
            stamp("wait:shards")
        stamp("close workers")
        closed = close_forked(pool, wait=False)
    except BaseException:
        close_forked(pool)
        raise
    return closed


def _release_workers() -> None:
    """Stop the idle joblib worker processes once every shard is done: their cached
    sub-formula values would otherwise stay resident while the caller merges the laws,
    the process tree's peak. The next call starts them again (about 0.5 CPU s each:
    numpy and this package, no torch)."""
    from joblib.externals.loky import reusable_executor

    # the executor joblib's Parallel used (asking get_reusable_executor for it with other
    # settings than joblib's would start a new one first)
    executor = getattr(reusable_executor, "_executor", None)
    if executor is not None:
        executor.shutdown(wait=True)


def _run_dask(todo, make_input, config: FitConfig, workers: int, on_done) -> None:
    from dask.distributed import Client, LocalCluster

    cluster = None
    if config.scheduler:
        client = _connect(config.scheduler, CONNECT_TIMEOUT)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        if config.scheduler:
            _wait_for_workers(client, config.scheduler, WORKER_WAIT)
        futures = {client.submit(fit_shard, make_input(k), pure=False): k for k in todo}
        _collect(client, futures, config.scheduler, on_done)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _collect(client, futures: dict, scheduler: str | None, on_done) -> None:
    """``on_done`` for each finished future; a cluster without workers for
    :data:`WORKER_WAIT` seconds raises :class:`SchedulerError` instead of waiting forever."""
    from dask.distributed import wait

    pending = set(futures)
    idle_since = None
    while pending:
        try:
            done, rest = wait(list(pending), timeout=5.0, return_when="FIRST_COMPLETED")
        except TimeoutError:
            done = set()
        else:
            pending = set(rest)
        for fut in done:
            on_done(futures[fut], fut.result())
        if done or not scheduler or client.scheduler_info().get("workers"):
            idle_since = None
            continue
        idle_since = idle_since or time.monotonic()
        if time.monotonic() - idle_since > WORKER_WAIT:
            raise SchedulerError(
                f"--scheduler {scheduler}: the cluster has had no workers for "
                f"{WORKER_WAIT:g} s with {len(pending)} shards left; start workers "
                "(`dask worker ADDRESS`) and rerun: finished shards are kept")


def _tagged(k: int, inp: ShardInput):
    # loky restarts a worker whose memory grew by 300 MB since its first task, taking it
    # for a leak; the per-process cache of sub-formula values (shard.py) is deliberate, and
    # a restart would redo the imports and that cache, so raise the threshold in the worker
    import sys

    loky = sys.modules.get("joblib.externals.loky.process_executor")
    if loky is not None and hasattr(loky, "_MAX_MEMORY_LEAK_SIZE"):
        loky._MAX_MEMORY_LEAK_SIZE = max(loky._MAX_MEMORY_LEAK_SIZE, 4 << 30)
    return k, fit_shard(inp)
