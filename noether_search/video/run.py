"""One seed of the experiment: base training, the "more steps" control, Noether, evaluation."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from noether_search.video.config import VideoConfig
from noether_search.video.data import VideoData, Windows, make_data
from noether_search.video.metrics import frame_metrics
from noether_search.video.model import Predictor
from noether_search.video.noether import Embedding
from noether_search.video.results import METHODS, METRICS, SeedRun
from noether_search.video.train import Phase, predict, train_phase, val_mse

#: ``progress(phase, done, total)``: phase is ``base``, ``more_steps``, ``noether`` or
#: ``evaluate``; done/total count epochs (test windows for ``evaluate``)
Progress = Callable[[str, int, int], None]


def video_data(cfg: VideoConfig) -> VideoData:
    """The rendered training, validation and test windows of ``cfg`` (the pendulum; a
    folder's windows come from :func:`noether_search.video.folder.footage_data`)."""
    if cfg.source is not None:
        raise ValueError(f"video_data: the config reads the folder {cfg.source.path}; load "
                         "it with noether_search.video.folder.load_footage")
    return make_data(cfg.n_train, cfg.n_val, cfg.n_test, cfg.n_frames, cfg.predictor.size,
                     cfg.history, cfg.train_horizon, cfg.horizon, cfg.test_stride,
                     cfg.data_seed)


def _phase(cfg: VideoConfig, epochs: int, lr: float, inner_lr: float = 0.5) -> Phase:
    return Phase(epochs=epochs, lr=lr, batch=cfg.batch, history=cfg.history,
                 horizon=cfg.horizon, inner_lr=inner_lr, teacher_forcing=cfg.teacher_forcing,
                 form=cfg.noether.form)


def choose_inner_lr(cfg: VideoConfig, model: Predictor, emb: Embedding,
                    val: Windows) -> tuple[float, np.ndarray]:
    """The rate of ``cfg.noether.inner_lrs`` whose inner step (``model``, untrained ``emb``)
    gives the lowest validation MSE, and (len(inner_lrs),) those MSEs."""
    scores = np.array([val_mse(model, emb, val, _phase(cfg, 1, cfg.lr, lr))
                       for lr in cfg.noether.inner_lrs])
    return float(cfg.noether.inner_lrs[int(np.argmin(scores))]), scores


def run_seed(cfg: VideoConfig, data: VideoData, seed: int,
             progress: Progress | None = None) -> SeedRun:
    """Train the three models with model seed ``seed`` and score them on the test windows.

    Base: ``cfg.base_epochs`` of plain training. More steps: the base trained
    ``cfg.extra_epochs`` more with the same loss. Noether: the inner rate is chosen on the
    validation windows (:func:`choose_inner_lr`), then the base and a fresh embedding are
    meta-trained ``cfg.extra_epochs`` through the inner step (Algorithm 1: both θ and φ take
    outer steps). Each phase keeps its best-validation epoch.
    """
    start = time.perf_counter()
    report = progress or (lambda phase, done, total: None)
    torch.manual_seed(seed)
    acts = data.train.actions
    action_dim = 1 if acts.ndim == 2 else acts.shape[2]
    model = Predictor(cfg.predictor, action_dim)
    emb = Embedding(cfg.predictor.latent, cfg.noether, action_dim)

    def cb(phase: str) -> Callable[[int, int, float], None]:
        return lambda done, total, loss: report(phase, done, total)

    base = train_phase(model, None, data.train, data.val,
                       _phase(cfg, cfg.base_epochs, cfg.lr), seed, cb("base"))
    more = train_phase(base.predictor, None, data.train, data.val,
                       _phase(cfg, cfg.extra_epochs, cfg.extra_lr), seed + 1,
                       cb("more_steps"))
    inner_lr, inner_lr_val = choose_inner_lr(cfg, base.predictor, emb, data.val)
    noether = train_phase(base.predictor, emb, data.train, data.val,
                          _phase(cfg, cfg.extra_epochs, cfg.extra_lr, inner_lr), seed + 1,
                          cb("noether"))
    phases = {"base": base, "more_steps": more, "noether": noether}
    true = data.test.frames[:, cfg.history:]
    preds, metrics = {}, {m: {} for m in METRICS}
    for i, (name, res) in enumerate(phases.items()):
        preds[name] = predict(res.predictor, res.embedding, data.test, cfg.history,
                              inner_lr, cfg.noether.form)
        fm = frame_metrics(preds[name], true)
        for m in METRICS:
            metrics[m][name] = getattr(fm, m)
        report("evaluate", i + 1, len(phases))
    return SeedRun(seed=seed, metrics=metrics, strip_true=true[0].copy(),
                   strip_pred={k: preds[k][0].copy() for k in METHODS},
                   val_mse={k: r.val_mse for k, r in phases.items()},
                   best_epoch={k: r.best_epoch for k, r in phases.items()},
                   seconds=time.perf_counter() - start, inner_lr=inner_lr,
                   inner_lr_val=inner_lr_val)

