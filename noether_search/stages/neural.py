"""``neural``: a Noether Network with a meta-learned conserved embedding, against the baseline,
the control, the symbolic Noether model of ``rank`` and the oracle, on the same test rollouts.

Stages and their store keys (``run = neural/{key}``, ``docs/NEURAL.md``):

1. baseline (:func:`train_baseline`): ``baseline/{hash}``, shared with ``rank``;
2. selection: the training trajectories are split into a fitting and a validation part
   (:func:`split_validation`); a baseline with the same settings is trained on the fitting
   part (``baseline/{hash}`` of that part), and from it, for every inner rate λ, outer rate,
   embedding rate and embedding initialisation of the config, the MLP and the embedding
   (pretrained to be conserved along the fitting part's trajectories,
   :mod:`noether_search.neural.pretrain`, with ``pretrain_epochs`` > 0) are meta-trained on
   the fitting part and rolled out on the validation part, ``{run}/select/{j}``;
3. the setting with the lowest validation RMSE is meta-trained again, from the same initial
   embedding (pretrained on all the training trajectories), on all the training
   trajectories (the data the baseline and the control are trained on): the neural model, ``{run}/final/{j}`` (with ``refit=False`` the validated run
   itself is the neural model);
4. the control (:func:`train_control`): the baseline trained further with the plain task
   loss for the same epochs and outer rates, ``{run}/control/{j}``;
5. the oracle: the known invariant screened and meta-tailored as ``rank`` does it,
   ``{run}/oracle-screen``, ``{run}/oracle[-r{j}]``;
6. test rollouts of baseline, control, neural Noether and oracle, ``{run}/rollouts``; the
   symbolic Noether model's are read from the ``rank`` run of the same store (when it has
   one for the same test trajectories and seed); the linear probe of the known invariant on
   the test states; ``neural.json`` (:meth:`NeuralResult.to_json`).

Nothing is chosen on test data: λ, the outer rate, the embedding's rate and initialisation
by validation rollouts, the epoch by the post-step training loss, the control's rate by
training rollouts (as in ``rank``).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from noether_search.stages._common import Progress, silent
from noether_search.stages.control import Control, train_control
from noether_search.stages.meta import MetaConfig, TailoredLaw
from noether_search.store.codecs import NeuralRun, Rollouts

#: the version of what the settings mean (2: the selection starts from a baseline trained on
#: the fitting part); part of the store key, so runs stored under another are not reused
PROTOCOL = 2

#: the compared models, in table order (``symbolic`` is read from a ``rank`` run)
NEURAL_MODELS = ("baseline", "control", "neural", "symbolic", "oracle")


@dataclass(frozen=True)
class NeuralConfig:
    """Settings of the neural Noether stage (the baseline has its own config)."""

    embed_dim: int = 2        # k: components of the learned embedding g_φ: R^d → R^k
    embed_hidden: int = 64    # width of the embedding's two hidden layers
    epochs: int = 100         # full-batch outer steps (the control gets as many)
    outer_lrs: tuple[float, ...] = (1e-3, 1e-4)  # Adam rates of θ tried (as rank's)
    embed_lrs: tuple[float, ...] = (1e-2, 3e-2)  # Adam rates of φ tried (λ_emb of
    #                           Algorithm 1): φ starts random, θ pre-trained, so φ needs more
    inner_lrs: tuple[float, ...] = (0.1, 0.3, 1.0)  # inner rates λ tried
    inits: int = 1            # embedding initialisations tried per setting (seeds seed,
    #                           seed + 1, …)
    val_fraction: float = 0.15  # share of training trajectories held out for selection
    val_split: str = "outer"  # which: "outer" (those reaching furthest from the training
    #                           states: the rates are chosen on extrapolation) or "last" in
    #                           the data's order
    pretrain_epochs: int = 500  # Adam steps of conservation pretraining of g_φ on the
    #                           training trajectories before meta-training (0: g_φ starts
    #                           random, Algorithm 1 alone); ``noether_search.neural.pretrain``
    pretrain_lr: float = 1e-2  # its Adam rate
    pretrain_flow: float = 0.0  # weight of the flow-alignment loss in that pretraining (the
    #                           squared cosine of ∇g_j with the data's dx/dt; 0: the ratio
    #                           alone); ``noether_search.neural.pretrain.flow_alignment``
    normalise_inputs: bool = False  # the embedding's input standardised by training states
    max_step: float | None = None  # cap ρ on the inner step's relative change of a
    #                           prediction (None: uncapped)
    plain_weight: float = 0.0  # weight of the unadapted predictor's task loss in the outer
    #                           loss (0: Algorithm 1's alone)
    noether_norm: str = "std"  # Noether loss: each component's change over its standard
    #                           deviation ("std") or over its gradient's length at the state
    #                           ("gradient": invariant to a warp h(g_j))
    max_loss_ratio: float | None = None  # choose only among runs whose training loss is at
    #                           most this times the grid's lowest (None: among all)
    refit: bool = True        # retrain the chosen setting on all training trajectories (the
    #                           data the control is trained on); False keeps the validated run
    seed: int = 0             # seed of the baseline, the embedding's initialisation and
    #                           meta-training
    horizon: int | None = None  # rollout steps (None: the dataset's default)

    def key(self, data_hash: str, baseline_key: str) -> str:
        """12 hex digits naming the run (``neural/{key}``) for these settings and inputs (and
        the :data:`PROTOCOL` they are run under)."""
        cfg = asdict(self)
        for name, default in (("plain_weight", 0), ("max_loss_ratio", None),
                              ("pretrain_epochs", 0), ("noether_norm", "std"),
                              ("pretrain_flow", 0.0)):
            if cfg[name] == default:      # added later; at the default, as stored before
                del cfg[name]
        if "pretrain_epochs" not in cfg:  # its rate means nothing without it
            del cfg["pretrain_lr"]
            cfg.pop("pretrain_flow", None)
        blob = json.dumps({"cfg": cfg, "data": data_hash, "baseline": baseline_key,
                           "protocol": PROTOCOL}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def meta_config(self) -> MetaConfig:
        """The settings of the control and the oracle: ``rank``'s, with these epochs, outer
        rates, seed and horizon."""
        return MetaConfig(epochs=self.epochs, outer_lrs=tuple(self.outer_lrs), seed=self.seed,
                          select="rollout", horizon=self.horizon)

    def grid(self) -> list[tuple[float, float, float, int]]:
        """``(inner_lr, outer_lr, embed_lr, embedding seed)`` settings tried in the
        selection."""
        return [(lam, lr, elr, self.seed + i) for lam in self.inner_lrs
                for lr in self.outer_lrs for elr in self.embed_lrs for i in range(self.inits)]


@dataclass(frozen=True, eq=False)
class SymbolicRef:
    """The symbolic Noether model of a ``rank`` run in the same store (test rollouts only).

    Attributes:
        formula: its law (sympy syntax); run_key: the rank run (``rank/{hash}``).
        rmse: test rollout RMSE; rmse_by_step: (H,) RMSE at steps 1..H (SI base units).
        rmse_by_trajectory: (n_test,) RMSE of each test trajectory over steps 1..H.
    """

    formula: str
    run_key: str
    rmse: float
    rmse_by_step: np.ndarray
    rmse_by_trajectory: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class NeuralResult:
    """Everything ``neural`` produced.

    Attributes:
        system, source: the dataset's name and origin.
        config: the settings.
        baseline: the ``BaselineResult`` (the vanilla MLP).
        selection: one :class:`NeuralRun` per setting of ``config.grid()`` (trained on the
            fitting split, ``val_rmse`` on the validation split).
        chosen: the run of ``selection`` with the lowest validation RMSE.
        run: the neural model: ``chosen``'s setting meta-trained on all the training
            trajectories (``chosen`` itself with ``config.refit`` False).
        control: the baseline fine-tuned with the plain task loss.
        oracle: the known invariant meta-tailored (None without one, or when it cannot
            tailor).
        symbolic: ``rank``'s Noether model (None when the store has no matching rank run).
        probe: linear probe of the known invariant on the test states (None without one).
        rollouts: test rollouts of ``baseline``, ``control``, ``neural`` and ``oracle``.
        run_key: the store folder (``neural/{hash}``).
        seconds: wall time per stage.
        embedding: how conserved the learned embedding and the one it started from are on
            the test trajectories, and the latter's probe
            (:func:`noether_search.stages._neural.conservation`; None with one test
            trajectory).
    """

    system: str
    source: str
    config: NeuralConfig
    baseline: object
    selection: tuple[NeuralRun, ...]
    chosen: NeuralRun
    run: NeuralRun
    control: Control
    oracle: TailoredLaw | None
    symbolic: SymbolicRef | None
    probe: object
    rollouts: Rollouts
    run_key: str
    seconds: dict[str, float]
    embedding: dict | None = None

    @property
    def rmse(self) -> dict[str, float | None]:
        """Test rollout RMSE per model of :data:`NEURAL_MODELS` (None: not available)."""
        out = {m: self.rollouts.rmse.get(m) for m in NEURAL_MODELS}
        out["symbolic"] = None if self.symbolic is None else self.symbolic.rmse
        return out

    def models(self, base_model):
        """The neural model as ``(mlp, embedding)`` (eval mode, gradients off)."""
        from noether_search.stages._neural import load_run

        return load_run(base_model, self.run)

    def to_json(self) -> dict:
        """The run's summary (``neural.json``, ``neural --json``)."""
        ro = self.rollouts
        by_step = {m: v.tolist() for m, v in ro.rmse_by_step.items()}
        by_traj = {m: trajectory_rmse(p, ro.true).tolist() for m, p in ro.pred.items()}
        if self.symbolic is not None:
            by_step["symbolic"] = self.symbolic.rmse_by_step.tolist()
            if self.symbolic.rmse_by_trajectory is not None:
                by_traj["symbolic"] = self.symbolic.rmse_by_trajectory.tolist()
        return {
            "system": self.system, "source": self.source,
            **{f"{m}_rmse": v for m, v in self.rmse.items()},
            "probe_r2": None if self.probe is None else self.probe.r2,
            "probe_spearman": None if self.probe is None else _num(self.probe.spearman),
            "embedding": None if self.embedding is None else {
                k: (None if v is None else _num(v)) for k, v in self.embedding.items()},
            "symbolic_formula": None if self.symbolic is None else self.symbolic.formula,
            "symbolic_run_key": None if self.symbolic is None else self.symbolic.run_key,
            "oracle_formula": ro.formula.get("oracle") or None,
            "horizon": ro.horizon["baseline"],
            "chosen": {"inner_lr": self.chosen.inner_lr, "outer_lr": self.chosen.outer_lr,
                       "embed_lr": self.chosen.embed_lr, "embed_seed": self.chosen.embed_seed,
                       "val_rmse": _num(self.chosen.val_rmse),
                       "best_epoch": self.chosen.best_epoch,
                       "train_loss": _num(self.chosen.final_train_loss),
                       "initial_train_loss": _num(self.chosen.initial_train_loss)},
            "final": {"refit": self.run is not self.chosen,
                      "best_epoch": self.run.best_epoch,
                      "train_loss": _num(self.run.final_train_loss),
                      "initial_train_loss": _num(self.run.initial_train_loss)},
            "selection": [{"inner_lr": r.inner_lr, "outer_lr": r.outer_lr,
                           "embed_lr": r.embed_lr, "embed_seed": r.embed_seed,
                           "val_rmse": _num(r.val_rmse), "train_loss": _num(r.final_train_loss)}
                          for r in self.selection],
            "control": self.control.to_json(),
            "rmse_by_step": by_step,
            "rmse_by_trajectory": by_traj,
            "config": asdict(self.config),
            "run_key": self.run_key,
            "stage_seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def trajectory_rmse(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(n_test,) RMSE of each rollout over steps 1..H and the coordinates, from
    (n_test, H+1, d) predicted and true states (step 0 is the shared initial state)."""
    return np.sqrt(((np.asarray(pred)[:, 1:] - np.asarray(true)[:, 1:]) ** 2).mean(axis=(1, 2)))


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def neural(dataset, config: NeuralConfig = NeuralConfig(), store=None,
           progress: Progress | None = None, *, baseline_config=None) -> NeuralResult:
    """Meta-learn a conserved embedding with the MLP and compare it on the test rollouts.

    Args:
        dataset: a ``Dataset`` (``hamiltonian_data.load(...)`` or ``Dataset.from_arrays``)
            with at least one training trajectory of 5 samples or more.
        config: settings; see :class:`NeuralConfig`.
        store: optional ``ResultsStore``: every stage reuses its artifacts and saves new
            ones (an interrupted run resumes), and ``neural.json`` is written; the symbolic
            row is read from a ``rank`` run in it. Without a store nothing touches the disk.
        progress: ``progress(stage, done, total)``.
        baseline_config: the baseline's settings (default: ``rank``'s for this dataset and
            ``config.seed``, so both stages share one baseline).

    Returns:
        :class:`NeuralResult`; ``to_json()`` is the summary.

    Raises:
        ValueError: bad settings, or training data too short to split.
    """
    from noether_search.stages import _neural as steps

    steps.check_config(config)
    report = progress or silent
    seconds: dict[str, float] = {}
    clock = steps.Clock(seconds)
    with clock("baseline"):
        base = steps.baseline(dataset, config, baseline_config, store, report)
    run_key = f"neural/{config.key(dataset.content_hash(), base.key)}"
    with clock("select"):
        selection = steps.select(base, dataset, config, store, run_key, report)
    chosen = steps.best(selection, config.max_loss_ratio)
    with clock("refit"):
        run = steps.refit(base.model, selection, dataset, config, store, run_key, report)
    with clock("control"):
        report("control", 0, 1)
        control = train_control(base.model, dataset, config.meta_config(), store,
                                None if store is None else f"{run_key}/control")
        report("control", 1, 1)
    with clock("oracle"):
        oracle = steps.oracle(base.model, dataset, config, store, run_key, report)
    with clock("evaluate"):
        rollouts = steps.evaluate(base.model, run, control, oracle, dataset, config, store,
                                  run_key, report)
        probe = steps.probe(base.model, run, dataset)
        embedding = steps.conservation(base.model, run, dataset, config)
        symbolic = steps.symbolic(store, rollouts, config.seed)
    result = NeuralResult(system=dataset.name, source=dataset.source, config=config,
                          baseline=base, selection=selection, chosen=chosen, run=run,
                          control=control,
                          oracle=oracle, symbolic=symbolic, probe=probe, rollouts=rollouts,
                          run_key=run_key, seconds=seconds, embedding=embedding)
    if store is not None:
        store.write_json("neural.json", result.to_json())
    return result

#: the stage under the name ``noether_search`` exports it as
neural_noether = neural
