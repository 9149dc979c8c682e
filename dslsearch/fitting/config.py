"""Settings of the fit stage and the key that names its results."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np

from dslsearch.acceptance import TESTS, AcceptanceConfig
from dslsearch.fitting.optimise import AdamConfig
from dslsearch.uncertainty import REFIT, REFITS


#: fewest candidates for which the joblib backend starts worker processes
#: (:attr:`FitConfig.min_parallel`): below it, starting them costs more than they save
#: (docs/PERFORMANCE.md, "Small tables")
MIN_PARALLEL = 8192

#: how joblib worker processes start (:attr:`FitConfig.start`)
STARTS = ("auto", "fork", "loky")


@dataclass(frozen=True)
class FitConfig:
    """Settings of the fit stage. Fields marked (result) enter the config hash; those
    marked (laws) select the laws from the fitted candidates without changing the fits, so
    they stay out of it (the shards of a run serve every test; the fit stage rewrites the
    run's laws for the test it ran)."""

    test: str = "calibrated"      # (laws) acceptance: "calibrated" (noise floor and
    #                               F-test, dslsearch.acceptance) or "factor" (the paper's)
    factor: float = 100.0         # (result) test "factor": accept when R_random >= factor *
    #                               R_true (also skips hopeless random-sequence fits)
    acceptance: AcceptanceConfig = AcceptanceConfig()  # (laws) calibrated thresholds
    seed: int = 0                 # (result) seed of the random-sequence shuffle
    fit_stride: int = 3           # (result) fit on every k-th point; final R uses all points
    window: int | None = None     # (result) split train trajectories into windows of this
    #                               many points (None: only when there is 1 trajectory: 20)
    shard_cost: int = 20000       # (result) cost budget of a shard (1 per parameter-free
    #                               unit, 3 per closed-form fit, 30 per gradient fit)
    merge_tol: float = 1e-6       # (result) 1 - |corr| below which survivors are one law
    adam: AdamConfig = AdamConfig()  # (result) gradient-fit settings (but not its engine)
    workers: int | None = None    # worker processes (None: all cores)
    backend: str = "joblib"       # "joblib" or "dask"
    scheduler: str | None = None  # dask scheduler address (None: a LocalCluster)
    memory_mb: int = 1024         # memory the fit aims to stay within, all processes
    #                               together (sizes the cached sub-formula values)
    start: str = "auto"           # how joblib workers start: "fork" (from the calling
    #                               process), "loky" (fresh interpreters) or "auto" (fork
    #                               on Linux unless torch is imported; backends.forks)
    min_parallel: int = MIN_PARALLEL  # fewest candidates for which the joblib backend
    #                               starts workers; a smaller table is fitted in the
    #                               calling process (effective_config); 0: always start them
    refit: str = REFIT            # (laws) how a law's constants are refitted for the noise
    #                               on noisy data: "ml" (maximum likelihood) or "moments"
    #                               (dslsearch.uncertainty.refit)

    def __post_init__(self) -> None:
        if self.test not in TESTS:
            raise ValueError(f"test: expected one of {', '.join(TESTS)}, got {self.test!r}")
        if self.start not in STARTS:
            raise ValueError(f"start: expected one of {', '.join(STARTS)}, got {self.start!r}")
        if self.refit not in REFITS:
            raise ValueError(f"refit: expected one of {', '.join(REFITS)}, got {self.refit!r}")
        if self.min_parallel < 0:
            raise ValueError(f"min_parallel: expected a count >= 0, got {self.min_parallel}")

    def result_fields(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("workers", "backend", "scheduler", "memory_mb", "start", "test",
                  "acceptance", "min_parallel", "refit"):
            d.pop(k)
        # the gradient fit's engine: numpy and torch agree to rounding (docs/PERFORMANCE.md),
        # so shards stored by either are reused and keys of earlier stores stay valid
        d["adam"].pop("engine")
        return d

    def worker_memory_bytes(self) -> int:
        """Bytes one worker may keep for values of sub-formulas: an eighth of
        ``memory_mb`` shared among the workers (the rest is the processes' code, the table,
        the batches being fitted)."""
        workers = self.workers or os.cpu_count() or 1
        return max(16 << 20, (self.memory_mb << 20) // (8 * workers))

    def shared_memory_bytes(self) -> int:
        """Bytes of sub-formula values kept once for all workers when they are forked from
        the calling process and share its pages: what one worker alone keeps (one shared
        copy takes what each worker's own copy took together). Each worker's batches stay
        sized by :meth:`worker_memory_bytes`."""
        return max(16 << 20, (self.memory_mb << 20) // 8)


def effective_config(config: FitConfig, n_candidates: int) -> FitConfig:
    """``config`` with one worker (the fit in the calling process) when the joblib backend
    would start several for fewer than ``config.min_parallel`` candidates: forking them,
    sharing the sub-formula values and importing the merge's modules beside them costs
    about half a CPU second, more than a table that small takes to fit. The results are
    the same either way (the plan does not depend on the workers)."""
    if (config.backend == "joblib" and n_candidates < config.min_parallel
            and (config.workers or os.cpu_count() or 1) > 1):
        return dataclasses.replace(config, workers=1)
    return config


def config_hash(config: FitConfig, dataset, table) -> str:
    """12 hex digits over the result-relevant settings, the data and the table."""
    h = hashlib.sha256()
    h.update(json.dumps(config.result_fields(), sort_keys=True, default=str).encode())
    h.update(str(dataset.content_hash()).encode())
    for arr in (table.op, table.a, table.b, table.candidates):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:12]


def fit_key(config: FitConfig, dataset, table) -> str:
    """``d{depth}-{hash}``: the name of a fit run (its store folder is ``fits/<key>``)."""
    return f"d{table.depth}-{config_hash(config, dataset, table)}"
