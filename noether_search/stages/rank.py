"""``rank`` end to end: enumerate → fit/filter → baseline → tailoring screen → meta-tailoring
→ evaluation, each stage reusing what the results store holds (when one is passed).

Stages and their store keys (``docs/STORE.md``):

1. candidates and fits (:func:`fit_laws`): ``candidates/d{N}``, ``fits/…``;
2. baseline (:func:`train_baseline`): ``baseline/{hash}``;
3. screen (:func:`screen_laws`): every law as a one-step tailoring loss at each inner
   learning rate on the fit pairs, ``rank/{key}/screen``;
4. meta-tailoring (:func:`meta_tailor_laws`) of the best ``top`` laws and of the oracle,
   ``rank/{key}/meta/{k}`` (one artifact per law and inner rate, so an interrupted run
   resumes run by run);
5. the control (:func:`train_control`): the baseline trained further with the plain task
   loss for the same epochs and outer rates, ``rank/{key}/control/{j}``;
6. evaluation (:func:`evaluate_models`): rollouts of the baseline, the Noether model (the
   best law by validation rollouts, ``select="rollout"``, or by validation loss on dx/dt,
   ``select="loss"``, the paper's rule) and the oracle, ``rank/{key}/rollouts``, and of
   the control, ``rank/{key}/control/rollouts``; and ``summary.json``
   (:meth:`RankResult.to_json`).

**Validation.** Stages 3-5 train on the *fit* part of the training trajectories; a
fraction ``val_fraction`` (0.2) of them (whole trajectories, or blocks of one long
trajectory) is held out, drawn with the seed
(:func:`~noether_search.stages.validation.split_train`), and makes every choice after
training: each run's kept epoch and outer rate (validation MSE on dx/dt), each law's
inner rate and the best law (validation rollouts, or validation MSE with
``select="loss"``), and the control's epoch and rate by the same rule. The baseline and the
law fit use all training trajectories; the test set is only used by stage 6.
``val_fraction=0`` makes the choices on the training data. With ``refit`` (the default)
the chosen Noether model, oracle and control are then retrained with their chosen settings
on all training trajectories (:mod:`~noether_search.stages.refit`), and stage 6 evaluates
those (``rank/{key}/refit/rollouts``, ``rank/{key}/refit/control/rollouts``).

With ``seeds`` > 1, stages 2-6 are repeated for seeds ``seed`` … ``seed + seeds − 1`` (each
seed its own run key; the fit is deterministic and done once), and the summary adds the mean
and standard deviation of every RMSE over the seeds. The seeds run in ``jobs`` worker
processes (default min(seeds, CPUs)) or in this process, each with one torch thread
(:func:`one_torch_thread`), so that the numbers do not depend on where (:func:`_run_seeds`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace

from noether_search.stages._common import Progress, silent
from noether_search.stages.control import Control, train_control
from noether_search.stages.evaluate import evaluate_models
from noether_search.stages.meta import (ROLLOUT_RATES, MetaConfig, TailoredLaw,
                                        meta_tailor_laws)
from noether_search.stages.refit import refit_chosen
from noether_search.stages.screen import ScreenedLaw, screen_laws
from noether_search.stages.seeds import MODELS, SeedRun, seed_summary
from noether_search.stages.validation import VAL_FRACTION, Split, split_train
from noether_search.store.codecs import Rollouts


@dataclass(frozen=True)
class RankConfig:
    """Settings of the ranking stages (fitting and baseline have their own configs)."""

    depth: int = 7            # maximum formula size (nodes)
    top: int = 20             # laws kept after the screen and meta-tailored
    epochs: int = 100         # meta-tailoring epochs (full-batch outer steps)
    outer_lrs: tuple[float, ...] = (1e-3, 1e-4)  # Adam learning rates tried per law; the
    #                           lowest post-step *training* loss wins (the spring needs 1e-4)
    seed: int = 0             # seed of fitting, baseline training and meta-tailoring
    horizon: int | None = None  # rollout steps (None: the dataset's default)
    factor: float = 100.0     # random-sequence filter factor of the fit stage
    inner_lr: float | None = None  # fixed inner learning rate for every law and the oracle
    #                           (None: each law's best rate in the screen, as the paper)
    select: str = "rollout"   # how the inner rate and the best law are chosen after
    #                           meta-tailoring: "rollout" (long-term prediction RMSE on the
    #                           validation trajectories, trying the screen's rate and 1e-2,
    #                           1e-1, 1) or "loss" (validation MSE on dx/dt, the paper's
    #                           rule on held-out pairs)
    ops: tuple[str, ...] | str | None = None  # operator set of the enumeration (names or
    #                           "paper,sqrt", "all"; dslsearch.ops.op_set); None: the paper's
    search: str = "exhaustive"  # laws ranked: "exhaustive" (the paper's search), "sums"
    #                           (sums of terms) or "both"; the fit command's default is "both"
    seeds: int = 1            # baseline, meta-tailoring and control repeated for seeds
    #                           seed … seed + seeds − 1 (each its own run key)
    val_fraction: float = VAL_FRACTION  # training trajectories (or blocks) held out, drawn
    #                           with the seed, to choose epochs, rates and the law (0: choose
    #                           on the training data); see stages/validation.py
    scheme: str = "central"   # finite-difference scheme of the conservation loss: "central"
    #                           or the paper's explicit Euler step "forward" (docs/TAILORING.md)
    refit: bool = True        # retrain the chosen Noether model, oracle and control on all
    #                           training trajectories after the validation choices
    #                           (stages/refit.py; no effect with val_fraction=0)
    jobs: int | None = None   # worker processes running the seeds (stages 2-6); None:
    #                           min(seeds, CPUs); 1: in this process. Every seed runs with
    #                           one torch thread (one_torch_thread): the numbers do not
    #                           depend on jobs
    def key(self, fit_key: str, baseline_key: str) -> str:
        """12 hex digits naming the run (``rank/{key}``) for these settings and inputs."""
        from dslsearch.ops import PAPER_OPS, op_set

        cfg = asdict(self)
        cfg["ops"] = op_set(self.ops)
        del cfg["seeds"]  # a run is one seed's; repeating seeds adds runs
        del cfg["jobs"]   # where a seed runs does not change it
        del cfg["refit"]  # retrained models have their own artifacts (``{run}/refit``)
        if cfg["scheme"] == "central":  # the key runs had before the scheme was a setting
            del cfg["scheme"]
        if cfg["ops"] == PAPER_OPS:  # the paper's set: the key runs had before ops existed
            del cfg["ops"]
        if cfg["search"] == "exhaustive":  # the key runs had before the sum search existed
            del cfg["search"]
        if cfg["val_fraction"] == 0:  # selection on training data: runs before validation
            del cfg["val_fraction"]
        # "ranked": which laws are screened (near-misses of better laws are left out)
        blob = json.dumps({"cfg": cfg, "fit": fit_key, "baseline": baseline_key,
                           "ranked": "no-near-misses"}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def meta_config(self) -> MetaConfig:
        """The meta-tailoring settings these imply (a fixed inner rate tries no others)."""
        extra = () if self.inner_lr is not None else ROLLOUT_RATES
        return MetaConfig(epochs=self.epochs, outer_lrs=tuple(self.outer_lrs), seed=self.seed,
                          select=self.select, extra_rates=extra, horizon=self.horizon,
                          scheme=self.scheme)

    def fit_config(self, **overrides):
        """The fit stage's settings: this config's factor and seed (plus ``overrides``)."""
        from dslsearch.fitting import FitConfig

        return FitConfig(**{"factor": self.factor, "seed": self.seed, **overrides})

    def baseline_config(self, dataset, **overrides):
        """The baseline's settings for ``dataset`` (HNN's), trained with this config's seed."""
        from noether_search.baseline import BaselineConfig

        return BaselineConfig.for_dataset(dataset, **{"seed": self.seed, **overrides})


