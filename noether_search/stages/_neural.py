"""The steps of :func:`noether_search.stages.neural.neural`, each reusing the store."""

from __future__ import annotations

import contextlib
import copy
import math
import time

import numpy as np

from noether_search.store.codecs import NeuralRun


def check_config(config) -> None:
    """Raise ValueError naming a bad setting of a :class:`NeuralConfig`."""
    for name in ("embed_dim", "embed_hidden", "epochs"):
        value = getattr(config, name)
        if not (isinstance(value, int) and value >= (0 if name == "epochs" else 1)):
            raise ValueError(f"{name} must be an integer >= {0 if name == 'epochs' else 1}, "
                             f"got {value!r}")
    for name in ("outer_lrs", "inner_lrs", "embed_lrs"):
        values = tuple(getattr(config, name))
        low = 0 if name == "embed_lrs" else 1e-300       # an embedding rate 0: g_φ fixed
        if not values or not all(v >= low and math.isfinite(v) for v in values):
            raise ValueError(f"{name} must be a non-empty tuple of "
                             f"{'rates >= 0' if low == 0 else 'positive rates'}, got "
                             f"{values!r}")
    if not (isinstance(config.pretrain_epochs, int) and config.pretrain_epochs >= 0):
        raise ValueError(f"pretrain_epochs must be an integer >= 0, got "
                         f"{config.pretrain_epochs!r}")
    if not (config.pretrain_lr > 0 and math.isfinite(config.pretrain_lr)):
        raise ValueError(f"pretrain_lr must be a positive number, got {config.pretrain_lr!r}")
    if not (config.pretrain_flow >= 0 and math.isfinite(config.pretrain_flow)):
        raise ValueError(f"pretrain_flow must be a finite number >= 0, got "
                         f"{config.pretrain_flow!r}")
    if not 0 < config.val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {config.val_fraction!r}")
    if config.val_split not in VAL_SPLITS:
        raise ValueError(f"val_split must be one of {', '.join(VAL_SPLITS)}, got "
                         f"{config.val_split!r}")
    if not (config.plain_weight >= 0 and math.isfinite(config.plain_weight)):
        raise ValueError(f"plain_weight must be a finite number >= 0, got "
                         f"{config.plain_weight!r}")
    if config.max_loss_ratio is not None and not config.max_loss_ratio >= 1:
        raise ValueError(f"max_loss_ratio must be None or a number >= 1, got "
                         f"{config.max_loss_ratio!r}")
    if config.max_step is not None and not (config.max_step > 0
                                            and math.isfinite(config.max_step)):
        raise ValueError(f"max_step must be None or a positive number, got "
                         f"{config.max_step!r}")
    if config.noether_norm not in ("std", "gradient"):
        raise ValueError(f"noether_norm must be 'std' or 'gradient', got "
                         f"{config.noether_norm!r}")


#: how :func:`split_validation` picks the validation trajectories
VAL_SPLITS = ("outer", "last")


class Clock:
    """``with clock(stage):`` adds the block's wall time to ``seconds[stage]``."""

    def __init__(self, seconds: dict[str, float]):
        self.seconds = seconds

    @contextlib.contextmanager
    def __call__(self, stage: str):
        t0 = time.perf_counter()
        yield
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0


def baseline(dataset, config, baseline_config, store, report):
    """The vanilla MLP, trained with ``config.seed`` (or reused from the store)."""
    from noether_search.baseline import BaselineConfig
    from noether_search.stages.baseline import train_baseline

    base_config = baseline_config or BaselineConfig.for_dataset(dataset, seed=config.seed)
    return train_baseline(dataset, base_config, store=store,
                          progress=lambda step, total, loss: report("baseline", step, total))


