"""``rank`` end to end: enumerate → fit/filter → baseline → tailoring screen → meta-tailoring
→ evaluation, every stage reusing what the results store already holds.

Stages and their store keys (``docs/STORE.md``):

1. candidates and fits: :func:`noether_search.stages.fit_laws` (``candidates/d{N}``,
   ``fits/…``);
2. baseline: :func:`noether_search.stages.train_baseline` (``baseline/{hash}``);
3. screen: every surviving law as a one-step tailoring loss at each inner learning rate
   (``rank/{key}/screen``);
4. meta-tailoring of the best ``top`` laws and of the oracle (``rank/{key}/meta/{k}``, one
   artifact per law, so an interrupted run resumes law by law);
5. evaluation: rollouts of baseline, Noether (best law by *training* loss) and oracle models
   (``rank/{key}/rollouts``) and ``summary.json``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

RANK_ENCODING_VERSION = 1
#: inner rates tried besides the screen's best when select="rollout"
ROLLOUT_RATES = (1e-2, 1e-1, 1.0)

#: progress callback: (stage name, done, total)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class RankConfig:
    """Settings of the ranking stages (fitting and baseline have their own configs)."""

    depth: int = 7            # maximum formula size (nodes)
    top: int = 20             # laws kept after the screen and meta-tailored
    epochs: int = 100         # meta-tailoring epochs (full-batch outer steps)
    outer_lrs: tuple[float, ...] = (1e-3, 1e-4)  # Adam learning rates tried per law; the
    #                           lowest post-step *training* loss wins (the spring needs 1e-4)
    seed: int = 0             # seed of fitting, training and meta-tailoring
    horizon: int | None = None  # rollout steps (None: the dataset's default)
    factor: float = 100.0     # random-sequence filter factor of the fit stage
    inner_lr: float | None = None  # fixed inner learning rate for every law and the oracle
    #                           (None: each law's best rate in the screen, as the paper)
    select: str = "rollout"   # how the inner rate and the best law are chosen after
    #                           meta-tailoring: "rollout" (long-term prediction RMSE on the
    #                           training trajectories, trying the screen's rate and 1e-2,
    #                           1e-1, 1) or "loss" (training MSE on dx/dt, the paper's)

    def key(self, fit_key: str, baseline_key: str) -> str:
        blob = json.dumps({"cfg": asdict(self), "fit": fit_key, "baseline": baseline_key},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass
class RankedLaw:
    """One law through the ranking stages (``meta_*`` only for the top laws)."""

    formula: str              # sympy syntax with fitted numbers, variables named as in the data
    pretty: str               # the same with parameter units, for tables
    size: int
    R_true: float
    R_random: float
    variants: int
    screen_loss: float        # training MSE after one inner step at the best rate
    screen_gain: float        # baseline training MSE − screen_loss
    inner_lr: float
    meta_train_loss: float = math.nan
    train_rollout_rmse: float = math.nan  # only with select="rollout"
    g_scale: float = math.nan
    law: object = field(default=None, repr=False)

    def to_json(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "law"}
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in out.items()}


def _pretty(law, names) -> str:
    """``-c0*cos(q) + p**2  (c0 = 3 kg²·m⁴/s²)``: the law with its constants and their units."""
    return law.pretty()


def oracle_law(dataset):
    """The dataset's known invariant as a torch callable and its expression, or None."""
    from dslsearch.formula import from_sympy

    if not dataset.invariant:
        return None
    formula, values = from_sympy(dataset.invariant, list(dataset.names))
    return formula.torch_fn([v if v is not None else 1.0 for v in values]), dataset.invariant