@dataclass(frozen=True, eq=False)
class RankedLaw:
    """One law of the top ``RankConfig.top`` after the screen and meta-tailoring.

    Losses are training MSEs on dx/dt [(state units / s)², SI base units]; RMSEs are in SI
    base units of the state.
    """

    formula: str              # sympy syntax with fitted numbers, variables named as in the data
    pretty: str               # the same with parameter units, for tables
    size: int                 # nodes
    R_true: float             # conservation score on the true sequences
    R_random: float           # the same on shuffled sequences
    variants: int             # survivors merged into this law
    screen_loss: float        # training MSE after one inner step at the screen's best rate
    screen_gain: float        # baseline training MSE − screen_loss
    inner_lr: float           # inner rate of the kept meta-tailoring run
    meta_train_loss: float = math.nan  # post-step MSE on the fit pairs
    train_rollout_rmse: float = math.nan  # select="rollout" without a validation split
    g_scale: float = math.nan
    law: object = field(default=None, repr=False)   # the Law
    tailored: TailoredLaw | None = field(default=None, repr=False)
    val_rollout_rmse: float = math.nan  # select="rollout": on the validation trajectories
    meta_val_loss: float = math.nan     # post-step MSE on the validation pairs

    def to_json(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__
               if k not in ("law", "tailored")}
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in out.items()}


