"""Rendered episodes cut into fixed-length windows: the training, validation and test sets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from noether_search.video.env import make_episodes
from noether_search.video.render import render


@dataclass(frozen=True, eq=False)
class Windows:
    """N windows of W consecutive frames with their actions.

    Attributes:
        frames: (N, W, S, S) float32 frames in [0, 1].
        actions: (N, W) float32 torques [N·m], or (N, W, A) with A action columns (a
            folder's ``actions.csv``); ``actions[:, t]`` acts after ``frames[:, t]``.
        episode: (N,) index of the episode each window comes from (within its split).
        start: (N,) index of the window's first frame in its episode.
    """

    frames: np.ndarray
    actions: np.ndarray
    episode: np.ndarray
    start: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)


@dataclass(frozen=True, eq=False)
class VideoData:
    """The three splits (episodes never shared between them).

    Attributes:
        train: windows of history + training-horizon frames, every start (stride 1).
        val: windows of history + evaluation-horizon frames, for choosing checkpoints.
        test: the same from held-out episodes, for the reported numbers only.
    """

    train: Windows
    val: Windows
    test: Windows


def cut_windows(actions: list[np.ndarray], frames: list[np.ndarray], length: int,
                stride: int) -> Windows:
    """Every window of ``length`` frames starting at 0, stride, 2·stride, … of each episode.

    ``frames[i]`` is episode i's (T_i, S, S) frames, ``actions[i]`` its (T_i,) or (T_i, A)
    actions; episodes shorter than ``length`` give no window.
    """
    out_f, out_a, out_e, out_s = [], [], [], []
    for i, (act, fr) in enumerate(zip(actions, frames, strict=True)):
        for s in range(0, len(fr) - length + 1, stride):
            out_f.append(fr[s:s + length])
            out_a.append(act[s:s + length])
            out_e.append(i)
            out_s.append(s)
    if not out_f:
        raise ValueError(f"cut_windows: episodes of {len(frames[0])} frames are shorter than "
                         f"a window of {length}; use longer episodes or a shorter horizon")
    return Windows(np.stack(out_f).astype(np.float32), np.stack(out_a).astype(np.float32),
                   np.array(out_e), np.array(out_s))


def make_data(n_train: int, n_val: int, n_test: int, n_frames: int, size: int, history: int,
              train_horizon: int, horizon: int, test_stride: int, seed: int) -> VideoData:
    """Simulate and render ``n_train + n_val + n_test`` episodes from ``seed`` and cut them.

    Training windows have ``history + train_horizon`` frames (every start); validation and
    test windows ``history + horizon`` frames every ``test_stride`` frames.
    """
    episodes = make_episodes(n_train + n_val + n_test, n_frames, seed)
    frames = [render(ep.theta, size) for ep in episodes]
    a, b = n_train, n_train + n_val
    long = history + horizon
    actions = [ep.actions for ep in episodes]
    return VideoData(train=cut_windows(actions[:a], frames[:a], history + train_horizon, 1),
                     val=cut_windows(actions[a:b], frames[a:b], long, test_stride),
                     test=cut_windows(actions[b:], frames[b:], long, test_stride))
