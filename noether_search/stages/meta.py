"""The meta-tailoring stage: train the MLP through the tailoring step of each kept law.

Each law is meta-tailored at its screened inner rate, and with ``select="rollout"`` also at
:data:`ROLLOUT_RATES`; the run kept per law is the one with the lowest long-term prediction
RMSE on the *training* trajectories (``select="loss"``: its only run). Every run is one
store artifact (``{key}``, ``{key}-r{j}``), so an interrupted stage resumes run by run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from noether_search.stages._common import Progress, silent, train_pairs
from noether_search.store.codecs import MetaRun

#: inner rates tried besides the screen's best when select="rollout"
ROLLOUT_RATES = (1e-2, 1e-1, 1.0)


@dataclass(frozen=True)
class MetaConfig:
    """Settings of meta-tailoring (``RankConfig.meta_config()`` derives them)."""

    epochs: int = 100         # full-batch outer steps per run
    outer_lrs: tuple[float, ...] = (1e-3, 1e-4)  # Adam rates tried; lowest training loss wins
    seed: int = 0             # seed of meta-tailoring
    select: str = "rollout"   # "rollout": keep the run with the best training rollout;
    #                           "loss": one run per law at its screened rate
    extra_rates: tuple[float, ...] = ROLLOUT_RATES  # inner rates tried besides the first
    #                           (select="rollout" only)
    horizon: int | None = None  # rollout steps of the training rollouts (None: dataset's)

    def rates(self, first: float) -> list[float]:
        """The inner rates tried for a law whose screened (or fixed) rate is ``first``."""
        if self.select == "loss":
            return [first]
        return [first] + [r for r in self.extra_rates if not math.isclose(r, first)]


@dataclass(frozen=True, eq=False)
class TailoredLaw:
    """A law after meta-tailoring: the run kept for it, and every run tried.

    Attributes:
        law: the law (anything with ``torch_fn()``).
        run: the kept :class:`~noether_search.store.codecs.MetaRun` (model weights, inner
            rate λ, law scale, training loss).
        train_rollout_rmse: the kept run's long-term prediction RMSE on the training
            trajectories (SI base units; nan with ``select="loss"``).
        runs: ``(inner_lr, final_train_loss, train_rollout_rmse)`` of every run tried.
    """

    law: object
    run: MetaRun
    train_rollout_rmse: float
    runs: tuple[tuple[float, float, float], ...]

    @property
    def inner_lr(self) -> float:
        return self.run.inner_lr

    @property
    def meta_train_loss(self) -> float:
        """Post-step training MSE on dx/dt [(state units / s)²]."""
        return self.run.final_train_loss

    def field(self, model, dataset):
        """The meta-tailored model as a tailored vector field (B, d) -> (B, d)."""
        return tailored_field(model, self.run, self.law.torch_fn(), dataset)


def tailored_field(model, run: MetaRun, g, dataset):
    """``run``'s weights loaded into a copy of ``model``, tailoring with ``g`` per query."""
    import copy

    from noether_search.model import TailoredField

    tuned = copy.deepcopy(model)
    tuned.load_state_dict(run.model_state)
    tuned.eval()
    return TailoredField(tuned, g, float(dataset.dt), run.inner_lr, run.g_scale)


