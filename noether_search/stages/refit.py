"""Retraining the chosen models on every training trajectory (``rank``'s ``refit``).

Meta-tailoring and the control are trained on the *fit* part of the training data, and the
held-out *validation* part chooses each one's settings: the best law, its inner rate λ and
outer Adam rate, the control's outer rate (``docs/TAILORING.md``). Those settings are then
fixed and the Noether model (the best law), the oracle and the control are trained once more
from the baseline on *all* the training trajectories, as the baseline itself is, so no model
evaluated on the test set has seen less training data than the vanilla MLP. With no
validation part to choose an epoch, each retrained run keeps the epoch of lowest training
loss (the rule of selection on the training data). Artifacts: ``{run_key}/refit/noether``,
``{run_key}/refit/oracle``, ``{run_key}/refit/control/0``; the test rollouts of the
retrained models are ``{run_key}/refit/rollouts`` and ``{run_key}/refit/control/rollouts``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from noether_search.stages.control import Control, train_control
from noether_search.stages.meta import TailoredLaw, meta_tailor_laws


@dataclass(frozen=True, eq=False)
class Refitted:
    """The chosen models retrained on all training trajectories (None where there was none).

    Attributes:
        best: the Noether model's law with its retrained run (a ``RankedLaw``).
        oracle: the oracle with its retrained run (an ``Oracle``).
        control: the control with its retrained run; ``runs`` stay the selection's.
    """

    best: object
    oracle: object
    control: Control


def refit_chosen(model, best, oracle, control: Control, dataset, meta_config, store,
                 run_key: str, report) -> Refitted:
    """Retrain ``best``, ``oracle`` and ``control`` with their chosen settings on ``dataset``.

    Args:
        model: the baseline MLP (not modified).
        best: the chosen ``RankedLaw`` (or None); its ``tailored.run`` gives λ and the
            outer rate.
        oracle: the ``Oracle`` (or None, or one whose screen failed: left as it is).
        control: the chosen control; its ``run.outer_lr`` is kept.
        dataset: the whole dataset (its training part: fit and validation trajectories).
        meta_config: the run's :class:`~noether_search.stages.meta.MetaConfig`.
        store: optional results store (each retrained run is reused from / saved to it).
        run_key: the seed's run folder, ``rank/{hash}``.
        report: ``report(stage, done, total)``.

    Returns:
        :class:`Refitted`; each retrained run carries the validation scores of the run it
        repeats (they chose its settings).
    """
    def key(name: str) -> str | None:
        return None if store is None else f"{run_key}/refit/{name}"

    report("refit", 0, 1)
    if best is not None:
        t = _retailor(model, best.tailored, dataset, meta_config, store, key("noether"))
        best = replace(best, tailored=t, meta_train_loss=t.meta_train_loss,
                       g_scale=t.run.g_scale)
    if oracle is not None and oracle.tailored is not None:
        oracle = replace(oracle, tailored=_retailor(model, oracle.tailored, dataset,
                                                    meta_config, store, key("oracle")))
    chosen = control.run
    cfg = replace(meta_config, outer_lrs=(chosen.outer_lr,), select="loss")
    again = train_control(model, dataset, cfg, store, key("control")).run
    again = replace(again, val_loss=chosen.val_loss, val_rollout_rmse=chosen.val_rollout_rmse)
    report("refit", 1, 1)
    return Refitted(best=best, oracle=oracle, control=Control(run=again, runs=control.runs))


def _retailor(model, chosen: TailoredLaw, dataset, meta_config, store,
              key: str | None) -> TailoredLaw:
    """``chosen``'s law meta-tailored again at its inner and outer rate on ``dataset``."""
    run = chosen.run
    cfg = replace(meta_config, outer_lrs=(run.outer_lr,), select="loss")
    t = meta_tailor_laws(model, [chosen.law], [run.inner_lr], dataset, cfg, store,
                         None if key is None else [key])[0]
    again = replace(t.run, val_loss=run.val_loss)
    return replace(t, run=again, runs=chosen.runs, val_rollout_rmse=chosen.val_rollout_rmse,
                   scheme=chosen.scheme)