def run_rank(store, dataset, config: RankConfig = RankConfig(), fit_config=None,
             baseline_config=None, progress: Progress | None = None) -> dict:
    """Run (or resume) the whole pipeline; returns the summary (also ``summary.json``).

    Args:
        store: the run's :class:`~noether_search.store.ResultsStore`.
        dataset: a :class:`hamiltonian_data.Dataset`.
        config: ranking settings.
        fit_config: :class:`dslsearch.fitting.FitConfig` (default: from ``config``).
        baseline_config: :class:`noether_search.baseline.BaselineConfig` (default: HNN's).
        progress: ``progress(stage, done, total)``.
    """
    import torch

    from dslsearch.fitting import FitConfig
    from noether_search.model import screen
    from noether_search.stages import fit_laws, train_baseline

    if config.select not in ("loss", "rollout"):
        raise ValueError(f"select must be 'loss' or 'rollout', got {config.select!r}")
    report = progress or (lambda stage, done, total: None)
    seconds: dict[str, float] = {}
    torch.manual_seed(config.seed)

    # 1. candidates and fits --------------------------------------------------------------
    t0 = time.perf_counter()
    if fit_config is None:
        fit_config = FitConfig(factor=config.factor, seed=config.seed)
    fit = fit_laws(dataset, config.depth, fit_config, store=store,
                   progress=lambda done, total: report("fit", done, total))
    seconds["fit"] = time.perf_counter() - t0

    # 2. baseline -------------------------------------------------------------------------
    t0 = time.perf_counter()
    base = train_baseline(dataset, baseline_config, store=store,
                          progress=lambda step, total, loss: report("baseline", step, total))
    model = base.model
    seconds["baseline"] = time.perf_counter() - t0
    run_key = f"rank/{config.key(fit.key, base.key)}"

    x = torch.tensor(np.array(dataset.x_train), dtype=torch.float32)
    dxdt = torch.tensor(np.array(dataset.dxdt_train), dtype=torch.float32)
    dt = float(dataset.dt)
    laws = list(fit.laws)

    # 3. screen ---------------------------------------------------------------------------
    t0 = time.perf_counter()
    screen_key = f"{run_key}/screen"
    if store.exists(screen_key):
        with store.read(screen_key, "rank-screen") as f:
            best_lr = f["best_lr"][()]
            best_loss = f["best_loss"][()]
            gain = f["gain"][()]
            g_scale = f["g_scale"][()]
            baseline_loss = float(f.attrs["baseline_loss"])
    else:
        report("screen", 0, max(len(laws), 1))
        results = screen(model, [law.torch_fn() for law in laws], x, dxdt, dt)
        best_lr = np.array([r.best_lr for r in results], dtype=float)
        best_loss = np.array([r.best_loss for r in results], dtype=float)
        gain = np.array([r.gain for r in results], dtype=float)
        g_scale = np.array([r.g_scale for r in results], dtype=float)
        baseline_loss = float(results[0].baseline_loss) if results else math.nan
        with store.write(screen_key, "rank-screen", RANK_ENCODING_VERSION,
                         baseline_loss=baseline_loss) as f:
            import h5py

            f.create_dataset("expr", data=np.array([str(law) for law in laws], dtype=object),
                             dtype=h5py.string_dtype())
            f.create_dataset("best_lr", data=best_lr)
            f.create_dataset("best_loss", data=best_loss)
            f.create_dataset("gain", data=gain)
            f.create_dataset("g_scale", data=g_scale)
            f.create_dataset("loss_by_lr", data=np.array([r.loss_by_lr for r in results])
                             if results else np.zeros((0, 9)))
        report("screen", len(laws), max(len(laws), 1))
    seconds["screen"] = time.perf_counter() - t0

    ranked = [RankedLaw(formula=str(law), pretty=_pretty(law, list(dataset.names)), size=int(law.size),
                        R_true=float(law.R_true), R_random=float(law.R_random),
                        variants=int(law.n_variants), screen_loss=float(best_loss[i]),
                        screen_gain=float(gain[i]), inner_lr=float(best_lr[i]),
                        g_scale=float(g_scale[i]), law=law)
              for i, law in enumerate(laws)]
    order = sorted(range(len(ranked)), key=lambda i: (ranked[i].screen_loss, ranked[i].size))
    top = [ranked[i] for i in order[: config.top] if math.isfinite(ranked[i].screen_loss)]

    # 4. meta-tailoring (top laws, then the oracle) ---------------------------------------
    t0 = time.perf_counter()
    oracle = oracle_law(dataset)
    oracle_screen = None
    if oracle is not None:
        oracle_screen = screen(model, [oracle[0]], x, dxdt, dt)[0]
    if config.inner_lr is not None:
        for law in top:
            law.inner_lr = float(config.inner_lr)
    if oracle is None:
        oracle_lr = math.nan
    else:
        oracle_lr = (oracle_screen.best_lr if config.inner_lr is None
                     else float(config.inner_lr))
    def rates(first: float) -> list[float]:
        if config.select == "loss" or config.inner_lr is not None:
            return [first]
        return [first] + [r for r in ROLLOUT_RATES if not math.isclose(r, first)]

    # one job per (law, inner rate); the first rate's key is the plain meta/{k}
    entries = [(f"{run_key}/meta/{k:03d}", law.law.torch_fn(), law.inner_lr)
               for k, law in enumerate(top)]
    if oracle is not None and math.isfinite(oracle_lr):
        entries.append((f"{run_key}/meta/oracle", oracle[0], oracle_lr))
    jobs = [(law_key if j == 0 else f"{law_key}-r{j}", g, lr, law_key)
            for law_key, g, first in entries for j, lr in enumerate(rates(first))]
    metas: dict[str, dict] = {}
    candidates: dict[str, list[tuple[str, float]]] = {}
    for done, (key, g, lr, law_key) in enumerate(jobs):
        report("meta-tailor", done, len(jobs))
        meta = _meta_stage(store, key, model, g, x, dxdt, dt, lr, config)
        if config.select == "rollout":
            meta["train_rollout_rmse"] = _train_rollout(store, key, model, meta, g, dataset,
                                                        config)
        metas[key] = meta
        candidates.setdefault(law_key, []).append((key, lr))
    report("meta-tailor", len(jobs), len(jobs))
    # the model kept for each law: its only run, or the run with the best training rollout
    for law_key, runs in candidates.items():
        if len(runs) > 1:
            key, _ = min(runs, key=lambda r: metas[r[0]]["train_rollout_rmse"])
            metas[law_key] = metas[key]
    if oracle is not None and f"{run_key}/meta/oracle" in metas:
        oracle_lr = metas[f"{run_key}/meta/oracle"]["inner_lr"]
    for k, law in enumerate(top):
        meta = metas[f"{run_key}/meta/{k:03d}"]
        law.inner_lr = meta["inner_lr"]
        law.meta_train_loss = meta["final_train_loss"]
        law.train_rollout_rmse = meta.get("train_rollout_rmse", math.nan)
        law.g_scale = meta["g_scale"]
    seconds["meta_tailor"] = time.perf_counter() - t0

    # 5. evaluation -----------------------------------------------------------------------
    t0 = time.perf_counter()
    criterion = ((lambda law: law.train_rollout_rmse) if config.select == "rollout"
                 else (lambda law: law.meta_train_loss))
    best_k = min(range(len(top)), key=lambda k: criterion(top[k])) if top else None
    best = None if best_k is None else top[best_k]
    summary_models = _evaluate(store, run_key, dataset, model, top, best_k, metas, oracle,
                               config, report)
    seconds["evaluate"] = time.perf_counter() - t0

    summary = {
        "system": dataset.name,
        "source": dataset.source,
        "depth": config.depth,
        "candidates": fit.n_candidates,
        "fitted": fit.n_fitted,
        "failed": fit.n_failed,
        "survivors": fit.n_survivors,
        "laws": len(laws),
        "best": None if best is None else best.to_json(),
        "top": [law.to_json() for law in top],
        "baseline_rmse": summary_models["baseline"]["rmse"],
        "noether_rmse": summary_models.get("noether", {}).get("rmse"),
        "oracle_rmse": summary_models.get("oracle", {}).get("rmse"),
        "oracle": None if oracle is None else {
            "formula": oracle[1], "inner_lr": float(oracle_lr),
            "meta_train_loss": metas.get(f"{run_key}/meta/oracle", {}).get("final_train_loss")},
        "rmse_by_step": {name: m["rmse_by_step"] for name, m in summary_models.items()},
        "horizon": summary_models["baseline"]["horizon"],
        "baseline": {"deriv_mse_train": base.metrics.get("deriv_mse_train"),
                     "deriv_mse_test": base.metrics.get("deriv_mse_test"),
                     "train_loss_after_screen_step": None},
        "screen_baseline_train_loss": baseline_loss,
        "config": asdict(config),
        "run_key": run_key,
        "stage_seconds": {k: round(v, 3) for k, v in seconds.items()},
    }
    store.write_json("summary.json", summary)
    return summary


