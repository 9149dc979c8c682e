"""Every artifact kind of the results store, one :class:`~noether_search.store.Codec` each.

The on-disk layout of each is described in ``docs/STORE.md``; encoding names and versions are
those of schema 1, so stores written by earlier versions read unchanged.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import h5py
import numpy as np

from dslsearch.enumerate import FormulaTable
from dslsearch.fitting.rows import FitRows
from dslsearch.law import Law
from dslsearch.ops import PAPER_OPS
from noether_search.store.codec import Codec

_STR = h5py.string_dtype()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _strings(values) -> np.ndarray:
    return np.array(list(values), dtype=object)


# -- enumeration and fitting ----------------------------------------------------------------
def _encode_table(f: h5py.File, table: FormulaTable) -> None:
    g = f.create_group("nodes")
    for name in ("op", "a", "b", "size"):
        g.create_dataset(name, data=getattr(table, name), compression="gzip")
    c = f.create_group("candidates")
    c.create_dataset("id", data=table.candidates, compression="gzip")
    c.create_dataset("size", data=table.size[table.candidates], compression="gzip")
    c.create_dataset("expr", data=_strings(table.expr_strings()), dtype=_STR,
                     compression="gzip")


def _table_attrs(table: FormulaTable) -> dict:
    return {"variables": json.dumps([list(v) for v in table.variables]),
            "depth": table.depth,
            "counts_by_size": json.dumps({str(k): v for k, v in table.counts_by_size.items()}),
            "seconds": table.seconds,
            "ops": json.dumps(list(table.ops))}


def _decode_table(f: h5py.File) -> FormulaTable:
    counts = {int(k): int(v) for k, v in json.loads(f.attrs["counts_by_size"]).items()}
    return FormulaTable(
        variables=tuple(tuple(v) for v in json.loads(f.attrs["variables"])),
        depth=int(f.attrs["depth"]), op=f["nodes/op"][()], a=f["nodes/a"][()],
        b=f["nodes/b"][()], size=f["nodes/size"][()], candidates=f["candidates/id"][()],
        counts_by_size=counts, seconds=float(f.attrs["seconds"]),
        # tables written before operator sets existed used the paper's
        ops=tuple(json.loads(f.attrs["ops"])) if "ops" in f.attrs else PAPER_OPS)


#: ``candidates/d{N}``: the enumerated :class:`~dslsearch.enumerate.FormulaTable`.
CANDIDATE_TABLE: Codec[FormulaTable] = Codec("candidate-table", 1, _encode_table,
                                             _decode_table, _table_attrs)

_ROW_ARRAYS = ("candidate_index", "node", "params", "R_true", "R_random", "status")


def _encode_rows(f: h5py.File, rows: FitRows) -> None:
    f.create_dataset("candidate_index", data=rows.candidate_index.astype(np.int64))
    f.create_dataset("node", data=rows.node.astype(np.int64))
    for name in ("params", "R_true", "R_random", "status"):
        f.create_dataset(name, data=getattr(rows, name))
    f.create_dataset("message", data=_strings(rows.message), dtype=_STR)


def _decode_rows(f: h5py.File) -> FitRows:
    arrays = {name: f[name][()] for name in _ROW_ARRAYS}
    return FitRows(**arrays, message=[_text(m) for m in f["message"][()]])


#: ``fits/<key>/shard-{k:05d}``: per-candidate fit results of one shard.
FIT_SHARD: Codec[FitRows] = Codec("fit-shard", 1, _encode_rows, _decode_rows)


@dataclass(frozen=True, eq=False)
class LawRecord:
    """One row of a ``fit-laws`` artifact, before it is joined with its candidate table."""

    node: int
    expr: str
    variants: tuple[str, ...]
    R_true: float
    R_random: float
    params: np.ndarray   # (P_max,) NaN-padded

    def to_law(self, table: FormulaTable | None, variables) -> Law:
        """The :class:`Law`: formula from ``table`` (node id), else parsed from ``expr``."""
        scores = dict(R_true=self.R_true, R_random=self.R_random, variants=self.variants,
                      n_merged=len(self.variants) or 1, node=self.node)
        if table is not None and 0 <= self.node < len(table.op):
            formula = table.formula(self.node)
            return Law(formula, self.params[: formula.n_params], variables, **scores)
        return Law.parse(self.expr, variables, **scores)


def _encode_laws(f: h5py.File, laws: list[Law]) -> None:
    f.create_dataset("node", data=np.asarray([law.node for law in laws], np.int64))
    f.create_dataset("expr", data=_strings(str(law) for law in laws), dtype=_STR)
    f.create_dataset("variants", data=_strings(json.dumps(list(law.variants)) for law in laws),
                     dtype=_STR)
    f.create_dataset("R_true", data=np.asarray([law.R_true for law in laws], np.float64))
    f.create_dataset("R_random", data=np.asarray([law.R_random for law in laws], np.float64))
    p_max = max((law.n_params for law in laws), default=0)
    f.create_dataset("params", data=np.asarray(
        [np.pad(law.params, (0, p_max - law.n_params), constant_values=np.nan)
         for law in laws], np.float64).reshape(len(laws), p_max))


def _decode_laws(f: h5py.File) -> list[LawRecord]:
    return [LawRecord(node=int(f["node"][i]), expr=_text(f["expr"][i]),
                      variants=tuple(json.loads(f["variants"][i])),
                      R_true=float(f["R_true"][i]), R_random=float(f["R_random"][i]),
                      params=np.asarray(f["params"][i], np.float64))
            for i in range(int(f.attrs["n_laws"]))]


#: ``fits/<key>/laws``: the merged laws, best first. Encodes ``list[Law]``, decodes
#: ``list[LawRecord]`` (a law's formula lives in the candidate table: :meth:`LawRecord.to_law`).
FIT_LAWS: Codec = Codec("fit-laws", 1, _encode_laws, _decode_laws,
                        lambda laws: {"n_laws": len(laws)})


def _encode_sums(f: h5py.File, result) -> None:
    for name in ("term_nodes", "term_status", "duplicate_of"):
        f.create_dataset(name, data=getattr(result, name), compression="gzip")
    g = f.create_group("front")
    front = result.front
    g.create_dataset("n_terms", data=np.asarray([p.n_terms for p in front], np.int64))
    for name in ("R_fit", "R_true", "R_random", "penalised"):
        g.create_dataset(name, data=np.asarray([getattr(p, name) for p in front], np.float64))
    g.create_dataset("status", data=np.asarray([p.status for p in front], np.int8))
    g.create_dataset("accepted", data=np.asarray([p.accepted for p in front], bool))
    g.create_dataset("nodes", data=_strings(json.dumps(list(p.nodes)) for p in front),
                     dtype=_STR)
    g.create_dataset("message", data=_strings(p.message for p in front), dtype=_STR)
    g.create_dataset("law", data=_strings(json.dumps(p.law.to_json()) if p.law else ""
                                          for p in front), dtype=_STR)
    g.create_dataset("round", data=np.asarray([p.round for p in front], np.int64))


def _sums_attrs(result) -> dict:
    import dataclasses

    variables = result.laws[0].variables if result.laws else ()
    for p in result.front:
        variables = variables or (p.law.variables if p.law else ())
    return {"config": json.dumps(dataclasses.asdict(result.config), sort_keys=True),
            "variables": json.dumps([list(v) for v in variables]), "chosen": result.chosen,
            "n_library": result.n_library, "seconds": result.seconds,
            "law_points": json.dumps(list(result.law_points))}


def _decode_sums(f: h5py.File):
    from dslsearch.sums import FrontPoint, SumsConfig, SumsResult

    variables = tuple(tuple(v) for v in json.loads(f.attrs["variables"]))
    g = f["front"]
    front = []
    for i in range(len(g["n_terms"])):
        text = _text(g["law"][i])
        law = Law.from_json(json.loads(text), variables) if text else None
        front.append(FrontPoint(
            n_terms=int(g["n_terms"][i]), nodes=tuple(json.loads(_text(g["nodes"][i]))),
            R_fit=float(g["R_fit"][i]), law=law, R_true=float(g["R_true"][i]),
            R_random=float(g["R_random"][i]), penalised=float(g["penalised"][i]),
            status=int(g["status"][i]), message=_text(g["message"][i]),
            accepted=bool(g["accepted"][i]),
            round=int(g["round"][i]) if "round" in g else 0))
    chosen = int(f.attrs["chosen"])
    points = json.loads(f.attrs["law_points"]) if "law_points" in f.attrs else (
        [chosen] if chosen >= 0 else [])
    return SumsResult(laws=[front[i].law for i in points], front=tuple(front),
                      law_points=tuple(points),
                      chosen=chosen, term_nodes=f["term_nodes"][()],
                      term_status=f["term_status"][()], duplicate_of=f["duplicate_of"][()],
                      n_library=int(f.attrs["n_library"]),
                      # written before quotient terms existed: none were built; before the
                      # node-weighted beam: none ran
                      config=SumsConfig(**{"scale_size": 0, "node_weight": 0.0,
                                           **json.loads(f.attrs["config"])}),
                      seconds=float(f.attrs["seconds"]))


#: ``fits/<key>/sums-<hash>``: the sum-of-terms search (:class:`~dslsearch.sums.SumsResult`):
#: every term's status, the Pareto front with each point's law as JSON, the chosen point.
FIT_SUMS: Codec = Codec("fit-sums", 1, _encode_sums, _decode_sums, _sums_attrs)


# -- baseline -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BaselineRecord:
    """A stored baseline MLP.

    Attributes:
        state: the MLP's ``state_dict`` as float32 arrays.
        config: the ``BaselineConfig`` as sorted-key JSON.
        data_hash: the dataset's ``content_hash()``.
        seed: torch seed of the initialisation.
        dim: state dimension d.
        dataset_name: the dataset's name (informational).
        metrics: ``deriv_mse_train``, ``deriv_mse_test``, ``train_seconds``.
    """

    state: dict[str, np.ndarray]
    config: str
    data_hash: str
    seed: int
    dim: int
    dataset_name: str
    metrics: dict


def _encode_baseline(f: h5py.File, rec: BaselineRecord) -> None:
    weights = f.create_group("weights")
    weights.attrs["encoding-type"] = "state-dict"
    weights.attrs["encoding-version"] = 1
    for name, array in rec.state.items():
        weights.create_dataset(name, data=array)


def _baseline_attrs(rec: BaselineRecord) -> dict:
    return {"config": rec.config, "data_hash": rec.data_hash, "seed": rec.seed,
            "dim": rec.dim, "dataset_name": rec.dataset_name,
            "metrics": json.dumps(rec.metrics)}


def _decode_baseline(f: h5py.File) -> BaselineRecord:
    state = {name: np.array(ds[()]) for name, ds in f["weights"].items()}
    return BaselineRecord(state=state, config=_text(f.attrs["config"]),
                          data_hash=_text(f.attrs["data_hash"]), seed=int(f.attrs["seed"]),
                          dim=int(f.attrs["dim"]), dataset_name=_text(f.attrs["dataset_name"]),
                          metrics=json.loads(f.attrs["metrics"]))


#: ``baseline/<hash>``: a trained vanilla MLP with its config and metrics.
BASELINE: Codec[BaselineRecord] = Codec("baseline", 1, _encode_baseline, _decode_baseline,
                                        _baseline_attrs)


# -- rank -----------------------------------------------------------------------------------
#
# Records of the rank stages (``rank/{key}/...``). The laws themselves are not stored here: a
# screen table is aligned with the fit stage's laws by position and names each by its text.


@dataclass(frozen=True, eq=False)
class ScreenTable:
    """The one-step tailoring screen of n laws over K inner learning rates.

    Attributes:
        expr: (n,) each law's formula text (sympy syntax with its numbers).
        best_lr: (n,) inner learning rate with the lowest loss (nan: every rate failed).
        best_loss: (n,) training MSE on dx/dt after one inner step at ``best_lr``
            [(state units / s)²]; inf when the law failed.
        gain: (n,) ``baseline_loss − best_loss`` (> 0: the law helps in one step).
        g_scale: (n,) standard deviation of the law on the training states.
        loss_by_lr: (n, K) the loss at every rate of the grid (not read back by older
            versions of the stage; zeros (0, 9) when there are no laws).
        baseline_loss: training MSE of the untailored model (nan when there are no laws).
    """

    expr: tuple[str, ...]
    best_lr: np.ndarray
    best_loss: np.ndarray
    gain: np.ndarray
    g_scale: np.ndarray
    loss_by_lr: np.ndarray
    baseline_loss: float


def _encode_screen(f, table: ScreenTable) -> None:
    import h5py

    f.create_dataset("expr", data=np.array(list(table.expr), dtype=object),
                     dtype=h5py.string_dtype())
    for name in ("best_lr", "best_loss", "gain", "g_scale"):
        f.create_dataset(name, data=np.asarray(getattr(table, name), dtype=float))
    f.create_dataset("loss_by_lr", data=table.loss_by_lr)


def _decode_screen(f) -> ScreenTable:
    expr = tuple(e.decode() if isinstance(e, bytes) else str(e) for e in f["expr"][()])
    loss_by_lr = f["loss_by_lr"][()] if "loss_by_lr" in f else np.zeros((len(expr), 0))
    return ScreenTable(expr=expr, best_lr=f["best_lr"][()], best_loss=f["best_loss"][()],
                       gain=f["gain"][()], g_scale=f["g_scale"][()], loss_by_lr=loss_by_lr,
                       baseline_loss=float(f.attrs["baseline_loss"]))


#: ``rank/{key}/screen``: the screen of every law of the fit stage, in the fit stage's order
RANK_SCREEN: Codec[ScreenTable] = Codec(
    "rank-screen", 1, _encode_screen, _decode_screen,
    attrs=lambda table: {"baseline_loss": float(table.baseline_loss)})


@dataclass(frozen=True, eq=False)
class MetaRun:
    """One meta-tailoring run of one law at one inner learning rate.

    Attributes:
        model_state: state dict of the meta-tailored MLP (float32 tensors).
        inner_lr: inner (tailoring) learning rate λ.
        g_scale: the law's scale s used in the conservation loss.
        final_train_loss: post-step training MSE on dx/dt of ``model_state`` [(units/s)²];
            inf when training diverged.
        history: (epochs,) post-step training MSE after each epoch.
        outer_lr: the outer Adam rate whose run was kept (nan if not recorded).
        outer_losses: ``final_train_loss`` of the run at every outer rate tried.
        initial_train_loss: post-step training MSE of the input model.
        diverged: whether the kept run stopped on a non-finite loss.
        seconds: wall time of the kept run.
        val_loss: post-step MSE on dx/dt of ``model_state`` on the validation pairs, which
            chose the kept epoch and outer rate (nan: no validation split; encoding
            version 1 files have none and chose both by training loss).
        outer_val_losses: ``val_loss`` of the run at every outer rate tried.
    """

    model_state: dict
    inner_lr: float
    g_scale: float
    final_train_loss: float
    history: np.ndarray
    outer_lr: float = math.nan
    outer_losses: tuple[float, ...] = ()
    initial_train_loss: float = math.nan
    diverged: bool = False
    seconds: float = math.nan
    val_loss: float = math.nan
    outer_val_losses: tuple[float, ...] = ()


def _encode_meta(f, run: MetaRun) -> None:
    grp = f.create_group("model_state")
    for name, tensor in run.model_state.items():
        grp.create_dataset(name, data=tensor.detach().cpu().numpy())
    f.create_dataset("train_loss_history", data=np.asarray(run.history))


def _decode_meta(f) -> MetaRun:
    import torch

    a = f.attrs
    state = {name: torch.as_tensor(f["model_state"][name][()]) for name in f["model_state"]}
    return MetaRun(model_state=state, inner_lr=float(a["inner_lr"]),
                   g_scale=float(a["g_scale"]), final_train_loss=float(a["final_train_loss"]),
                   history=f["train_loss_history"][()],
                   outer_lr=float(a.get("outer_lr", math.nan)),
                   outer_losses=tuple(json.loads(a.get("outer_losses", "[]"))),
                   initial_train_loss=float(a.get("initial_train_loss", math.nan)),
                   diverged=bool(a.get("diverged", False)), seconds=float(a.get("seconds", math.nan)),
                   val_loss=float(a.get("val_loss", math.nan)),
                   outer_val_losses=tuple(json.loads(a.get("outer_val_losses", "[]"))))


def _meta_attrs(run: MetaRun) -> dict:
    return {"inner_lr": run.inner_lr, "outer_lr": run.outer_lr,
            "outer_losses": json.dumps(list(run.outer_losses)), "g_scale": run.g_scale,
            "final_train_loss": run.final_train_loss,
            "initial_train_loss": run.initial_train_loss, "diverged": run.diverged,
            "seconds": run.seconds, "val_loss": run.val_loss,
            "outer_val_losses": json.dumps(list(run.outer_val_losses))}


#: ``rank/{key}/meta/{k:03d}[-r{j}]`` and ``.../meta/oracle[-r{j}]``: one meta-tailored law.
#: Version 2 adds the validation loss that chose the kept epoch and outer rate (version 1
#: files read with it nan).
RANK_META: Codec[MetaRun] = Codec("rank-meta", 2, _encode_meta, _decode_meta, attrs=_meta_attrs)

#: ``{meta key}-train-rollout``: training-trajectory rollout RMSE of a meta-tailored law (a
#: float, stored as the root attribute ``rmse``; the file holds no datasets)
RANK_TRAIN_ROLLOUT: Codec[float] = Codec(
    "rank-train-rollout", 1, lambda f, value: None, lambda f: float(f.attrs["rmse"]),
    attrs=lambda value: {"rmse": float(value)})



@dataclass(frozen=True, eq=False)
class ControlRun:
    """The control at one outer learning rate: the baseline fine-tuned with the plain task loss.

    Attributes:
        model_state: state dict of the fine-tuned MLP (float32 tensors).
        outer_lr: the Adam learning rate.
        final_train_loss: training MSE on dx/dt of ``model_state`` [(units/s)²]; inf when
            training diverged.
        initial_train_loss: the same for the baseline.
        history: (epochs,) training MSE after each epoch.
        train_rollout_rmse: long-term prediction RMSE on the training trajectories (nan when
            the run selects by loss).
        best_epoch: the epoch whose state was kept (0 = the baseline's weights).
        diverged: whether training stopped on a non-finite loss.
        seconds: wall time of the run.
        val_loss: MSE on dx/dt of ``model_state`` on the validation pairs, which chose the
            kept epoch (nan: no validation split; encoding version 1 files have none).
        val_rollout_rmse: long-term prediction RMSE on the validation trajectories (nan
            without a validation split or when the run selects by loss).
    """

    model_state: dict
    outer_lr: float
    final_train_loss: float
    initial_train_loss: float
    history: np.ndarray
    train_rollout_rmse: float = math.nan
    best_epoch: int = 0
    diverged: bool = False
    seconds: float = math.nan
    val_loss: float = math.nan
    val_rollout_rmse: float = math.nan


def _encode_control(f, run: ControlRun) -> None:
    grp = f.create_group("model_state")
    for name, tensor in run.model_state.items():
        grp.create_dataset(name, data=tensor.detach().cpu().numpy())
    f.create_dataset("train_loss_history", data=np.asarray(run.history, dtype=float))


def _decode_control(f) -> ControlRun:
    import torch

    a = f.attrs
    state = {name: torch.as_tensor(f["model_state"][name][()]) for name in f["model_state"]}
    return ControlRun(model_state=state, outer_lr=float(a["outer_lr"]),
                      final_train_loss=float(a["final_train_loss"]),
                      initial_train_loss=float(a["initial_train_loss"]),
                      history=f["train_loss_history"][()],
                      train_rollout_rmse=float(a["train_rollout_rmse"]),
                      best_epoch=int(a["best_epoch"]), diverged=bool(a["diverged"]),
                      seconds=float(a["seconds"]), val_loss=float(a.get("val_loss", math.nan)),
                      val_rollout_rmse=float(a.get("val_rollout_rmse", math.nan)))


def _control_attrs(run: ControlRun) -> dict:
    return {"outer_lr": run.outer_lr, "final_train_loss": run.final_train_loss,
            "initial_train_loss": run.initial_train_loss,
            "train_rollout_rmse": run.train_rollout_rmse, "best_epoch": run.best_epoch,
            "diverged": run.diverged, "seconds": run.seconds, "val_loss": run.val_loss,
            "val_rollout_rmse": run.val_rollout_rmse}


#: ``rank/{key}/control/{j}``: the control (plain fine-tuning) at the j-th outer rate.
#: Version 2 adds the validation loss and rollout RMSE (version 1 files read with them nan).
RANK_CONTROL: Codec[ControlRun] = Codec("rank-control", 2, _encode_control, _decode_control,
                                        attrs=_control_attrs)

@dataclass(frozen=True, eq=False)
class Rollouts:
    """Test-set rollouts of the compared models (``rank/{key}/rollouts``).

    Attributes:
        t: (H+1,) times [s] since the initial state.
        true: (n_test, H+1, d) true states, SI base units.
        pred: model name (``baseline``, ``noether``, ``oracle``) -> (n_test, H+1, d).
        rmse_by_step: model name -> (H,) RMSE at steps 1..H (SI base units).
        rmse: model name -> overall RMSE.
        formula: model name -> conservation law used (``""`` for the baseline).
        horizon: model name -> H, the number of integration steps.
    """

    t: np.ndarray
    true: np.ndarray
    pred: dict[str, np.ndarray]
    rmse_by_step: dict[str, np.ndarray]
    rmse: dict[str, float]
    formula: dict[str, str]
    horizon: dict[str, int] = field(default_factory=dict)


def _encode_rollouts(f, ro: Rollouts) -> None:
    models = f.create_group("models")
    f.create_dataset("true", data=ro.true)
    f.create_dataset("t", data=ro.t)
    for name in ro.pred:
        g = models.create_group(name)
        g.attrs["rmse"] = ro.rmse[name]
        g.attrs["horizon"] = ro.horizon[name]
        g.attrs["formula"] = ro.formula[name]
        g.create_dataset("rmse_by_step", data=ro.rmse_by_step[name])
        g.create_dataset("pred", data=ro.pred[name])


def _decode_rollouts(f) -> Rollouts:
    pred, by_step, rmse, formula, horizon = {}, {}, {}, {}, {}
    for name in f["models"]:
        g = f["models"][name]
        pred[name] = np.asarray(g["pred"][()], dtype=float)
        by_step[name] = np.asarray(g["rmse_by_step"][()], dtype=float)
        rmse[name] = float(g.attrs["rmse"])
        text = g.attrs.get("formula", "")
        formula[name] = text.decode() if isinstance(text, bytes) else str(text)
        horizon[name] = int(g.attrs.get("horizon", len(by_step[name])))
    return Rollouts(t=np.asarray(f["t"][()], dtype=float),
                    true=np.asarray(f["true"][()], dtype=float), pred=pred,
                    rmse_by_step=by_step, rmse=rmse, formula=formula, horizon=horizon)


#: ``rank/{key}/rollouts``: test rollouts of baseline, Noether and oracle models;
#: ``rank/{key}/control/rollouts``: those of the control (model ``"control"``)
RANK_ROLLOUTS: Codec[Rollouts] = Codec("rank-rollouts", 1, _encode_rollouts, _decode_rollouts)


# -- neural Noether networks ----------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class NeuralRun:
    """One meta-training run of a Noether Network with a learned embedding.

    Attributes:
        model_state: state dict of the meta-trained MLP (float32 tensors).
        embed_state: state dict of the meta-trained embedding g_φ.
        embed_dim, embed_hidden: the embedding's output dimension k and hidden width.
        inner_lr: λ of the inner step; outer_lr: Adam rate of θ; embed_lr: Adam rate of φ.
        scale: (k,) component scales of g_φ on the states it was trained on.
        final_train_loss: post-step training MSE on dx/dt of the kept state [(units/s)²].
        initial_train_loss: the same at the start (baseline θ, initial φ).
        history: (epochs,) post-step training MSE after each epoch.
        best_epoch: the epoch whose state was kept (0 = the start).
        val_rmse: rollout RMSE on the validation trajectories.
        diverged: whether training stopped on a non-finite loss.
        seconds: wall time of the run.
        embed_seed: the seed of the embedding's initialisation.
    """

    model_state: dict
    embed_state: dict
    embed_dim: int
    embed_hidden: int
    inner_lr: float
    outer_lr: float
    embed_lr: float
    scale: np.ndarray
    final_train_loss: float
    initial_train_loss: float
    history: np.ndarray
    best_epoch: int = 0
    val_rmse: float = math.nan
    diverged: bool = False
    seconds: float = math.nan
    embed_seed: int = 0


def _encode_neural(f, run: NeuralRun) -> None:
    for group, state in (("model_state", run.model_state), ("embed_state", run.embed_state)):
        grp = f.create_group(group)
        for name, tensor in state.items():
            grp.create_dataset(name, data=tensor.detach().cpu().numpy())
    f.create_dataset("scale", data=np.asarray(run.scale, dtype=np.float64))
    f.create_dataset("train_loss_history", data=np.asarray(run.history, dtype=float))


def _decode_neural(f) -> NeuralRun:
    import torch

    a = f.attrs

    def state(group: str) -> dict:
        return {name: torch.as_tensor(f[group][name][()]) for name in f[group]}

    return NeuralRun(model_state=state("model_state"), embed_state=state("embed_state"),
                     embed_dim=int(a["embed_dim"]), embed_hidden=int(a["embed_hidden"]),
                     inner_lr=float(a["inner_lr"]), outer_lr=float(a["outer_lr"]),
                     embed_lr=float(a["embed_lr"]), scale=f["scale"][()],
                     final_train_loss=float(a["final_train_loss"]),
                     initial_train_loss=float(a["initial_train_loss"]),
                     history=f["train_loss_history"][()], best_epoch=int(a["best_epoch"]),
                     val_rmse=float(a["val_rmse"]), diverged=bool(a["diverged"]),
                     seconds=float(a["seconds"]), embed_seed=int(a["embed_seed"]))


def _neural_attrs(run: NeuralRun) -> dict:
    return {"embed_dim": run.embed_dim, "embed_hidden": run.embed_hidden,
            "inner_lr": run.inner_lr, "outer_lr": run.outer_lr, "embed_lr": run.embed_lr,
            "final_train_loss": run.final_train_loss,
            "initial_train_loss": run.initial_train_loss, "best_epoch": run.best_epoch,
            "val_rmse": run.val_rmse, "diverged": run.diverged, "seconds": run.seconds,
            "embed_seed": run.embed_seed}


#: ``neural/{key}/select/{j}``: one setting (inner rate, outer rate, embedding seed)
#: meta-trained on the fitting split and scored on the validation split
NEURAL_RUN: Codec[NeuralRun] = Codec("neural-run", 1, _encode_neural, _decode_neural,
                                     attrs=_neural_attrs)
# -- pixel pendulum (video) -----------------------------------------------------------------
def _encode_video_seed(f, run) -> None:
    for metric, by_method in run.metrics.items():
        for method, values in by_method.items():
            f.create_dataset(f"metrics/{metric}/{method}", data=np.asarray(values, float))
    f.create_dataset("strip/true", data=run.strip_true, compression="gzip")
    for method, frames in run.strip_pred.items():
        f.create_dataset(f"strip/{method}", data=frames, compression="gzip")
    for phase, curve in run.val_mse.items():
        f.create_dataset(f"val_mse/{phase}", data=np.asarray(curve, float))
    f.create_dataset("inner_lr_val", data=np.asarray(run.inner_lr_val, float))


def _video_seed_attrs(run) -> dict:
    return {"seed": run.seed, "seconds": run.seconds, "best_epoch": json.dumps(run.best_epoch),
            "inner_lr": run.inner_lr}


def _decode_video_seed(f):
    from noether_search.video.results import SeedRun

    metrics = {m: {k: f["metrics"][m][k][()] for k in f["metrics"][m]} for m in f["metrics"]}
    strip = {k: f["strip"][k][()] for k in f["strip"] if k != "true"}
    return SeedRun(seed=int(f.attrs["seed"]), metrics=metrics, strip_true=f["strip/true"][()],
                   strip_pred=strip, val_mse={k: f["val_mse"][k][()] for k in f["val_mse"]},
                   best_epoch={k: int(v) for k, v in json.loads(f.attrs["best_epoch"]).items()},
                   seconds=float(f.attrs["seconds"]), inner_lr=float(f.attrs["inner_lr"]),
                   inner_lr_val=f["inner_lr_val"][()])


#: ``video/{config hash}/seed-{s}``: one seed of the pixel-pendulum experiment
#: (:class:`noether_search.video.SeedRun`); ``video/{config hash}/config`` holds the settings
VIDEO_SEED: Codec = Codec("video-seed", 1, _encode_video_seed, _decode_video_seed,
                          attrs=_video_seed_attrs)

def _decode_video_config(f):
    from noether_search.video.config import VideoConfig

    return VideoConfig.from_json(json.loads(f.attrs["config"]))


#: ``video/{config hash}/config``: the :class:`noether_search.video.VideoConfig` as JSON
#: (root attribute ``config``; the file holds no datasets)
VIDEO_CONFIG: Codec = Codec(
    "video-config", 1, lambda f, cfg: None, _decode_video_config,
    attrs=lambda cfg: {"config": json.dumps(cfg.to_json(), sort_keys=True)})


# -- the finished fit -----------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FitOutcome:
    """What a ``fit`` command reported, as stored (``fits/<key>/result-<hash>``).

    Attributes:
        laws: every reported law, best first, with its evidence, constants' intervals and the
            search that found it (:class:`~dslsearch.law.Law`).
        basis: indices into ``laws`` of the independent laws, simplest first (empty when the
            basis was not computed: ``n_independent`` is then -1).
        n_independent: number of independent invariants (-1: not computed).
        near_misses: indices into ``laws`` of laws that only approximate a better law.
        search: ``"exhaustive"``, ``"sums"`` or ``"both"``; test: the acceptance test.
        n_candidates, n_fitted, n_failed, n_trivial, n_survivors: the exhaustive search's
            counts (zeros with ``search="sums"``).
        n_sum_laws: laws of the sum search before merging; seconds: wall time of the fit.
    """

    laws: tuple[Law, ...]
    basis: tuple[int, ...]
    n_independent: int
    near_misses: tuple[int, ...]
    search: str
    test: str
    n_candidates: int
    n_fitted: int
    n_failed: int
    n_trivial: int
    n_survivors: int
    n_sum_laws: int
    seconds: float

    @property
    def independent(self) -> tuple[Law, ...]:
        """The independent laws (``laws[i]`` for ``i`` in ``basis``)."""
        return tuple(self.laws[i] for i in self.basis)


_OUTCOME_INTS = ("n_independent", "n_candidates", "n_fitted", "n_failed", "n_trivial",
                 "n_survivors", "n_sum_laws")


def _encode_outcome(f: h5py.File, outcome: FitOutcome) -> None:
    f.create_dataset("laws", data=_strings(json.dumps(law.to_json())
                                           for law in outcome.laws), dtype=_STR)
    f.create_dataset("basis", data=np.asarray(outcome.basis, np.int64))
    f.create_dataset("near_misses", data=np.asarray(outcome.near_misses, np.int64))


def _outcome_attrs(outcome: FitOutcome) -> dict:
    variables = outcome.laws[0].variables if outcome.laws else ()
    return {"variables": json.dumps([list(v) for v in variables]), "search": outcome.search,
            "test": outcome.test, "seconds": outcome.seconds, "n_laws": len(outcome.laws),
            **{k: int(getattr(outcome, k)) for k in _OUTCOME_INTS}}


def _decode_outcome(f: h5py.File) -> FitOutcome:
    variables = tuple(tuple(v) for v in json.loads(f.attrs["variables"]))
    laws = tuple(Law.from_json(json.loads(_text(t)), variables) for t in f["laws"][()])
    return FitOutcome(laws=laws, basis=tuple(int(i) for i in f["basis"][()]),
                      near_misses=tuple(int(i) for i in f["near_misses"][()]),
                      search=_text(f.attrs["search"]), test=_text(f.attrs["test"]),
                      seconds=float(f.attrs["seconds"]),
                      **{k: int(f.attrs[k]) for k in _OUTCOME_INTS})


#: ``fits/<key>/result-<hash>``: the laws a ``fit`` reported (both searches merged, with
#: evidence and intervals) and its independent basis (:class:`FitOutcome`).
FIT_RESULT: Codec[FitOutcome] = Codec("fit-result", 1, _encode_outcome, _decode_outcome,
                                      _outcome_attrs)
