"""The meta-tailoring stage: train the MLP through the tailoring step of each kept law.

Each law is meta-tailored at its screened inner rate, and with ``select="rollout"`` also at
:data:`ROLLOUT_RATES`; the run kept per law is the one with the lowest long-term prediction
RMSE on the *validation* trajectories when a validation set is passed (``val=``, held out
from the training pairs by :func:`~noether_search.stages.validation.split_train`), else on
the training trajectories (``select="loss"``: its only run). With a validation set, the
validation loss also chooses each run's kept epoch and outer rate. Every run is one store
artifact (``{key}``, ``{key}-r{j}``), so an interrupted stage resumes run by run.
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
    scheme: str = "central"   # finite-difference scheme of the conservation loss ("forward":
    #                           the paper's Euler step, docs/TAILORING.md)

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
            trajectories (SI base units; nan with ``select="loss"`` or a validation set).
        runs: ``(inner_lr, final_train_loss, rollout RMSE)`` of every run tried, the RMSE
            being the one selection used (validation, else training trajectories).
        val_rollout_rmse: the same on the validation trajectories (nan without them or
            with ``select="loss"``).
    """

    law: object
    run: MetaRun
    train_rollout_rmse: float
    runs: tuple[tuple[float, float, float], ...]
    val_rollout_rmse: float = math.nan
    scheme: str = "central"

    @property
    def meta_val_loss(self) -> float:
        """Post-step validation MSE on dx/dt [(state units / s)²] (nan: no validation set)."""
        return self.run.val_loss

    @property
    def inner_lr(self) -> float:
        return self.run.inner_lr

    @property
    def meta_train_loss(self) -> float:
        """Post-step training MSE on dx/dt [(state units / s)²]."""
        return self.run.final_train_loss

    def field(self, model, dataset):
        """The meta-tailored model as a tailored vector field (B, d) -> (B, d)."""
        return tailored_field(model, self.run, self.law.torch_fn(), dataset, self.scheme)


def tailored_field(model, run: MetaRun, g, dataset, scheme: str = "central"):
    """``run``'s weights loaded into a copy of ``model``, tailoring with ``g`` per query."""
    import copy

    from noether_search.model import TailoredField

    tuned = copy.deepcopy(model)
    tuned.load_state_dict(run.model_state)
    tuned.eval()
    return TailoredField(tuned, g, float(dataset.dt), run.inner_lr, run.g_scale,
                         scheme=scheme)


def meta_tailor_laws(model, laws: Sequence, inner_lrs: Sequence[float], dataset,
                     config: MetaConfig = MetaConfig(), store=None,
                     keys: Sequence[str] | None = None,
                     progress: Progress | None = None, *, val=None) -> list[TailoredLaw]:
    """Meta-tailor ``model`` with each law, keeping per law the run chosen by ``config.select``.

    Args:
        model: the baseline MLP (not modified; each run trains a copy).
        laws: the laws (anything with ``torch_fn()``).
        inner_lrs: each law's first inner rate λ (its screened rate, or a fixed one).
        dataset: training pairs (N, d) trained on, ``dt`` [s], and (without ``val``) the
            training trajectories of the selection rollouts.
        val: a dataset whose training part is held out from ``dataset``'s (``Split.val``):
            its pairs choose each run's epoch and outer rate, its trajectories the inner
            rate (``select="rollout"``); None: all choices on ``dataset``'s training data.
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
    vpairs = None if val is None else train_pairs(val)
    done: dict[int, list[tuple[MetaRun, float]]] = {}
    for n, (i, lr, key) in enumerate(jobs):
        report("meta-tailor", n, len(jobs))
        g = laws[i].torch_fn()
        run = _meta_run(model, g, pairs, dataset, lr, config, store, key, vpairs)
        rmse = (_train_rollout(model, run, g, dataset if val is None else val, config, store,
                               key, "train" if val is None else "val")
                if config.select == "rollout" else math.nan)
        done.setdefault(i, []).append((run, rmse))
    report("meta-tailor", len(jobs), len(jobs))
    return [_kept(laws[i], done[i], val is not None, config.scheme)
            for i in range(len(laws))]


def _kept(law, runs: list[tuple[MetaRun, float]], on_val: bool,
          scheme: str = "central") -> TailoredLaw:
    """The law's only run, or the run with the best selection rollout."""
    run, rmse = runs[0] if len(runs) == 1 else min(runs, key=lambda r: _finite(r[1]))
    return TailoredLaw(law=law, run=run, train_rollout_rmse=math.nan if on_val else rmse,
                       val_rollout_rmse=rmse if on_val else math.nan,
                       runs=tuple((r.inner_lr, r.final_train_loss, e) for r, e in runs),
                       scheme=scheme)


def _finite(value: float) -> float:
    """``value``, with nan ranked last (as inf)."""
    return math.inf if math.isnan(value) else value


def _meta_run(model, g, pairs, dataset, inner_lr: float, config: MetaConfig, store,
              key: str | None, vpairs=None) -> MetaRun:
    """Meta-tailor one law at one inner rate (every outer rate; the lowest validation loss
    wins, or training loss without validation pairs)."""
    import numpy as np

    from noether_search.model import meta_tailor
    from noether_search.store.codecs import RANK_META

    cached = store.load_cached(key, RANK_META) if store is not None else None
    if cached is not None:
        return cached
    x, dxdt = pairs
    runs = [meta_tailor(model, g, x, dxdt, float(dataset.dt), inner_lr, epochs=config.epochs,
                        lr=lr, seed=config.seed, val=vpairs, scheme=config.scheme)
            for lr in config.outer_lrs]

    def score(q) -> float:
        return q.final_train_loss if vpairs is None else _finite(q.final_val_loss)

    k = min(range(len(runs)), key=lambda k: score(runs[k]))
    r = runs[k]
    run = MetaRun(model_state=r.model_state, inner_lr=r.inner_lr, g_scale=r.g_scale,
                  final_train_loss=r.final_train_loss,
                  history=np.asarray(r.train_loss_history), outer_lr=config.outer_lrs[k],
                  outer_losses=tuple(q.final_train_loss for q in runs),
                  initial_train_loss=r.initial_train_loss, diverged=r.diverged,
                  seconds=r.seconds, val_loss=r.final_val_loss,
                  outer_val_losses=tuple(q.final_val_loss for q in runs))
    if store is not None:
        store.save(key, RANK_META, run)
    return run


def _train_rollout(model, run: MetaRun, g, dataset, config: MetaConfig, store,
                   key: str | None, part: str = "train") -> float:
    """Rollout RMSE of a meta-tailored run on ``dataset``'s training trajectories (the
    validation set's with ``part="val"``), stored beside the run (``{key}-{part}-rollout``)."""
    from noether_search.baseline.evaluate import train_rollout_rmse
    from noether_search.store.codecs import RANK_TRAIN_ROLLOUT

    rkey = None if key is None else f"{key}-{part}-rollout"
    cached = store.load_cached(rkey, RANK_TRAIN_ROLLOUT) if store is not None else None
    if cached is not None:
        return cached
    value = train_rollout_rmse(tailored_field(model, run, g, dataset, config.scheme), dataset,
                               config.horizon)
    if store is not None:
        store.save(rkey, RANK_TRAIN_ROLLOUT, value)
    return value