@dataclass(frozen=True, eq=False)
class Oracle:
    """The dataset's known invariant, screened and meta-tailored like a found law.

    Attributes:
        formula: its text (sympy syntax over the variable names), as the dataset gives it.
        law: it as a :class:`Law` (free constants set to 1).
        inner_lr: its inner rate (the kept run's; the screen's when it could not tailor).
        tailored: its meta-tailoring, or None when its screen failed.
    """

    formula: str
    law: object
    inner_lr: float
    tailored: TailoredLaw | None

    def to_json(self) -> dict:
        loss = None if self.tailored is None else self.tailored.meta_train_loss
        return {"formula": self.formula, "inner_lr": float(self.inner_lr),
                "meta_train_loss": loss}


@dataclass(frozen=True, eq=False)
class RankResult:
    """Everything ``rank`` found, with every stage's typed result.

    Attributes:
        system, source: the dataset's name and where it came from.
        config: the settings.
        fit: the fit stage's ``FitResult`` (counts, ``laws`` best R_true first).
        baseline: the ``BaselineResult`` (the vanilla MLP and its derivative MSEs).
        screened: one :class:`ScreenedLaw` per law of ``fit.laws``, in that order.
        top: the meta-tailored laws, by screen loss (then size).
        best: the law the Noether model uses (None when no law survived).
        oracle: the known invariant's run, or None when the dataset has none.
        rollouts: test rollouts of ``"baseline"``, ``"control"``, ``"noether"`` and
            ``"oracle"``.
        run_key: the store folder of this run's artifacts (``rank/{hash}``).
        seconds: wall time per stage (summed over the seeds).
        control: the baseline fine-tuned with the plain task loss (the control).
        seed_runs: one :class:`SeedRun` per seed, the first being this result's.
        split: the first seed's validation split (fit and held-out training data).

    Everything but ``seed_runs`` and ``seconds`` is the first seed's (``config.seed``).
    """

    system: str
    source: str
    config: RankConfig
    fit: object
    baseline: object
    screened: tuple[ScreenedLaw, ...]
    top: tuple[RankedLaw, ...]
    best: RankedLaw | None
    oracle: Oracle | None
    rollouts: Rollouts
    run_key: str
    seconds: dict[str, float]
    control: Control | None = None
    seed_runs: tuple[SeedRun, ...] = ()
    split: Split | None = None

    @property
    def rmse(self) -> dict[str, float | None]:
        """Test rollout RMSE of ``baseline``, ``control``, ``noether`` and ``oracle`` (None:
        not run)."""
        return {name: self.rollouts.rmse.get(name) for name in MODELS}

    @property
    def screen_baseline_loss(self) -> float:
        """Training MSE of the untailored baseline, as measured by the screen."""
        return self.screened[0].baseline_loss if self.screened else math.nan

    def to_json(self) -> dict:
        """The run's summary (``summary.json``, ``rank --json``)."""
        ro, fit, metrics = self.rollouts, self.fit, self.baseline.metrics
        return {
            "system": self.system, "source": self.source, "depth": self.config.depth,
            "candidates": fit.n_candidates, "fitted": fit.n_fitted, "failed": fit.n_failed,
            "survivors": fit.n_survivors, "laws": len(fit.laws),
            "best": None if self.best is None else self.best.to_json(),
            "top": [law.to_json() for law in self.top],
            **{f"{name}_rmse": value for name, value in self.rmse.items()},
            "oracle": None if self.oracle is None else self.oracle.to_json(),
            "rmse_by_step": {name: v.tolist() for name, v in ro.rmse_by_step.items()},
            "horizon": ro.horizon["baseline"],
            "baseline": {"deriv_mse_train": metrics.get("deriv_mse_train"),
                         "deriv_mse_test": metrics.get("deriv_mse_test"),
                         "train_loss_after_screen_step": None},
            "screen_baseline_train_loss": self.screen_baseline_loss,
            "config": asdict(self.config),
            "run_key": self.run_key,
            "stage_seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "control": None if self.control is None else self.control.to_json(),
            "control_rmse_by_step": (ro.rmse_by_step["control"].tolist()
                                     if "control" in ro.rmse_by_step else None),
            "validation": None if self.split is None else self.split.to_json(),
            **seed_summary(self.seed_runs),
        }


