"""Your own videos: a folder of episodes read as grayscale frames for the video stage.

The folder (``video --data DIR``) holds one entry per episode; episodes are taken in the
natural order of their names (``ep2`` before ``ep10``):

* a **subfolder** of frames as image files (``.png``, ``.jpg``/``.jpeg``, ``.bmp``,
  ``.tif``/``.tiff``), one file per frame, in the natural order of their names, with an
  optional ``actions.csv``;
* a **``.npy``** array of shape (T, H, W) or (T, H, W, C), with an optional
  ``<name>.actions.csv`` next to it;
* a **``.npz``** archive holding ``frames`` (as the ``.npy``) and optionally ``actions``,
  (T,) or (T, A).

``actions.csv`` has one row per frame (row t is the action taken after frame t), one or more
numeric columns, comma-separated, and an optional header row. Without actions every step
gets the action 0. Every episode must have actions, or none.

Frames: uint8 (0–255), uint16 (0–65535) or floats in [0, 1]; colour (RGB; an alpha channel
is dropped) is converted to gray with ``skimage.color.rgb2gray``; every frame is resized to
``size × size`` with ``skimage.transform.resize`` (linear interpolation, anti-aliasing when
shrinking; a non-square frame is stretched, not cropped). Video files (``.mp4``, ``.avi``,
…) are not read: extract their frames into a subfolder first.
"""

from __future__ import annotations

import csv
import hashlib
import re
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from noether_search.video.config import FolderSource, VideoConfig
from noether_search.video.data import VideoData, cut_windows

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv",
                  ".flv", ".gif")
ACTIONS = "actions.csv"


class FootageError(ValueError):
    """A folder of episodes that cannot be read; the message names the file and the fix."""


@dataclass(frozen=True, eq=False)
class Footage:
    """The episodes of a folder, loaded and resized.

    Attributes:
        root: the folder.
        names: each episode's file or subfolder name, in natural order.
        frames: per episode, (T_i, S, S) float32 gray frames in [0, 1].
        actions: per episode, (T_i, A) float32 actions (A = 1 and zeros without actions).
        has_actions: whether the folder gave actions.
        digest: 16 hex digits of a hash of every frame and action (the store key's part).
    """

    root: Path
    names: tuple[str, ...]
    frames: tuple[np.ndarray, ...]
    actions: tuple[np.ndarray, ...]
    has_actions: bool
    digest: str

    def source(self) -> FolderSource:
        """The folder's record in a :class:`~noether_search.video.VideoConfig`."""
        return FolderSource(path=str(self.root), digest=self.digest,
                            episodes=len(self.names),
                            actions=self.actions[0].shape[1] if self.has_actions else 0)