def _meta_stage(store, key, model, g, x, dxdt, dt, inner_lr, config: RankConfig) -> dict:
    """Meta-tailor one law, or reload its stored result."""
    import torch

    from noether_search.model import meta_tailor

    if store.exists(key):
        with store.read(key, "rank-meta") as f:
            state = {name: torch.as_tensor(f["model_state"][name][()])
                     for name in f["model_state"]}
            return {"model_state": state, "inner_lr": float(f.attrs["inner_lr"]),
                    "g_scale": float(f.attrs["g_scale"]),
                    "final_train_loss": float(f.attrs["final_train_loss"]),
                    "history": f["train_loss_history"][()]}
    runs = [meta_tailor(model, g, x, dxdt, dt, inner_lr, epochs=config.epochs, lr=lr,
                        seed=config.seed) for lr in config.outer_lrs]
    k_best = min(range(len(runs)), key=lambda k: runs[k].final_train_loss)
    result = runs[k_best]
    with store.write(key, "rank-meta", RANK_ENCODING_VERSION, inner_lr=result.inner_lr,
                     outer_lr=config.outer_lrs[k_best],
                     outer_losses=json.dumps([r.final_train_loss for r in runs]),
                     g_scale=result.g_scale, final_train_loss=result.final_train_loss,
                     initial_train_loss=result.initial_train_loss,
                     diverged=result.diverged, seconds=result.seconds) as f:
        grp = f.create_group("model_state")
        for name, tensor in result.model_state.items():
            grp.create_dataset(name, data=tensor.detach().cpu().numpy())
        f.create_dataset("train_loss_history", data=np.asarray(result.train_loss_history))
    return {"model_state": result.model_state, "inner_lr": result.inner_lr,
            "g_scale": result.g_scale, "final_train_loss": result.final_train_loss,
            "history": np.asarray(result.train_loss_history)}