def rank(dataset, config: RankConfig = RankConfig(), store=None,
         progress: Progress | None = None, *, fit_config=None,
         baseline_config=None) -> RankResult:
    """Find the dataset's conservation laws and rank them by meta-tailoring the vanilla MLP.

    Args:
        dataset: a ``Dataset`` (``hamiltonian_data.load(...)`` or ``Dataset.from_arrays``).
        config: ranking settings; see :class:`RankConfig`.
        store: optional ``ResultsStore``: every stage reuses its artifacts and saves new
            ones, and ``summary.json`` is written. Without a store nothing touches the disk.
        progress: ``progress(stage, done, total)``.
        fit_config: the fit stage's settings (default :meth:`RankConfig.fit_config`).
        baseline_config: the baseline's (default :meth:`RankConfig.baseline_config`).

    Returns:
        :class:`RankResult`; ``to_json()`` is the summary.

    Raises:
        ValueError: bad settings (``select``, ``seeds``, ``val_fraction``, ``jobs``), or a store
            holding another run's artifacts.
    """
    import torch

    from noether_search.stages.fit import fit_laws

    _check_config(config)
    report = progress or silent
    seconds: dict[str, float] = {}
    torch.manual_seed(config.seed)
    clock = _Clock(seconds)
    with clock("fit"):
        fit = fit_laws(dataset, config.depth, fit_config or config.fit_config(), store=store,
                       progress=lambda done, total: report("fit", done, total),
                       ops=config.ops, search=config.search)
    base_config = baseline_config or config.baseline_config(dataset)
    tasks = [(config, base_config)] + [
        (replace(config, seed=config.seed + k), replace(base_config, seed=config.seed + k))
        for k in range(1, config.seeds)]
    runs = _run_seeds(dataset, tasks, fit, store, report, seconds, seed_jobs(config))
    first = runs[0]
    result = RankResult(system=dataset.name, source=dataset.source, config=config, fit=fit,
                        seconds=seconds, seed_runs=tuple(r.seed_run() for r in runs),
                        **first.fields())
    if store is not None:
        store.write_json("summary.json", result.to_json())
    return result


def _check_config(config: RankConfig) -> None:
    """Raise ValueError naming a bad setting of ``config``."""
    if config.select not in ("loss", "rollout"):
        raise ValueError(f"select must be 'loss' or 'rollout', got {config.select!r}")
    if config.scheme not in ("central", "forward"):
        raise ValueError(f"scheme must be 'central' or 'forward' (the paper's Euler step), got "
                         f"{config.scheme!r}")
    if not (isinstance(config.seeds, int) and config.seeds >= 1):
        raise ValueError(f"seeds must be an integer >= 1, got {config.seeds!r}")
    j = config.jobs
    if j is not None and not (isinstance(j, int) and not isinstance(j, bool) and j >= 1):
        raise ValueError(f"jobs must be None (min(seeds, CPUs)) or an integer >= 1, got {j!r}")
    v = config.val_fraction
    if isinstance(v, bool) or not (isinstance(v, (int, float)) and 0 <= v < 1):
        raise ValueError(f"val_fraction must be a number in [0, 1), got {v!r}; use 0 to "
                         f"choose on the training data, {VAL_FRACTION} by default")


def _tagged(report, seed: int):
    """``report`` with the seed in each stage's name."""
    return lambda stage, done, total: report(f"{stage} (seed {seed})", done, total)