def meta_tailor_laws(model, laws: Sequence, inner_lrs: Sequence[float], dataset,
                     config: MetaConfig = MetaConfig(), store=None,
                     keys: Sequence[str] | None = None,
                     progress: Progress | None = None) -> list[TailoredLaw]:
    """Meta-tailor ``model`` with each law, keeping per law the run chosen by ``config.select``.

    Args:
        model: the baseline MLP (not modified; each run trains a copy).
        laws: the laws (anything with ``torch_fn()``).
        inner_lrs: each law's first inner rate λ (its screened rate, or a fixed one).
        dataset: training pairs (N, d), ``dt`` [s], training trajectories for the rollouts.
        config: settings; see :class:`MetaConfig`.
        store: optional results store; each run is reused from / saved to it.
        keys: one artifact key per law, e.g. ``"rank/<run>/meta/000"`` (with ``store``).
        progress: ``progress("meta-tailor", done, total)`` over all runs.

    Returns:
        One :class:`TailoredLaw` per law, in order.
    """
    if config.select not in ("loss", "rollout"):
        raise ValueError(f"select must be 'loss' or 'rollout', got {config.select!r}")
    if store is not None and (keys is None or len(keys) != len(laws)):
        raise ValueError(f"meta_tailor_laws: a store needs one key per law ({len(laws)}), "
                         f"got {None if keys is None else len(keys)}; pass keys= or no store")
    report = progress or silent
    jobs = [(i, lr, None if store is None else (keys[i] if j == 0 else f"{keys[i]}-r{j}"))
            for i, first in enumerate(inner_lrs) for j, lr in enumerate(config.rates(first))]
    pairs = train_pairs(dataset)
    done: dict[int, list[tuple[MetaRun, float]]] = {}
    for n, (i, lr, key) in enumerate(jobs):
        report("meta-tailor", n, len(jobs))
        g = laws[i].torch_fn()
        run = _meta_run(model, g, pairs, dataset, lr, config, store, key)
        rmse = (_train_rollout(model, run, g, dataset, config, store, key)
                if config.select == "rollout" else math.nan)
        done.setdefault(i, []).append((run, rmse))
    report("meta-tailor", len(jobs), len(jobs))
    return [_kept(laws[i], done[i]) for i in range(len(laws))]


def _kept(law, runs: list[tuple[MetaRun, float]]) -> TailoredLaw:
    """The law's only run, or the run with the best training rollout."""
    run, rmse = runs[0] if len(runs) == 1 else min(runs, key=lambda r: r[1])
    return TailoredLaw(law=law, run=run, train_rollout_rmse=rmse,
                       runs=tuple((r.inner_lr, r.final_train_loss, e) for r, e in runs))


def _meta_run(model, g, pairs, dataset, inner_lr: float, config: MetaConfig, store,
              key: str | None) -> MetaRun:
    """Meta-tailor one law at one inner rate (every outer rate; the lowest loss wins)."""
    import numpy as np

    from noether_search.model import meta_tailor
    from noether_search.store.codecs import RANK_META

    cached = store.load_cached(key, RANK_META) if store is not None else None
    if cached is not None:
        return cached
    x, dxdt = pairs
    runs = [meta_tailor(model, g, x, dxdt, float(dataset.dt), inner_lr, epochs=config.epochs,
                        lr=lr, seed=config.seed) for lr in config.outer_lrs]
    k = min(range(len(runs)), key=lambda k: runs[k].final_train_loss)
    r = runs[k]
    run = MetaRun(model_state=r.model_state, inner_lr=r.inner_lr, g_scale=r.g_scale,
                  final_train_loss=r.final_train_loss,
                  history=np.asarray(r.train_loss_history), outer_lr=config.outer_lrs[k],
                  outer_losses=tuple(q.final_train_loss for q in runs),
                  initial_train_loss=r.initial_train_loss, diverged=r.diverged,
                  seconds=r.seconds)
    if store is not None:
        store.save(key, RANK_META, run)
    return run


def _train_rollout(model, run: MetaRun, g, dataset, config: MetaConfig, store,
                   key: str | None) -> float:
    """Training-trajectory rollout RMSE of a meta-tailored run (stored beside it)."""
    from noether_search.baseline.evaluate import train_rollout_rmse
    from noether_search.store.codecs import RANK_TRAIN_ROLLOUT

    rkey = None if key is None else f"{key}-train-rollout"
    cached = store.load_cached(rkey, RANK_TRAIN_ROLLOUT) if store is not None else None
    if cached is not None:
        return cached
    value = train_rollout_rmse(tailored_field(model, run, g, dataset), dataset, config.horizon)
    if store is not None:
        store.save(rkey, RANK_TRAIN_ROLLOUT, value)
    return value
