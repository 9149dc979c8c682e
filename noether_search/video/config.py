"""Settings of the pixel-pendulum experiment (torch-free, so stores and the CLI read them
without importing torch)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class PredictorConfig:
    """The frame predictor (:class:`~noether_search.video.model.Predictor`)."""

    size: int = 32        # frame side [pixels]; a multiple of 8, ≥ 16
    channels: int = 8     # width of the first conv layer, doubled at each of 3 downsamplings
    latent: int = 64      # encoder output / LSTM output dimension (SVG's g_dim)
    hidden: int = 128     # LSTM hidden size (the paper: 256)
    layers: int = 2       # stacked LSTM cells (the paper: 2)


@dataclass(frozen=True)
class NoetherConfig:
    """The learned embedding and the inner step (:mod:`~noether_search.video.noether`)."""

    embed_dim: int = 32     # k, the embedding dimension (the paper: 100)
    hidden: int = 128       # width of the embedding's 2 hidden layers (the paper: 512)
    # SGD rates of the inner step on the LSTM outputs tried (the paper: 0.5); the one with
    # the lowest validation MSE, base predictor and fresh embedding, is meta-trained
    inner_lrs: tuple[float, ...] = (0.5, 2.0, 5.0, 20.0)
    form: str = "a"         # the Noether loss, the paper's Eq. 2(a) or 2(b)


@dataclass(frozen=True)
class FolderSource:
    """Where the episodes of a ``video --data DIR`` run come from
    (:func:`~noether_search.video.folder.load_footage`).

    Attributes:
        path: the folder as given (recorded for reports; not part of the store key, so a
            moved folder keeps its results).
        digest: 16 hex digits of a hash of the loaded frames and actions (part of the key:
            a changed folder is computed afresh).
        episodes: episodes found in the folder (the splits take them in name order).
        actions: action columns per frame (0: the folder has no actions; the model gets a
            zero action at every step).
    """

    path: str
    digest: str
    episodes: int
    actions: int


@dataclass(frozen=True)
class VideoConfig:
    """The whole experiment: data, protocol and training budget.

    The three compared models share the base training; "more steps" and Noether then train
    for ``extra_epochs`` more each, from the base's chosen state.
    """

    n_train: int = 5          # training episodes (the paper: 5)
    n_val: int = 5            # validation episodes: checkpoints and inner rate are chosen here
    n_test: int = 20          # held-out test episodes (the paper: 195)
    n_frames: int = 200       # frames per episode (the paper: 200)
    history: int = 4          # given frames (the paper: 4)
    horizon: int = 26         # predicted frames at evaluation (the paper: 26)
    train_horizon: int = 10   # predicted frames in training (the paper: 10)
    test_stride: int = 30     # a validation/test window starts every this many frames
    base_epochs: int = 10     # base predictor training (the paper: 50)
    extra_epochs: int = 4     # "more steps" and Noether training (the paper: 20)
    batch: int = 16           # windows per Adam step (the paper: 32; more steps per epoch)
    lr: float = 2e-3          # Adam rate of the base training (the paper: 1e-3)
    extra_lr: float = 1e-3    # Adam rate of "more steps" and of Noether's outer steps
    teacher_forcing: bool = True  # train on true input frames (SVG); prediction closed-loop
    data_seed: int = 0        # episodes (initial states, action sinusoids)
    predictor: PredictorConfig = field(default_factory=PredictorConfig)
    noether: NoetherConfig = field(default_factory=NoetherConfig)
    # None: the rendered pendulum; else the folder of episodes (then n_frames is the
    # shortest validation/test episode and data_seed is unused)
    source: FolderSource | None = None

    def to_json(self) -> dict:
        """Every setting; ``source`` only when set, so the rendered pendulum's JSON (and its
        store key) is the same as before folders could be read."""
        obj = asdict(self)
        if self.source is None:
            del obj["source"]
        return obj

    @classmethod
    def from_json(cls, obj: dict) -> VideoConfig:
        obj = dict(obj)
        noether = dict(obj.pop("noether"))
        noether["inner_lrs"] = tuple(noether["inner_lrs"])
        source = obj.pop("source", None)
        return cls(predictor=PredictorConfig(**obj.pop("predictor")),
                   noether=NoetherConfig(**noether),
                   source=None if source is None else FolderSource(**source), **obj)

    def digest(self) -> str:
        """16 hex digits of a hash of every setting and, for a folder, of its loaded
        content (the store key); the folder's path is left out."""
        obj = self.to_json()
        if self.source is not None:
            del obj["source"]["path"]
        text = json.dumps(obj, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def validate(self) -> None:
        """Raise ValueError naming the first setting that cannot work."""
        checks = [("n_train", self.n_train >= 1), ("n_val", self.n_val >= 1),
                  ("n_test", self.n_test >= 1), ("history", self.history >= 3),
                  ("horizon", self.horizon >= 1), ("train_horizon", self.train_horizon >= 1),
                  ("n_frames", self.n_frames >= self.history + max(self.horizon,
                                                                   self.train_horizon)),
                  ("test_stride", self.test_stride >= 1),
                  ("base_epochs", self.base_epochs >= 1), ("extra_epochs",
                                                           self.extra_epochs >= 1),
                  ("predictor.size", self.predictor.size >= 16
                   and self.predictor.size % 8 == 0),
                  ("noether.inner_lrs", len(self.noether.inner_lrs) > 0
                   and all(r > 0 for r in self.noether.inner_lrs)),
                  ("noether.form", self.noether.form in ("a", "b"))]
        for name, ok in checks:
            if not ok:
                raise ValueError(f"VideoConfig.{name}={_get(self, name)!r} is out of range "
                                 "(history >= 3, every count >= 1, n_frames >= history + "
                                 "horizon, frame size a multiple of 8 >= 16, inner rates "
                                 "> 0, form 'a' or 'b')")


def _get(obj, dotted: str):
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj
