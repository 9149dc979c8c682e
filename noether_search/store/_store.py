"""The results store: one folder per run, holding versioned HDF5 files written atomically.

A store is a directory (default ``results/<run>/``) with a marker file ``store.json``
(``{"format": "noether-search-store", "schema_version": N}``) and one HDF5 file per
artifact, addressed by a key such as ``"candidates/d7"`` (file ``candidates/d7.h5``).
Every artifact is written to a temporary file first and moved into place with
``os.replace`` only after it is complete and flushed, so a crash or ``kill -9`` can leave a
stray ``*.tmp`` file (removed once its writer is gone) but never a half-written artifact.
Every HDF5 file carries ``encoding-type``, ``encoding-version`` and a ``content-sha256``
checksum verified on read: a damaged file raises :class:`DamagedArtifact`, never decodes to
wrong numbers. Several processes may use one store at once. The layout is documented in
``docs/STORE.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import h5py

from noether_search.store._integrity import (CHECKSUM_ATTR, Integrity, content_digest,
                                             file_lock, tmp_is_stale, tmp_prefix)
from noether_search.store.codec import Codec

T = TypeVar("T")

SCHEMA_VERSION = 1
FORMAT_NAME = "noether-search-store"
MARKER = "store.json"
DEFAULT_ROOT = Path("results")
#: store-wide lock file (held while the store is created) and the folder of per-key locks
LOCK_NAME = ".lock"
LOCKS_DIR = ".locks"


class StoreError(Exception):
    """A results store cannot be opened or read; the message says which file and why."""


class DamagedArtifact(StoreError):
    """An artifact file is truncated, unreadable or fails its checksum.

    Attributes:
        path: the file. key: its artifact key. reason: what was found.
    """

    def __init__(self, path: Path, key: str, reason: str):
        self.path, self.key, self.reason = Path(path), key, reason
        super().__init__(f"{path}: artifact '{key}' is damaged ({reason}); rerun the stage "
                         "that writes it (fit, baseline and rank recompute a damaged artifact "
                         "and overwrite it), or delete the file")


class DamagedArtifactWarning(UserWarning):
    """A damaged artifact was found in the store and is being recomputed."""


def _atomic_target(path: Path) -> tuple[int, Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=tmp_prefix(path.name), suffix=".tmp", dir=path.parent)
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

    Attributes:
        damaged: the damaged artifacts found by :meth:`load_cached` and :meth:`usable`
            since the store was opened (each was treated as missing and is recomputed by
            the stage that asked); a CLI prints them.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.damaged: list[DamagedArtifact] = []

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | Path, create: bool = True, meta: dict | None = None) -> ResultsStore:
        """Open (and, with ``create``, initialise) the store at ``root``. Safe when several
        processes open or create the same store at once.

        Raises:
            StoreError: the folder exists but is not a store of a readable schema version,
                or does not exist and ``create`` is false.
        """
        root = Path(root)
        marker = root / MARKER
        if not marker.exists():
            if not create:
                raise StoreError(f"{root}: no results store here (no {MARKER}); run a stage "
                                 "first (e.g. `noether-search enumerate --out DIR`)")
            _check_empty(root)
            root.mkdir(parents=True, exist_ok=True)
            with file_lock(root / LOCK_NAME):  # one creator at a time
                if not marker.exists():
                    _check_empty(root)
                    cls(root).write_json(MARKER, {"format": FORMAT_NAME,
                                                  "schema_version": SCHEMA_VERSION,
                                                  **(meta or {})})
        _check_marker(marker)
        store = cls(root)
        store._clean_tmp()
        return store

    def _clean_tmp(self) -> None:
        """Remove temporary files whose writer is gone (never one a live process writes)."""
        for tmp in self.root.rglob("*.tmp"):
            if tmp_is_stale(tmp):
                with contextlib.suppress(OSError):
                    tmp.unlink()

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold an exclusive advisory lock on artifact ``key`` for the block (file
        ``.locks/<key>.lock``): a stage that computes ``key`` inside it runs once while other
        processes wait and then reuse the result."""
        with file_lock(self.root / LOCKS_DIR / f"{key}.lock"):
            yield

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
        replaces ``key`` only when the block exits without error, checksummed
        (``content-sha256``) from what HDF5 reads back."""
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
            with h5py.File(tmp, "r+") as f:
                f.attrs[CHECKSUM_ATTR] = content_digest(f)
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
        """Open artifact ``key`` read-only, checking its checksum and ``encoding-type``.

        Raises:
            DamagedArtifact: truncated or unreadable HDF5, or content that fails its checksum.
            StoreError: missing file, or another encoding type.
        """
        path = self.path(key)
        if not path.is_file():
            raise StoreError(f"{path}: artifact '{key}' is not in the store")
        try:
            f = h5py.File(path, "r")
        except OSError as exc:
            raise DamagedArtifact(path, key, f"not a readable HDF5 file: {exc}") from exc
        with f:
            self._verify(f, key)
            found = f.attrs.get("encoding-type")
            if encoding_type is not None and found != encoding_type:
                raise StoreError(f"{path}: key '{key}' holds encoding-type {found!r}, "
                                 f"expected {encoding_type!r}")
            yield f

    def _verify(self, f: h5py.File, key: str) -> Integrity:
        stored = f.attrs.get(CHECKSUM_ATTR)
        try:
            digest = content_digest(f)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise DamagedArtifact(self.path(key), key, f"HDF5 cannot read its content: "
                                  f"{type(exc).__name__}: {exc}") from exc
        if stored is None:
            return Integrity.UNVERIFIED
        if (stored.decode() if isinstance(stored, bytes) else str(stored)) != digest:
            raise DamagedArtifact(self.path(key), key, "content does not match its "
                                  "content-sha256 checksum")
        return Integrity.OK

    def integrity(self, key: str) -> Integrity:
        """Whether artifact ``key`` is present and intact (reads and checksums the file)."""
        if not self.exists(key):
            return Integrity.MISSING
        try:
            with h5py.File(self.path(key), "r") as f:
                return self._verify(f, key)
        except DamagedArtifact:
            return Integrity.DAMAGED
        except OSError:
            return Integrity.DAMAGED

    def check(self, prefix: str = "") -> dict[str, Integrity]:
        """Key -> :class:`Integrity` of every artifact under ``prefix``."""
        return {key: self.integrity(key) for key in self.keys(prefix)}

    def save(self, key: str, codec: Codec[T], obj: T) -> str:
        """Write ``obj`` as artifact ``key`` with ``codec`` (atomically); returns ``key``."""
        extra = codec.attrs(obj) if codec.attrs is not None else {}
        with self.write(key, codec.name, codec.version, **extra) as f:
            codec.encode(f, obj)
        return key

    def load(self, key: str, codec: Codec[T]) -> T:
        """Read artifact ``key`` with ``codec``.

        Raises:
            DamagedArtifact: the file is truncated, unreadable or fails its checksum, or
                (a file without checksum) cannot be decoded.
            StoreError: missing file, another encoding type, a newer encoding version than
                this noether-search writes, or a checksummed file ``codec`` cannot decode
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
                reason = f"cannot read it as {codec.name}: {type(exc).__name__}: {exc}"
                if CHECKSUM_ATTR not in f.attrs:
                    raise DamagedArtifact(self.path(key), key, reason) from exc
                raise StoreError(f"{self.path(key)}: {reason}; delete the file and rerun "
                                 "the stage that writes it") from exc

    def load_cached(self, key: str, codec: Codec[T]) -> T | None:
        """``load(key, codec)``, or None when the artifact is missing or damaged: a damaged
        one is added to :attr:`damaged` and a :class:`DamagedArtifactWarning` is issued,
        so the caller recomputes it and overwrites the file.

        Raises:
            StoreError: another encoding type or a newer encoding version.
        """
        if not self.exists(key):
            return None
        try:
            return self.load(key, codec)
        except DamagedArtifact as exc:
            self._note_damaged(exc)
            return None

    def usable(self, key: str) -> bool:
        """Whether artifact ``key`` is present and not damaged (a damaged one is noted as
        in :meth:`load_cached`)."""
        if not self.exists(key):
            return False
        try:
            with self.read(key):
                return True
        except DamagedArtifact as exc:
            self._note_damaged(exc)
            return False

    def _note_damaged(self, exc: DamagedArtifact) -> None:
        self.damaged.append(exc)
        warnings.warn(f"{exc.path}: artifact '{exc.key}' is damaged ({exc.reason}); "
                      "recomputing it", DamagedArtifactWarning, stacklevel=3)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

    # -- JSON side files (summary.json, store.json) ------------------------------------
    def read_json(self, name: str, command: str) -> dict | None:
        """The JSON object in ``root/name`` (written by :meth:`write_json`), or None when the
        file does not exist.

        Args:
            name: file name inside the store, e.g. ``"summary.json"``.
            command: the command that writes it, named in the error's fix.

        Raises:
            StoreError: the file exists but is not a readable JSON object.
        """
        path = self.root / name
        if not path.is_file():
            return None
        try:
            obj = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise StoreError(f"{path}: not readable JSON ({exc}); rerun `noether-search "
                             f"{command}` to rewrite it") from None
        if not isinstance(obj, dict):
            raise StoreError(f"{path}: expected a JSON object, got {type(obj).__name__}; "
                             f"rerun `noether-search {command}` to rewrite it")
        return obj

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


def _check_empty(root: Path) -> None:
    """A folder that is not a store may be used only when empty (or holding what a
    concurrent creator of the store has written so far)."""
    if not root.exists():
        return
    ours = (LOCK_NAME, MARKER)
    if any(p.name not in ours and not p.name.startswith(MARKER + ".") for p in root.iterdir()):
        raise StoreError(f"{root}: folder exists, is not empty and is not a results store; "
                         "choose another --out folder")


def _check_marker(marker: Path) -> None:
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