def natural_key(name: str) -> list:
    """Sort key with digit runs compared as numbers: ``f2.png`` before ``f10.png``."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower())
            for part in re.split(r"(\d+)", name) if part]


def load_footage(root: str | Path, size: int) -> Footage:
    """Read every episode of the folder ``root`` (format: the module's docstring).

    Args:
        root: the folder.
        size: frame side S in pixels after resizing.

    Returns:
        :class:`Footage`, the same arrays for the same files (deterministic).

    Raises:
        FootageError: no such folder, no episode, a video file, an unreadable or
            mismatched frame, a bad actions file; the message names the file.
    """
    root = Path(root)
    if not root.is_dir():
        raise FootageError(f"--data {root}: no such folder; give a folder with one "
                           "subfolder of frames (or one .npy/.npz array) per episode")
    entries = _episode_entries(root)
    frames, actions = [], []
    for path in entries:
        fr, act = _load_episode(path, size)
        frames.append(fr)
        actions.append(act)
    given = [a is not None for a in actions]
    if any(given) and not all(given):
        with_, without = ([p.name for p, g in zip(entries, given) if g is flag]
                          for flag in (True, False))
        raise FootageError(f"{root}: episodes {with_[:3]} have actions but {without[:3]} "
                           "do not; give every episode an actions file, or none")
    if all(given):
        widths = {a.shape[1] for a in actions}
        if len(widths) > 1:
            raise FootageError(f"{root}: the actions files have different numbers of "
                               f"columns {sorted(widths)}; use the same columns everywhere")
    else:
        actions = [np.zeros((len(f), 1), np.float32) for f in frames]
    return Footage(root=root, names=tuple(p.name for p in entries), frames=tuple(frames),
                   actions=tuple(actions), has_actions=all(given),
                   digest=_digest(frames, actions))


def _episode_entries(root: Path) -> list[Path]:
    entries = []
    for path in sorted(root.iterdir(), key=lambda p: natural_key(p.name)):
        if path.name.startswith("."):
            continue
        if path.suffix.lower() in VIDEO_SUFFIXES and path.is_file():
            raise _video_error(path)
        if path.is_dir() or path.suffix.lower() in (".npy", ".npz"):
            entries.append(path)
    if not entries:
        raise FootageError(f"{root}: no episode found (0 subfolders of frames, 0 .npy/.npz "
                           "arrays); put each episode's frames in a subfolder of it")
    return entries


def _video_error(path: Path) -> FootageError:
    return FootageError(
        f"{path}: video files are not read (no video decoder is a dependency); extract its "
        f"frames into a subfolder, e.g. `mkdir {path.with_suffix('')} && ffmpeg -i {path} "
        f"{path.with_suffix('')}/%05d.png`, and remove or move the video file")


def _load_episode(path: Path, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    if path.is_dir():
        frames = _load_image_dir(path, size)
        csv_path = path / ACTIONS
    elif path.suffix.lower() == ".npz":
        return _load_npz(path, size)
    else:
        frames = _load_array(path, _open_npy(path), size)
        csv_path = path.with_name(path.stem + ".actions.csv")
    actions = read_actions(csv_path, len(frames)) if csv_path.is_file() else None
    return frames, actions


def _open_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise FootageError(f"{path}: cannot read as a .npy array ({exc})") from None


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            names = list(z.files)
            arrays = {k: z[k] for k in names if k in ("frames", "actions")}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise FootageError(f"{path}: cannot read as a .npz archive ({exc})") from None
    if "frames" not in arrays:
        raise FootageError(f"{path}: holds {names}, not 'frames'; save it with "
                           "np.savez(path, frames=..., actions=...)")
    return arrays


def _load_npz(path: Path, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    arrays = _read_npz(path)
    frames = _load_array(path, arrays["frames"], size)
    if "actions" not in arrays:
        return frames, None
    act = np.asarray(arrays["actions"], dtype=np.float64)
    act = act.reshape(len(act), -1) if act.ndim in (1, 2) else act
    if act.ndim != 2 or len(act) != len(frames) or not np.isfinite(act).all():
        raise FootageError(f"{path}: 'actions' has shape {arrays['actions'].shape}; give "
                           f"(T,) or (T, A) finite numbers with T = {len(frames)} frames")
    return frames, act.astype(np.float32)


def _load_array(path: Path, arr: np.ndarray, size: int) -> np.ndarray:
    if arr.ndim not in (3, 4) or len(arr) == 0:
        raise FootageError(f"{path}: an array of shape {arr.shape}; give (T, H, W) or "
                           "(T, H, W, C) frames")
    return np.stack([_resize(to_gray(arr[t], f"{path} (frame {t})"), size)
                     for t in range(len(arr))])


def _load_image_dir(path: Path, size: int) -> np.ndarray:
    from skimage import io

    files = sorted((p for p in path.iterdir() if p.is_file()), key=lambda p: natural_key(p.name))
    for p in files:
        if p.suffix.lower() in VIDEO_SUFFIXES:
            raise _video_error(p)
    files = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise FootageError(f"{path}: no image file ({', '.join(IMAGE_SUFFIXES)}); put the "
                           "episode's frames there, one file per frame (--data is the "
                           "folder that holds one such subfolder per episode)")
    frames, first = [], None
    for p in files:
        try:
            img = io.imread(p)
        except Exception as exc:  # skimage/imageio raise many types for a bad file
            raise FootageError(f"{p}: cannot read as an image ({type(exc).__name__}: "
                               f"{exc}); replace or remove the file") from None
        gray = to_gray(img, str(p))
        if first is None:
            first = (p, gray.shape)
        elif gray.shape != first[1]:
            raise FootageError(f"{p}: {gray.shape[0]}×{gray.shape[1]} pixels, but "
                               f"{first[0].name} in the same episode is "
                               f"{first[1][0]}×{first[1][1]}; give every frame of an "
                               "episode the same size")
        frames.append(_resize(gray, size))
    return np.stack(frames)


def to_gray(img: np.ndarray, where: str) -> np.ndarray:
    """One frame, (H, W), (H, W, 1), (H, W, 2) gray + alpha, (H, W, 3) RGB or (H, W, 4)
    RGBA, uint8/uint16/bool or floats in [0, 1] -> (H, W) float64 gray in [0, 1]."""
    from skimage.color import rgb2gray
    from skimage.util import img_as_float

    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] in (1, 2):
        img = img[:, :, 0]
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise FootageError(f"{where}: a frame of shape {img.shape}; give (H, W) gray or "
                           "(H, W, 3) RGB (optionally with alpha)")
    if img.dtype in (np.uint8, np.uint16, np.bool_):
        img = img_as_float(img)
    elif img.dtype.kind == "f":
        img = img.astype(np.float64)
        if not np.isfinite(img).all() or img.min() < 0.0 or img.max() > 1.0:
            raise FootageError(f"{where}: float values outside [0, 1] (or not finite); "
                               "scale float frames to [0, 1]")
    else:
        raise FootageError(f"{where}: pixel type {img.dtype}; give uint8 (0-255), uint16 "
                           "(0-65535) or floats in [0, 1]")
    return rgb2gray(img) if img.ndim == 3 else img


def _resize(gray: np.ndarray, size: int) -> np.ndarray:
    """(H, W) -> (size, size) float32; a frame already that size is kept as it is."""
    if gray.shape != (size, size):
        from skimage.transform import resize

        gray = resize(gray, (size, size), order=1, mode="edge", anti_aliasing=True)
    return np.clip(gray, 0.0, 1.0).astype(np.float32)


def read_actions(path: Path, n_frames: int) -> np.ndarray:
    """(n_frames, A) float32 actions from a CSV file: one row per frame, A numeric columns,
    an optional header row. Raises FootageError naming the line and column of a bad cell."""
    with open(path, newline="") as f:
        rows = [(i, r) for i, r in enumerate(csv.reader(f), start=1)
                if r and any(c.strip() for c in r)]
    if rows and all(not _is_number(c) for c in rows[0][1]):
        rows = rows[1:]                                           # a header row
    if len(rows) != n_frames:
        raise FootageError(f"{path}: {len(rows)} rows of actions for {n_frames} frames; "
                           "give one row per frame (row t: the action after frame t)")
    width = len(rows[0][1])
    out = np.empty((n_frames, width), np.float64)
    for k, (line, row) in enumerate(rows):
        if len(row) != width:
            raise FootageError(f"{path}, line {line}: {len(row)} columns, the first row "
                               f"has {width}; give every row the same columns")
        for col, cell in enumerate(row, start=1):
            if not _is_number(cell):
                raise FootageError(f"{path}, line {line}, column {col}: {cell!r} is not a "
                                   "finite number; actions must be numeric")
            out[k, col - 1] = float(cell)
    return out.astype(np.float32)


def _is_number(cell: str) -> bool:
    try:
        return bool(np.isfinite(float(cell)))
    except ValueError:
        return False


def _digest(frames: list[np.ndarray], actions: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for fr, act in zip(frames, actions, strict=True):
        for arr in (np.ascontiguousarray(fr, np.float32), np.ascontiguousarray(act, np.float32)):
            h.update(repr(arr.shape).encode())
            h.update(arr.tobytes())
    return h.hexdigest()[:16]


def split_counts(n_episodes: int, train: int | None = None, val: int | None = None,
                 test: int | None = None, where: str = "the folder") -> tuple[int, int, int]:
    """(training, validation, test) episode counts, taken in that order from the sorted
    episodes. Defaults: validation and test a fifth of the episodes each (at least 1),
    training the rest; a count left out when the others are given takes the rest."""
    val = max(1, n_episodes // 5) if val is None else val
    if train is None and test is None:
        test = max(1, n_episodes // 5)
    if train is None:
        train = n_episodes - val - test
    elif test is None:
        test = n_episodes - train - val
    if min(train, val, test) < 1 or train + val + test > n_episodes:
        raise FootageError(
            f"{where}: {n_episodes} episode(s) found, but the split asks {train} training + "
            f"{val} validation + {test} test (each at least 1); add episodes or lower "
            "--train-episodes / --val-episodes / --episodes")
    return train, val, test


def folder_config(footage: Footage, config: VideoConfig, train: int | None = None,
                  val: int | None = None, test: int | None = None) -> VideoConfig:
    """``config`` with the folder's split (:func:`split_counts`; None takes the default),
    its record (``source``) and ``n_frames`` the shortest validation/test episode.

    Raises FootageError when the frames are not ``config.predictor.size`` pixels or an
    episode is too short for its split's windows (naming the episode).
    """
    t, v, e = split_counts(len(footage.names), train, val, test, str(footage.root))
    config = replace(config, n_train=t, n_val=v, n_test=e, source=footage.source())
    _check_episodes(footage, config)
    n_frames = min(len(f) for f in footage.frames[t:t + v + e])
    return replace(config, n_frames=n_frames)


def _check_episodes(footage: Footage, config: VideoConfig) -> None:
    size = footage.frames[0].shape[1]
    if size != config.predictor.size:
        raise FootageError(f"{footage.root}: loaded at {size}×{size} pixels, the predictor "
                           f"takes {config.predictor.size}; load it with that size")
    t, v = config.n_train, config.n_val
    for i, (name, fr) in enumerate(zip(footage.names[:t + v + config.n_test], footage.frames)):
        split, need = (("training", config.history + config.train_horizon) if i < t else
                       ("validation" if i < t + v else "test",
                        config.history + config.horizon))
        if len(fr) < need:
            raise FootageError(
                f"{footage.root / name}: {len(fr)} frames, but a {split} episode needs at "
                f"least {need} (history {config.history} + "
                f"{'training horizon' if split == 'training' else 'horizon'} "
                f"{need - config.history}); use longer episodes or remove this one")


def footage_data(footage: Footage, config: VideoConfig) -> VideoData:
    """The training, validation and test windows of a folder, split as ``config`` says
    (from :func:`folder_config`): training windows of history + training horizon frames at
    every start, validation and test windows of history + horizon every ``test_stride``."""
    if config.source is None or config.source.digest != footage.digest:
        raise ValueError("footage_data: the config does not describe this folder; make it "
                         "with folder_config(footage, config)")
    _check_episodes(footage, config)
    a, b = config.n_train, config.n_train + config.n_val
    c = b + config.n_test
    acts, frames = list(footage.actions), list(footage.frames)
    long = config.history + config.horizon
    return VideoData(
        train=cut_windows(acts[:a], frames[:a], config.history + config.train_horizon, 1),
        val=cut_windows(acts[a:b], frames[a:b], long, config.test_stride),
        test=cut_windows(acts[b:c], frames[b:c], long, config.test_stride))