def split_validation(dataset, fraction: float, how: str = "last"):
    """The training trajectories split into a fitting and a validation dataset.

    With two training trajectories or more, ``max(1, round(fraction · n))`` of them (at most
    n − 1) are the validation part: with ``how="last"`` the last ones in the dataset's
    order; with ``how="outer"`` those that reach furthest from the training states, by
    :func:`reach` (ties keep the dataset's order), so the fitting part is the inner range
    and validation measures extrapolation beyond it. With one trajectory, its last
    ``fraction`` of samples (at least 4 each side) either way. Both datasets keep the test
    trajectories and the system (its horizon; validation rollouts are capped at the
    validation data's length).

    Raises:
        ValueError: a single training trajectory too short to split (fewer than 9 samples).
    """
    from hamiltonian_data.dataset import Dataset, Trajectory

    train = list(dataset.train)
    if len(train) >= 2:
        n_val = min(len(train) - 1, max(1, round(fraction * len(train))))
        if how == "outer":
            order = np.argsort(reach(train), kind="stable")          # inner first
            train = [train[i] for i in sorted(order[:-n_val])] + [train[i] for i in
                                                                   sorted(order[-n_val:])]
        fit, val = train[:-n_val], train[-n_val:]
    else:
        (tr,) = train
        cut = len(tr) - max(4, round(fraction * len(tr)))
        if cut < 5:
            raise ValueError(f"dataset {dataset.name!r}: its one training trajectory has "
                             f"{len(tr)} samples, too few to hold out a validation part; "
                             "give at least 9 samples or two trajectories")
        fit = [Trajectory(t=tr.t[:cut], x=tr.x[:cut], dxdt=tr.dxdt[:cut])]
        val = [Trajectory(t=tr.t[cut:], x=tr.x[cut:], dxdt=tr.dxdt[cut:])]

    def part(trajs):
        return Dataset.from_trajectories(dataset.name, dataset.variables, tuple(trajs),
                                         dataset.test, dataset.invariant, dataset.source,
                                         dataset.system)

    return part(fit), part(val)


def reach(trajectories) -> np.ndarray:
    """(n,) how far each trajectory goes from the training states: the largest distance of
    its samples from the mean of all the given trajectories' states, each coordinate in units
    of its standard deviation over them (a coordinate constant on them is left unscaled)."""
    x = np.concatenate([np.asarray(t.x) for t in trajectories])             # (N, d)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return np.array([np.sqrt((((np.asarray(t.x) - mean) / std) ** 2).sum(axis=1)).max()
                     for t in trajectories])


def initial_embedding(dim: int, config, seed: int, x=None, trajectories=None,
                      derivatives=None):
    """The embedding g_φ0, initialised from ``seed`` (the global RNG is untouched); with
    ``config.normalise_inputs`` its input normalised by the states ``x`` (N, d) it is
    trained on; with ``config.pretrain_epochs`` > 0 and two or more ``trajectories``
    (sequence of (n_t, d) state arrays) then pretrained to be conserved along them
    (:func:`~noether_search.neural.pretrain.pretrain_embedding`; with fewer, not
    pretrained), with ``config.pretrain_flow`` > 0 also aligned with the flow given by
    ``derivatives`` ((n_t, d) dx/dt arrays at those states)."""
    import torch

    from noether_search.neural import Embedding
    from noether_search.neural.pretrain import pretrain_embedding

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        g = Embedding(dim, config.embed_dim, config.embed_hidden)
    g = g.normalise_inputs(x) if config.normalise_inputs and x is not None else g
    if config.pretrain_epochs > 0 and trajectories is not None and len(trajectories) >= 2:
        g.load_state_dict(pretrain_embedding(
            g, trajectories, epochs=config.pretrain_epochs, lr=config.pretrain_lr,
            derivatives=derivatives, flow_weight=config.pretrain_flow).embed_state)
    return g


