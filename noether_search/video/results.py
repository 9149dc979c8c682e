"""Results of the pixel-pendulum experiment (numpy only): one seed, and all seeds."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from noether_search.video.config import VideoConfig

#: the compared models, in table order
METHODS = ("base", "more_steps", "noether")
#: the per-step metrics
METRICS = ("mse", "psnr", "ssim")


@dataclass(frozen=True, eq=False)
class SeedRun:
    """One training seed: test metrics of every model, an example strip, validation curves.

    Attributes:
        seed: the model seed (initial weights, batch order).
        metrics: ``metrics[metric][method]`` (n_windows, horizon) on the test windows;
            metric in :data:`METRICS`, method in :data:`METHODS`.
        strip_true: (horizon, S, S) true frames of the first test window.
        strip_pred: method -> (horizon, S, S) its predictions of that window.
        val_mse: phase (``base``, ``more_steps``, ``noether``) -> (epochs + 1,) validation MSE
            before training and after each epoch.
        best_epoch: phase -> the epoch kept (chosen on validation MSE).
        seconds: wall time of training and evaluating this seed [s].
        inner_lr: the inner rate chosen on validation (meta-trained and used at test).
        inner_lr_val: (len(inner_lrs),) validation MSE of each tried rate (base predictor,
            fresh embedding).
    """

    seed: int
    metrics: dict[str, dict[str, np.ndarray]]
    strip_true: np.ndarray
    strip_pred: dict[str, np.ndarray]
    val_mse: dict[str, np.ndarray]
    best_epoch: dict[str, int]
    seconds: float
    inner_lr: float = float("nan")
    inner_lr_val: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass(frozen=True, eq=False)
class VideoResult:
    """Every seed of one experiment.

    Attributes:
        config: the settings.
        runs: one :class:`SeedRun` per seed, in the order asked.
        key: the store key prefix (``video/<config hash>``).
        reused: how many seeds were read from the store rather than computed.
    """

    config: VideoConfig
    runs: list[SeedRun]
    key: str
    reused: int = 0

    def by_step(self, metric: str, method: str) -> np.ndarray:
        """(n_seeds, horizon): each seed's metric per prediction step, mean over windows."""
        return np.stack([r.metrics[metric][method].mean(axis=0) for r in self.runs])

    def per_seed(self, metric: str, method: str) -> np.ndarray:
        """(n_seeds,): each seed's metric averaged over steps and test windows."""
        return self.by_step(metric, method).mean(axis=1)

    def summary(self) -> dict:
        """``{base_mse, more_steps_mse, noether_mse}`` (mean over steps, windows and seeds),
        the same with ``_std`` (over seeds) for MSE, PSNR and SSIM, the sizes, each seed's
        chosen inner rate and, for a folder, ``data`` (its path, content hash, episodes
        found and action columns)."""
        out: dict = {}
        for metric in METRICS:
            for method in METHODS:
                v = self.per_seed(metric, method)
                out[f"{method}_{metric}"] = float(v.mean())
                out[f"{method}_{metric}_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
        n_windows = int(self.runs[0].metrics["mse"]["base"].shape[0]) if self.runs else 0
        out.update(episodes={"train": self.config.n_train, "val": self.config.n_val,
                             "test": self.config.n_test, "test_windows": n_windows},
                   seeds=[r.seed for r in self.runs],
                   inner_lr=[r.inner_lr for r in self.runs],
                   compute_seconds=float(sum(r.seconds for r in self.runs)))
        if self.config.source is not None:
            out["data"] = asdict(self.config.source)
        return out