def seed_jobs(config: RankConfig) -> int:
    """Worker processes for the seeds: ``config.jobs``, by default min(seeds, CPUs); never
    more than the seeds."""
    if config.jobs is not None:
        return max(1, min(int(config.jobs), config.seeds))
    from joblib import cpu_count

    return max(1, min(config.seeds, cpu_count()))


def _run_seeds(dataset, tasks, fit, store, report, seconds: dict[str, float],
               jobs: int) -> list[_SeedOutcome]:
    """Stages 2-6 for each ``(config, baseline_config)`` of ``tasks``, in order.

    With ``jobs`` > 1 the seeds run in that many joblib (loky) worker processes, else in
    this one; each seeds torch with its seed and uses one torch thread, so a seed's
    numbers do not depend on which process runs it or when. Each seed stores its
    artifacts under its own run key as it goes (a rerun reuses finished seeds and runs);
    progress is forwarded from the workers; the stage times (``seconds``) are summed over
    the seeds.
    """
    if jobs == 1:
        runs = []
        for k, (cfg, base_cfg) in enumerate(tasks):
            runs.append(_seed_in_process(dataset, cfg, fit, base_cfg, store,
                                         report if k == 0 else _tagged(report, cfg.seed),
                                         _Clock(seconds)))
        return runs
    import multiprocessing
    import threading

    from joblib import Parallel, delayed

    with multiprocessing.Manager() as manager:
        queue = manager.Queue()
        drain = threading.Thread(target=_forward, args=(queue, report), daemon=True)
        drain.start()
        try:
            done = Parallel(n_jobs=jobs, backend="loky")(
                delayed(_seed_worker)(dataset, cfg, fit, base_cfg, store, queue, k > 0)
                for k, (cfg, base_cfg) in enumerate(tasks))
        finally:
            queue.put(None)
            drain.join()
    runs = []
    for outcome, secs, damaged in done:
        for stage, t in secs.items():
            seconds[stage] = seconds.get(stage, 0.0) + t
        if store is not None:
            store.damaged.extend(damaged)
        runs.append(outcome)
    return runs


def _seed_in_process(dataset, config, fit, base_config, store, report, clock) -> _SeedOutcome:
    import torch

    torch.manual_seed(config.seed)
    with one_torch_thread():
        return _rank_seed(dataset, config, fit, base_config, store, report, clock)


