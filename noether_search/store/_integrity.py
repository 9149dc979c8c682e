"""Checksums of artifacts and stale temporary files: what the store needs to never lie.

Every artifact carries the root attribute ``content-sha256``: SHA-256 over everything the
file holds as HDF5 reads it back (every group and dataset by sorted path, with dtype, shape
and values, and every attribute by sorted name, except the checksum itself). It is computed
from the finished file reopened read-back, so it checks what a reader will decode, and
verified on every read. Files written before checksums existed have none: they are read
as *unverified*.

Temporary files are named ``<file>.<host>.<pid>.<random>.tmp`` so that whoever cleans up can
tell whether their writer is still alive.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

#: root attribute holding the artifact's checksum (hex SHA-256)
CHECKSUM_ATTR = "content-sha256"
#: a temporary file of another host (or of an unknown writer) older than this is stale [s]
STALE_SECONDS = 24 * 3600
_TMP_RE = re.compile(r"\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")


class Integrity(enum.Enum):
    """What a read of an artifact found; the value is the user-facing text."""

    OK = "checksum verified"
    UNVERIFIED = "no checksum (written before checksums were stored)"
    DAMAGED = "damaged"
    MISSING = "not in the store"


# -- checksums -------------------------------------------------------------------------------
def _value_bytes(value) -> bytes:
    if isinstance(value, str):
        return b"s" + value.encode()
    if isinstance(value, bytes):
        return b"b" + value
    arr = np.asarray(value)
    if arr.dtype.kind == "O":
        parts = [_value_bytes(v) for v in arr.ravel().tolist()]
        return (f"O{arr.shape}".encode()
                + b"".join(len(p).to_bytes(8, "little") + p for p in parts))
    return f"{arr.dtype.str}{arr.shape}".encode() + np.ascontiguousarray(arr).tobytes()


def _hash_attrs(h, obj, path: str) -> None:
    for name in sorted(obj.attrs):
        if path == "/" and name == CHECKSUM_ATTR:
            continue
        h.update(f"@{path}:{name}=".encode())
        h.update(_value_bytes(obj.attrs[name]))


def content_digest(f) -> str:
    """Hex SHA-256 over the content of the open ``h5py.File`` ``f`` (see the module doc).

    Raises:
        OSError, ValueError, KeyError: HDF5 cannot read part of the file.
    """
    import h5py

    h = hashlib.sha256()
    _hash_attrs(h, f, "/")
    names: list[str] = []
    f.visit(names.append)
    for name in sorted(names):
        obj = f[name]
        if isinstance(obj, h5py.Dataset):
            h.update(f"D{name}:{obj.dtype.str}:{obj.shape}".encode())
            if obj.shape is not None:
                h.update(_value_bytes(obj[()]))
        else:
            h.update(f"G{name}".encode())
        _hash_attrs(h, obj, name)
    return h.hexdigest()


# -- temporary files -------------------------------------------------------------------------
def host_token() -> str:
    """This machine's name as it appears in temporary file names (no dots)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def tmp_prefix(name: str) -> str:
    """``<name>.<host>.<pid>.``: the prefix of a temporary file written by this process."""
    return f"{name}.{host_token()}.{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    except OSError:
        return True
    return True


def tmp_is_stale(path: Path, now: float | None = None) -> bool:
    """Whether the temporary file ``path`` was left by a writer that is gone: a process of
    this host that no longer runs, or (another host, or a name without a writer) a file
    untouched for :data:`STALE_SECONDS`."""
    m = _TMP_RE.search(path.name)
    if m is not None and m.group("host") == host_token():
        return not _pid_alive(int(m.group("pid")))
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except OSError:
        return False
    return age > STALE_SECONDS


# -- advisory locks --------------------------------------------------------------------------
@contextlib.contextmanager
def file_lock(path: Path, shared: bool = False) -> Iterator[None]:
    """Hold an advisory ``flock`` on ``path`` (created if needed) for the block; released
    when the block ends or the process dies. A no-op where ``fcntl`` does not exist."""
    try:
        import fcntl
    except ImportError:  # Windows: atomic renames still keep artifacts whole
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