def initial_embeddings(dataset, config, seeds) -> dict:
    """``{seed: initial_embedding(...)}`` for ``dataset``'s training trajectories, each
    computed once (pretraining is shared by every setting with that seed)."""
    from noether_search.stages._common import train_pairs

    x, _ = train_pairs(dataset)
    trajs = [np.asarray(t.x) for t in dataset.train]
    derivs = [np.asarray(t.dxdt) for t in dataset.train]
    return {s: initial_embedding(dataset.dim, config, s, x, trajs, derivs)
            for s in sorted(set(seeds))}


def load_run(base_model, run: NeuralRun):
    """``(mlp, embedding)`` of a stored run: copies in eval mode with gradients off."""
    from noether_search.neural import Embedding

    net = copy.deepcopy(base_model)
    net.load_state_dict(run.model_state)
    g = Embedding(base_model.dim, run.embed_dim, run.embed_hidden)
    g.load_state_dict(run.embed_state)
    for module in (net, g):
        module.eval()
        for p in module.parameters():
            p.requires_grad_(False)
    return net, g


def neural_field(base_model, run: NeuralRun, dataset, config):
    """The tailored vector field of a run (:class:`~noether_search.neural.NeuralField`), with
    the step's cap ``config.max_step`` it was trained with."""
    import torch

    from noether_search.neural import NeuralField

    net, g = load_run(base_model, run)
    return NeuralField(net, g, float(dataset.dt), run.inner_lr,
                       torch.as_tensor(np.asarray(run.scale), dtype=torch.float32),
                       max_step=config.max_step, normalise=config.noether_norm)


def _train(base_model, dataset, config, inner_lr: float, outer_lr: float, embed_lr: float,
           seed: int, embed=None) -> NeuralRun:
    """Meta-train the MLP and the embedding ``embed`` (default: :func:`initial_embedding`
    from ``seed`` on ``dataset``) on ``dataset``'s training pairs."""
    from noether_search.neural import meta_train
    from noether_search.stages._common import train_pairs

    x, dxdt = train_pairs(dataset)
    if embed is None:
        embed = initial_embeddings(dataset, config, [seed])[seed]
    r = meta_train(base_model, embed, x, dxdt,
                   float(dataset.dt), inner_lr, epochs=config.epochs, lr=outer_lr,
                   embed_lr=embed_lr, max_step=config.max_step,
                   plain_weight=config.plain_weight, normalise=config.noether_norm)
    return NeuralRun(model_state=r.model_state, embed_state=r.embed_state,
                     embed_dim=config.embed_dim, embed_hidden=config.embed_hidden,
                     inner_lr=r.inner_lr, outer_lr=float(outer_lr),
                     embed_lr=float(embed_lr), scale=r.scale,
                     final_train_loss=r.final_train_loss,
                     initial_train_loss=r.initial_train_loss, history=r.train_loss_history,
                     best_epoch=r.best_epoch, diverged=r.diverged, seconds=r.seconds,
                     embed_seed=int(seed))


def select(base, dataset, config, store, run_key: str, report) -> tuple[NeuralRun, ...]:
    """Every setting of ``config.grid()`` trained on the fitting split and scored by its
    rollout RMSE on the validation split (each one artifact ``{run_key}/select/{j}``).

    The runs start from a baseline with ``base``'s settings trained on the fitting split
    alone (``baseline/{hash}`` of that split), so no model in the selection has seen the
    validation trajectories."""
    from dataclasses import replace

    from noether_search.baseline.evaluate import train_rollout_rmse
    from noether_search.stages.baseline import train_baseline
    from noether_search.store.codecs import NEURAL_RUN

    fit, val = split_validation(dataset, config.val_fraction, config.val_split)
    report("select", 0, 1)
    base_model = train_baseline(fit, base.config, store=store).model
    grid = config.grid()
    runs, embeds = [], {}
    for j, (lam, lr, elr, seed) in enumerate(grid):
        report("select", j, len(grid))
        key = f"{run_key}/select/{j}"
        run = store.load_cached(key, NEURAL_RUN) if store is not None else None
        if run is None:
            if seed not in embeds:
                embeds.update(initial_embeddings(fit, config, [seed]))
            run = _train(base_model, fit, config, lam, lr, elr, seed, embeds[seed])
            rmse = train_rollout_rmse(neural_field(base_model, run, dataset, config), val,
                                      config.horizon)
            run = replace(run, val_rmse=float(rmse) if math.isfinite(rmse) else math.inf)
            if store is not None:
                store.save(key, NEURAL_RUN, run)
        runs.append(run)
    report("select", len(grid), len(grid))
    return tuple(runs)