@contextlib.contextmanager
def one_torch_thread():
    """Run the enclosed torch work with one intra-op thread, as every seed does (in this
    process or a worker), then restore the thread count. The networks are small (batches
    of N x 200): a second thread gains little on idle cores, one thread everywhere keeps a
    seed's numbers independent of where it runs, and a second thread spin-waits while
    other work holds the other core (the baseline and refit stages of the pendulum took 6
    and 18 times longer with two threads on 2 cores shared with another job)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _seed_worker(dataset, config, fit, base_config, store, queue, tag: bool):
    """One seed in a worker process with one torch thread: its outcome, stage times and the
    damaged artifacts its store met."""
    seconds: dict[str, float] = {}
    known = 0 if store is None else len(store.damaged)  # the parent's, pickled with it

    def report(stage: str, done: int, total: int) -> None:
        queue.put((f"{stage} (seed {config.seed})" if tag else stage, done, total))

    out = _seed_in_process(dataset, config, fit, base_config, store, report, _Clock(seconds))
    return out, seconds, [] if store is None else list(store.damaged[known:])


def _forward(queue, report) -> None:
    """Call ``report`` with every progress message of the workers until None arrives."""
    while (msg := queue.get()) is not None:
        report(*msg)


@dataclass(frozen=True, eq=False)
class _SeedOutcome:
    """Stages 2-6 of one seed."""

    seed: int
    baseline: object
    screened: tuple[ScreenedLaw, ...]
    top: tuple[RankedLaw, ...]
    best: RankedLaw | None
    oracle: Oracle | None
    control: Control
    rollouts: Rollouts
    run_key: str
    split: Split

    def fields(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "seed"}

    def seed_run(self) -> SeedRun:
        ro = self.rollouts
        return SeedRun(seed=self.seed, run_key=self.run_key,
                       best=None if self.best is None else self.best.formula,
                       rmse={m: ro.rmse.get(m) for m in MODELS},
                       rmse_by_step=dict(ro.rmse_by_step))


def _rank_seed(dataset, config: RankConfig, fit, base_config, store, report,
               clock) -> _SeedOutcome:
    """Baseline, screen, meta-tailoring, control and evaluation with ``config.seed``."""
    from noether_search.stages.baseline import train_baseline
    from noether_search.stages.fit import run_name

    with clock("baseline"):
        base = train_baseline(dataset, base_config, store=store,
                              progress=lambda step, total, loss: report("baseline", step, total))
    run_key = f"rank/{config.key(run_name(fit), base.key)}"
    split = split_train(dataset, config.val_fraction, config.seed, config.horizon)
    with clock("screen"):
        report("screen", 0, max(len(fit.laws), 1))
        screened = screen_laws(base.model, fit.laws, split.fit, store, f"{run_key}/screen",
                               scheme=config.scheme)
        report("screen", len(fit.laws), max(len(fit.laws), 1))
    with clock("meta_tailor"):
        top, oracle = _meta_tailor(base.model, screened, split, config, store, run_key, report,
                                   _near_misses(fit))
    with clock("control"):
        report("control", 0, 1)
        control = train_control(base.model, split.fit, config.meta_config(), store,
                                None if store is None else f"{run_key}/control", val=split.val)
        report("control", 1, 1)
    best = _best(top, config.select)
    where = run_key
    if config.refit and split.val is not None:
        with clock("refit"):
            again = refit_chosen(base.model, best, oracle, control, dataset,
                                 config.meta_config(), store, run_key, report)
        best, oracle, control, where = again.best, again.oracle, again.control, \
            f"{run_key}/refit"
    with clock("evaluate"):
        rollouts = _evaluate(base.model, best, oracle, dataset, config, store, where, report)
        rollouts = _with_control(rollouts, base.model, control, dataset, config, store, where)
    return _SeedOutcome(seed=config.seed, baseline=base, screened=tuple(screened), top=top,
                        best=best, oracle=oracle, control=control, rollouts=rollouts,
                        run_key=run_key, split=split)


class _Clock:
    """``with clock(stage):`` adds the block's wall time to ``seconds[stage]``."""

    def __init__(self, seconds: dict[str, float]):
        self.seconds = seconds

    def __call__(self, stage: str):
        import contextlib

        @contextlib.contextmanager
        def timed():
            t0 = time.perf_counter()
            yield
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0

        return timed()


def oracle_law(dataset):
    """The dataset's known invariant as a ``Law`` (constants it leaves free set to 1), or
    None when it has none or it is not in the formula language (a logarithm, a square
    root). Its units are not checked: a system may state its invariant in rescaled variables
    (the spring's ``q**2 + p**2``), and the oracle only needs its values."""
    from dslsearch.formula import FormulaError, from_sympy
    from dslsearch.law import Law

    if not dataset.invariant:
        return None
    try:
        formula, values = from_sympy(dataset.invariant, list(dataset.names))
    except FormulaError:
        return None
    return Law(formula, [1.0 if v is None else v for v in values],
               [(v.name, v.unit) for v in dataset.variables])


def _near_misses(fit) -> frozenset[int]:
    """Indices into ``fit.laws`` of the near-misses: laws that only approximate a better law
    found beside them (:func:`dslsearch.independence.independent_laws`); not ranked."""
    independent = getattr(fit, "independent", None)
    return frozenset(independent.near_misses) if independent is not None else frozenset()


def _top(screened: list[ScreenedLaw], n: int,
         exclude: frozenset[int] = frozenset()) -> list[ScreenedLaw]:
    """The ``n`` lowest screen losses (then fewest nodes) among laws that could tailor,
    leaving out the indices in ``exclude``."""
    order = sorted((i for i in range(len(screened)) if i not in exclude),
                   key=lambda i: (screened[i].loss, screened[i].law.size))
    return [screened[i] for i in order[:n] if screened[i].ok]


