"""The control stage: the baseline trained further with the plain task loss (no tailoring).

It gets what meta-tailoring gets (the same epochs and outer learning rates, trained on the
same fit pairs), and its epoch and rate are chosen by the same rule as the Noether model's:
with a validation set (``val=``, ``Split.val`` of
:func:`~noether_search.stages.validation.split_train`) the epoch by the validation MSE on
dx/dt and the rate by the lowest long-term prediction RMSE on the validation trajectories
(``select="rollout"``) or the lowest validation MSE (``select="loss"``); without one, the
same on the training data. Every outer rate is one store artifact (``{key}/{j}``), so an
interrupted stage resumes rate by rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from noether_search.stages._common import check_store_key, train_pairs
from noether_search.store.codecs import ControlRun


@dataclass(frozen=True, eq=False)
class Control:
    """The control: the run kept and every run tried (one per outer rate, in order)."""

    run: ControlRun
    runs: tuple[ControlRun, ...]

    @property
    def outer_lr(self) -> float:
        return self.run.outer_lr

    def field(self, model):
        """The fine-tuned MLP (a copy of ``model`` with the kept weights), in eval mode."""
        import copy

        tuned = copy.deepcopy(model)
        tuned.load_state_dict(self.run.model_state)
        tuned.eval()
        for p in tuned.parameters():
            p.requires_grad_(False)
        return tuned

    def to_json(self) -> dict:
        def num(v):
            return float(v) if math.isfinite(v) else None

        return {"outer_lr": self.run.outer_lr, "train_loss": num(self.run.final_train_loss),
                "initial_train_loss": num(self.run.initial_train_loss),
                "train_rollout_rmse": num(self.run.train_rollout_rmse),
                "val_loss": num(self.run.val_loss),
                "val_rollout_rmse": num(self.run.val_rollout_rmse),
                "best_epoch": self.run.best_epoch,
                "runs": [{"outer_lr": r.outer_lr, "train_loss": num(r.final_train_loss),
                          "train_rollout_rmse": num(r.train_rollout_rmse),
                          "val_loss": num(r.val_loss),
                          "val_rollout_rmse": num(r.val_rollout_rmse)} for r in self.runs]}


def train_control(model, dataset, config, store=None, key: str | None = None, *,
                  val=None) -> Control:
    """Fine-tune ``model`` with the plain task loss at every outer rate of ``config``.

    Args:
        model: the baseline MLP (not modified).
        dataset: training pairs trained on (and, without ``val``, the trajectories and pairs
            that choose the epoch and rate).
        config: a :class:`~noether_search.stages.meta.MetaConfig` (``epochs``, ``outer_lrs``,
            ``select``, ``horizon``), the meta-tailoring stage's own.
        store: optional results store; each rate's run is reused from / saved to it.
        key: the artifact folder (with ``store``), e.g. ``"rank/<run>/control"``.
        val: a dataset whose training part is held out from ``dataset``'s (``Split.val``);
            it chooses the epoch and the rate.

    Returns:
        :class:`Control`, its kept run chosen by ``config.select``.
    """
    check_store_key(store, key, "train_control")
    if config.select not in ("loss", "rollout"):
        raise ValueError(f"train_control: select must be 'loss' or 'rollout', got "
                         f"{config.select!r}")
    pairs = train_pairs(dataset)
    runs = tuple(_control_run(model, pairs, dataset, lr, config, store,
                              None if store is None else f"{key}/{j}", val)
                 for j, lr in enumerate(config.outer_lrs))

    def score(r: ControlRun) -> float:
        if config.select == "rollout":
            v = r.train_rollout_rmse if val is None else r.val_rollout_rmse
        else:
            v = r.final_train_loss if val is None else r.val_loss
        return v if math.isfinite(v) else math.inf

    return Control(run=min(runs, key=score), runs=runs)


def _control_run(model, pairs, dataset, lr: float, config, store, key, val=None) -> ControlRun:
    """One fine-tuning run (reused from the store when there)."""
    from noether_search.baseline.evaluate import train_rollout_rmse
    from noether_search.model import fine_tune
    from noether_search.store.codecs import RANK_CONTROL

    cached = store.load_cached(key, RANK_CONTROL) if store is not None else None
    if cached is not None:
        return cached
    r = fine_tune(model, *pairs, epochs=config.epochs, lr=float(lr),
                  val=None if val is None else train_pairs(val))
    run = ControlRun(model_state=r.model_state, outer_lr=float(lr),
                     final_train_loss=r.final_train_loss,
                     initial_train_loss=r.initial_train_loss, history=r.train_loss_history,
                     best_epoch=r.best_epoch, diverged=r.diverged, seconds=r.seconds,
                     val_loss=r.final_val_loss)
    if config.select == "rollout":
        field = Control(run, (run,)).field(model)
        name = "train_rollout_rmse" if val is None else "val_rollout_rmse"
        rmse = train_rollout_rmse(field, dataset if val is None else val, config.horizon)
        run = ControlRun(**{**run.__dict__, name: float(rmse)})
    if store is not None:
        store.save(key, RANK_CONTROL, run)
    return run