def best(selection, max_loss_ratio: float | None = None) -> NeuralRun:
    """The run with the lowest validation RMSE (non-finite ones last); with
    ``max_loss_ratio`` r, among the runs whose post-step training loss is at most r times
    the lowest of the selection (a run that fits its own training data much worse than
    others can still roll out closer on far-out trajectories, by staying near the middle of
    the phase space)."""
    runs = list(selection)
    if max_loss_ratio is not None:
        losses = [r.final_train_loss for r in runs if math.isfinite(r.final_train_loss)]
        if losses:
            runs = [r for r in runs if r.final_train_loss <= max_loss_ratio * min(losses)]
    return min(runs, key=lambda r: r.val_rmse if math.isfinite(r.val_rmse) else math.inf)


def refit(base_model, selection, dataset, config, store, run_key: str,
          report) -> NeuralRun:
    """The chosen setting meta-trained again, from the same initial embedding, on all the
    training trajectories (validation part included, as the baseline and the control are
    trained), ``{run_key}/final/{j}`` for the chosen setting ``j`` of ``config.grid()``;
    ``chosen`` itself when ``config.refit`` is False. The returned run keeps the chosen run's
    ``val_rmse`` (the score of its setting)."""
    from dataclasses import replace

    from noether_search.store.codecs import NEURAL_RUN

    chosen = best(selection, config.max_loss_ratio)
    if not config.refit:
        return chosen
    j = next(i for i, r in enumerate(selection) if r is chosen)
    key = f"{run_key}/final/{j}"
    run = store.load_cached(key, NEURAL_RUN) if store is not None else None
    if run is None:
        report("refit", 0, 1)
        run = replace(_train(base_model, dataset, config, chosen.inner_lr, chosen.outer_lr,
                             chosen.embed_lr, chosen.embed_seed), val_rmse=chosen.val_rmse)
        if store is not None:
            store.save(key, NEURAL_RUN, run)
    report("refit", 1, 1)
    return run


def oracle(base_model, dataset, config, store, run_key: str, report):
    """The known invariant screened and meta-tailored as ``rank`` does (None without one,
    or when its screen fails)."""
    from noether_search.stages.meta import meta_tailor_laws
    from noether_search.stages.rank import oracle_law
    from noether_search.stages.screen import screen_laws

    law = oracle_law(dataset)
    if law is None:
        return None
    screened = screen_laws(base_model, [law], dataset, store,
                           None if store is None else f"{run_key}/oracle-screen")[0]
    if not math.isfinite(screened.inner_lr):
        return None
    return meta_tailor_laws(base_model, [law], [screened.inner_lr], dataset,
                            config.meta_config(), store,
                            None if store is None else [f"{run_key}/oracle"],
                            progress=report)[0]


def evaluate(base_model, run, control, oracle, dataset, config, store, run_key: str, report):
    """Test rollouts of the baseline, the control, the neural model and the oracle."""
    from noether_search.stages.evaluate import evaluate_models

    fields = {"baseline": base_model, "control": control.field(base_model),
              "neural": neural_field(base_model, run, dataset, config)}
    formulas = {"neural": f"learned g: R^{dataset.dim} -> R^{run.embed_dim}"}
    if oracle is not None:
        fields["oracle"] = oracle.field(base_model, dataset)
        formulas["oracle"] = dataset.invariant
    return evaluate_models(dataset, fields, formulas, config.horizon, store,
                           None if store is None else f"{run_key}/rollouts", progress=report)