def _meta_tailor(model, screened, split: Split, config: RankConfig, store, run_key: str,
                 report, near_misses: frozenset[int] = frozenset()
                 ) -> tuple[tuple[RankedLaw, ...], Oracle | None]:
    """Meta-tailor the top laws (near-misses left out), then the oracle, on ``split.fit``
    (choices on ``split.val``); the top laws as :class:`RankedLaw`."""
    dataset = split.fit
    top = _top(screened, config.top, near_misses)
    law = oracle_law(dataset)
    oracle_screen = (None if law is None
                     else screen_laws(model, [law], dataset, scheme=config.scheme)[0])

    def first_rate(s: ScreenedLaw) -> float:
        return s.inner_lr if config.inner_lr is None else float(config.inner_lr)

    laws = [s.law for s in top]
    rates = [first_rate(s) for s in top]
    keys = [f"{run_key}/meta/{k:03d}" for k in range(len(top))]
    with_oracle = oracle_screen is not None and math.isfinite(first_rate(oracle_screen))
    if with_oracle:
        laws, rates = laws + [law], rates + [first_rate(oracle_screen)]
        keys.append(f"{run_key}/meta/oracle")
    tailored = meta_tailor_laws(model, laws, rates, dataset, config.meta_config(), store,
                                keys if store is not None else None, progress=report,
                                val=split.val)
    ranked = tuple(_ranked(s, t) for s, t in zip(top, tailored))
    oracle = None
    if law is not None:
        t = tailored[-1] if with_oracle else None
        oracle = Oracle(formula=dataset.invariant, law=law, tailored=t,
                        inner_lr=first_rate(oracle_screen) if t is None else t.inner_lr)
    return ranked, oracle


def _ranked(s: ScreenedLaw, t: TailoredLaw) -> RankedLaw:
    law = s.law
    return RankedLaw(formula=str(law), pretty=law.pretty(), size=int(law.size),
                     R_true=float(law.R_true), R_random=float(law.R_random),
                     variants=int(law.n_variants), screen_loss=s.loss, screen_gain=s.gain,
                     inner_lr=t.inner_lr, meta_train_loss=t.meta_train_loss,
                     train_rollout_rmse=t.train_rollout_rmse, g_scale=t.run.g_scale, law=law,
                     tailored=t, val_rollout_rmse=t.val_rollout_rmse,
                     meta_val_loss=t.meta_val_loss)


def _best(top: tuple[RankedLaw, ...], select: str) -> RankedLaw | None:
    """The law with the lowest rollout RMSE (``"rollout"``) or post-step MSE (``"loss"``) on
    the validation data, or on the training data when there is no validation split."""
    if not top:
        return None

    def score(law: RankedLaw) -> float:
        val = law.val_rollout_rmse if select == "rollout" else law.meta_val_loss
        train = law.train_rollout_rmse if select == "rollout" else law.meta_train_loss
        v = train if math.isnan(val) else val
        return math.inf if math.isnan(v) else v

    return min(top, key=score)


def _evaluate(model, best: RankedLaw | None, oracle: Oracle | None, dataset,
              config: RankConfig, store, run_key: str, report) -> Rollouts:
    """Test rollouts of the baseline, the Noether model (``best``) and the oracle, stored as
    ``{run_key}/rollouts`` (``run_key`` is the run's folder, or its ``refit`` folder)."""
    fields, formulas = {"baseline": model}, {"baseline": ""}
    if best is not None:
        fields["noether"] = best.tailored.field(model, dataset)
        formulas["noether"] = best.formula
    if oracle is not None and oracle.tailored is not None:
        fields["oracle"] = oracle.tailored.field(model, dataset)
        formulas["oracle"] = oracle.formula
    return evaluate_models(dataset, fields, formulas, config.horizon, store,
                           None if store is None else f"{run_key}/rollouts", progress=report)


def _with_control(rollouts: Rollouts, model, control: Control, dataset, config: RankConfig,
                  store, run_key: str) -> Rollouts:
    """``rollouts`` and the control's test rollouts (``{run_key}/control/rollouts``)."""
    ro = evaluate_models(dataset, {"control": control.field(model)}, None, config.horizon,
                         store, None if store is None else f"{run_key}/control/rollouts")
    return merge_rollouts(rollouts, ro)


def merge_rollouts(a: Rollouts, b: Rollouts) -> Rollouts:
    """The models of ``a`` and of ``b`` (same test trajectories) in one :class:`Rollouts`."""
    return Rollouts(t=a.t, true=a.true, pred={**a.pred, **b.pred},
                    rmse_by_step={**a.rmse_by_step, **b.rmse_by_step},
                    rmse={**a.rmse, **b.rmse}, formula={**a.formula, **b.formula},
                    horizon={**a.horizon, **b.horizon})
