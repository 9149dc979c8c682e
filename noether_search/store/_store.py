"""The results store: one folder per run, holding versioned HDF5 files written atomically.

A store is a directory (default ``results/<run>/``) with a marker file ``store.json``
(``{"format": "noether-search-store", "schema_version": N}``) and one HDF5 file per
artifact, addressed by a key such as ``"candidates/d7"`` (file ``candidates/d7.h5``).
Every artifact is written to a temporary file first and moved into place with
``os.replace`` only after it is complete and flushed, so a crash or ``kill -9`` can leave a
stray ``*.tmp`` file (ignored and cleaned up) but never a half-written artifact. Every HDF5
file carries ``encoding-type`` and ``encoding-version`` root attributes. The layout is
documented in ``docs/STORE.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import h5py

from noether_search.store.codec import Codec

T = TypeVar("T")

SCHEMA_VERSION = 1
FORMAT_NAME = "noether-search-store"
MARKER = "store.json"
DEFAULT_ROOT = Path("results")


class StoreError(Exception):
    """A results store cannot be opened or read; the message says which file and why."""


def _atomic_target(path: Path) -> tuple[int, Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are ordinary files
    return fd, Path(tmp)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class ResultsStore:
    """A run's results folder.

    Args:
        root: the folder. Use :meth:`open` to create or validate it.
    """

    def __init__(self, root: Path):
        self.root = Path(root)

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | Path, create: bool = True, meta: dict | None = None) -> ResultsStore:
        """Open (and, with ``create``, initialise) the store at ``root``.

        Raises:
            StoreError: the folder exists but is not a store of a readable schema version,
                or does not exist and ``create`` is false.
        """
        root = Path(root)
        marker = root / MARKER
        if marker.exists():
            try:
                info = json.loads(marker.read_text())
            except (OSError, ValueError) as exc:
                raise StoreError(f"{marker}: not a readable store marker ({exc}); "
                                 "choose another --out folder or delete this one") from exc
            if info.get("format") != FORMAT_NAME:
                raise StoreError(f"{marker}: not a noether-search store; choose another --out folder")
            version = info.get("schema_version")
            if not isinstance(version, int) or version > SCHEMA_VERSION:
                raise StoreError(
                    f"{marker}: schema version {version!r} is newer than this noether-search "
                    f"understands ({SCHEMA_VERSION}); upgrade noether-search")
            store = cls(root)
            store._clean_tmp()
            return store
        if not create:
            raise StoreError(f"{root}: no results store here (no {MARKER}); run a stage first "
                             "(e.g. `noether-search enumerate --out DIR`)")
        if root.exists() and any(root.iterdir()):
            raise StoreError(f"{root}: folder exists, is not empty and is not a results store; "
                             "choose another --out folder")
        root.mkdir(parents=True, exist_ok=True)
        store = cls(root)
        store.write_json(MARKER, {"format": FORMAT_NAME, "schema_version": SCHEMA_VERSION,
                                  **(meta or {})})
        return store

    def _clean_tmp(self) -> None:
        for tmp in self.root.rglob("*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()

    # -- HDF5 artifacts ------------------------------------------------------------------
    def path(self, key: str) -> Path:
        """The file that holds artifact ``key`` (``"fits/d7/shard-00003"`` -> ``.../shard-00003.h5``)."""
        return self.root / f"{key}.h5"

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def keys(self, prefix: str = "") -> list[str]:
        """Sorted keys of the artifacts under ``prefix`` (a folder key such as ``"fits/d7"``)."""
        base = self.root / prefix if prefix else self.root
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(self.root).with_suffix("")) for p in base.rglob("*.h5"))

    @contextlib.contextmanager
    def write(self, key: str, encoding_type: str, encoding_version: int = 1,
              **attrs: Any) -> Iterator[h5py.File]:
        """Write artifact ``key`` atomically: yields an open ``h5py.File`` on a temp file that
        replaces ``key`` only when the block exits without error."""
        target = self.path(key)
        fd, tmp = _atomic_target(target)
        os.close(fd)
        try:
            with h5py.File(tmp, "w") as f:
                f.attrs["encoding-type"] = encoding_type
                f.attrs["encoding-version"] = encoding_version
                f.attrs["schema-version"] = SCHEMA_VERSION
                for name, value in attrs.items():
                    f.attrs[name] = value
                yield f
                f.flush()
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    @contextlib.contextmanager
    def read(self, key: str, encoding_type: str | None = None) -> Iterator[h5py.File]:
        """Open artifact ``key`` read-only, checking its ``encoding-type``.

        Raises:
            StoreError: missing file, unreadable HDF5, or another encoding type.
        """
        path = self.path(key)
        if not path.is_file():
            raise StoreError(f"{path}: artifact '{key}' is not in the store")
        try:
            f = h5py.File(path, "r")
        except OSError as exc:
            raise StoreError(f"{path}: not a readable HDF5 file ({exc}); delete it and rerun "
                             "the stage that writes it") from exc
        with f:
            found = f.attrs.get("encoding-type")
            if encoding_type is not None and found != encoding_type:
                raise StoreError(f"{path}: key '{key}' holds encoding-type {found!r}, "
                                 f"expected {encoding_type!r}")
            yield f

    def save(self, key: str, codec: Codec[T], obj: T) -> str:
        """Write ``obj`` as artifact ``key`` with ``codec`` (atomically); returns ``key``."""
        extra = codec.attrs(obj) if codec.attrs is not None else {}
        with self.write(key, codec.name, codec.version, **extra) as f:
            codec.encode(f, obj)
        return key

    def load(self, key: str, codec: Codec[T]) -> T:
        """Read artifact ``key`` with ``codec``.

        Raises:
            StoreError: missing or unreadable file, another encoding type, a newer encoding
                version than this noether-search writes, or a file ``codec`` cannot decode
                (the message names the file and key).
        """
        with self.read(key, codec.name) as f:
            version = f.attrs.get("encoding-version", 1)
            if int(version) > codec.version:
                raise StoreError(f"{self.path(key)}: '{key}' has {codec.name} encoding version "
                                 f"{version}, newer than this noether-search reads "
                                 f"({codec.version}); upgrade noether-search")
            try:
                return codec.decode(f)
            except (KeyError, ValueError, TypeError, OSError) as exc:
                raise StoreError(f"{self.path(key)}: cannot read '{key}' as {codec.name} "
                                 f"({type(exc).__name__}: {exc}); delete the file and rerun "
                                 "the stage that writes it") from exc

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

    # -- JSON side files (summary.json, store.json) ------------------------------------
    def write_json(self, name: str, obj: Any) -> Path:
        """Atomically write ``obj`` as JSON to ``root/name``; returns the path."""
        target = self.root / name
        fd, tmp = _atomic_target(target)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(json_clean(obj), fh, indent=2, sort_keys=False, allow_nan=False)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return target


def json_clean(obj: Any) -> Any:
    """``obj`` with numpy values made plain and non-finite floats made ``None`` (strict JSON)."""
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {str(k): json_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_clean(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def default_run_dir(run_name: str) -> Path:
    """``results/<run_name>``: where a run's store goes when ``--out`` is not given."""
    return DEFAULT_ROOT / run_name