def _tailored(model, meta: dict, g, dataset):
    """The meta-tailored model of ``meta`` as a per-query tailored vector field."""
    import copy

    from noether_search.model import TailoredField

    tuned = copy.deepcopy(model)
    tuned.load_state_dict(meta["model_state"])
    tuned.eval()
    return TailoredField(tuned, g, float(dataset.dt), meta["inner_lr"], meta["g_scale"])


def _train_rollout(store, key: str, model, meta: dict, g, dataset, config: RankConfig) -> float:
    """Training-trajectory rollout RMSE of a meta-tailored law (stored beside its model)."""
    from noether_search.baseline.evaluate import train_rollout_rmse

    rkey = f"{key}-train-rollout"
    if store.exists(rkey):
        with store.read(rkey, "rank-train-rollout") as f:
            return float(f.attrs["rmse"])
    value = train_rollout_rmse(_tailored(model, meta, g, dataset), dataset, config.horizon)
    with store.write(rkey, "rank-train-rollout", RANK_ENCODING_VERSION, rmse=value):
        pass
    return value


def _evaluate(store, run_key, dataset, model, top, best_k, metas, oracle, config,
              report) -> dict:
    """Rollouts of baseline / Noether / oracle; stored under ``{run_key}/rollouts``."""

    from noether_search.baseline.evaluate import rollout

    key = f"{run_key}/rollouts"
    if store.exists(key):
        out = {}
        with store.read(key, "rank-rollouts") as f:
            for name in f["models"]:
                g = f["models"][name]
                out[name] = {"rmse": float(g.attrs["rmse"]), "horizon": int(g.attrs["horizon"]),
                             "rmse_by_step": g["rmse_by_step"][()].tolist(),
                             "formula": g.attrs.get("formula", "")}
        return out

    def tailored(meta_key: str, g):
        return _tailored(model, metas[meta_key], g, dataset)

    fields = {"baseline": (model, "")}
    if top:
        fields["noether"] = (tailored(f"{run_key}/meta/{best_k:03d}", top[best_k].law.torch_fn()),
                             top[best_k].formula)
    if oracle is not None and f"{run_key}/meta/oracle" in metas:
        fields["oracle"] = (tailored(f"{run_key}/meta/oracle", oracle[0]), oracle[1])
    results = {}
    for done, (name, (vf, formula)) in enumerate(fields.items()):
        report("evaluate", done, len(fields))
        results[name] = (rollout(vf, dataset, horizon=config.horizon), formula)
    report("evaluate", len(fields), len(fields))
    with store.write(key, "rank-rollouts", RANK_ENCODING_VERSION) as f:
        models = f.create_group("models")
        first = next(iter(results.values()))[0]
        f.create_dataset("true", data=first.true)
        f.create_dataset("t", data=first.t)
        for name, (res, formula) in results.items():
            g = models.create_group(name)
            g.attrs["rmse"] = res.rmse
            g.attrs["horizon"] = res.horizon
            g.attrs["formula"] = formula
            g.create_dataset("rmse_by_step", data=res.rmse_by_step)
            g.create_dataset("pred", data=res.pred)
    return {name: {"rmse": float(res.rmse), "horizon": int(res.horizon),
                   "rmse_by_step": res.rmse_by_step.tolist(), "formula": formula}
            for name, (res, formula) in results.items()}