def probe(base_model, run: NeuralRun, dataset):
    """Linear probe of the known invariant by the learned embedding on the test states
    (None when the dataset has no invariant in the formula language)."""
    import torch

    from noether_search.neural import linear_probe
    from noether_search.stages.rank import oracle_law

    law = oracle_law(dataset)
    if law is None:
        return None
    _, g = load_run(base_model, run)
    x = np.asarray(dataset.x_test)
    with torch.no_grad():
        z = g(torch.tensor(x, dtype=torch.float32)).double().numpy()       # (M, k)
    y = law(x)                                                              # (M,)
    if not (np.isfinite(z).all() and np.isfinite(y).all()):
        return None
    return linear_probe(z, y)


def conservation(base_model, run: NeuralRun, dataset, config) -> dict | None:
    """How conserved the embedding is on the test trajectories, and how close to the known
    invariant, for the neural model's g_φ and for the embedding it started from (with
    ``config.refit``; with it off, the refit's start, pretrained on all the training
    trajectories):
    ``{"test_ratio", "pretrained_test_ratio", "pretrained_probe_r2",
    "pretrained_probe_spearman"}`` (the ratio of
    :func:`~noether_search.neural.pretrain.conservation_ratio` per component, averaged over
    the k components: 0 conserved, about 1 not; the probe on the test states, None without
    a known invariant). None with fewer than two test trajectories."""
    import torch

    from noether_search.neural import conservation_ratio, linear_probe
    from noether_search.stages.rank import oracle_law

    trajs = [np.asarray(t.x) for t in dataset.test]
    if len(trajs) < 2:
        return None
    x = torch.tensor(np.concatenate(trajs), dtype=torch.float32)              # (M, d)
    labels = torch.cat([torch.full((len(t),), i) for i, t in enumerate(trajs)])
    start = initial_embeddings(dataset, config, [run.embed_seed])[run.embed_seed]
    law = oracle_law(dataset)
    out = {"pretrained_probe_r2": None, "pretrained_probe_spearman": None}
    for name, g in (("", load_run(base_model, run)[1]), ("pretrained_", start)):
        with torch.no_grad():
            z = g(x)                                                              # (M, k)
            ratio = float(conservation_ratio(z, labels, len(trajs)))
            out[f"{name}test_ratio"] = ratio / z.shape[1]
        if name and law is not None:
            p = linear_probe(z.double().numpy(), law(x.double().numpy()))
            out.update(pretrained_probe_r2=p.r2, pretrained_probe_spearman=p.spearman)
    return out


def symbolic(store, rollouts, seed: int):
    """``rank``'s Noether model from the store's ``summary.json`` and its test rollouts,
    when that run used ``seed`` and the same test trajectories and horizon; else None."""
    from noether_search.report.collect import read_summary
    from noether_search.stages.neural import SymbolicRef, trajectory_rmse
    from noether_search.store.codecs import RANK_ROLLOUTS

    if store is None:
        return None
    summary = read_summary(store)
    if (summary is None or not summary.get("best") or summary.get("run_key") is None
            or (summary.get("config") or {}).get("seed") != seed):
        return None
    ro = store.load_cached(f"{summary['run_key']}/rollouts", RANK_ROLLOUTS)
    if (ro is None or "noether" not in ro.rmse or ro.true.shape != rollouts.true.shape
            or not np.allclose(ro.true, rollouts.true)):
        return None
    return SymbolicRef(formula=ro.formula.get("noether") or summary["best"]["formula"],
                       run_key=summary["run_key"], rmse=float(ro.rmse["noether"]),
                       rmse_by_step=np.asarray(ro.rmse_by_step["noether"]),
                       rmse_by_trajectory=trajectory_rmse(ro.pred["noether"], ro.true))
