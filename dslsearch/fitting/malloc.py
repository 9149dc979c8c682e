"""The C allocator of a fitting process (glibc only; elsewhere these do nothing).

Nothing here changes a value: only where arrays live and when freed memory goes back to
the operating system.
"""

from __future__ import annotations


def _libc():
    """The process's C library when it is glibc (``mallopt``, ``malloc_trim``), else None."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)  # the symbols of this process, the C library's among them
    except (OSError, TypeError):
        return None
    ok = all(hasattr(libc, f) for f in ("gnu_get_libc_version", "mallopt", "malloc_trim"))
    return libc if ok else None


#: glibc ``mallopt`` settings of a process that fits: ``(param, value)`` for M_MMAP_THRESHOLD
#: (-3), M_TRIM_THRESHOLD (-1), M_TOP_PAD (-2)
MALLOC_SETTINGS = ((-3, 32 << 20), (-1, 128 << 20), (-2, 32 << 20))
_MALLOC_TUNED: list[bool] = []


def tune_malloc() -> bool:
    """Keep freed arrays of up to 32 MB in the process's heap for reuse (glibc only; once
    per process; returns whether the settings were applied).

    The fits allocate and free many arrays of a few MB (the grid of starts is ``(G, 1, 24,
    N)``). By default glibc serves each from fresh ``mmap`` pages and unmaps it when freed,
    so every array costs a page fault per 4 KB (about half a million faults, a third of a
    worker's CPU time, for the pendulum at depth 7). With these settings the heap keeps up
    to 128 MB of freed memory instead. Values are unchanged: only where arrays live."""
    if _MALLOC_TUNED:
        return _MALLOC_TUNED[0]
    libc = _libc()
    ok = libc is not None and all(libc.mallopt(param, value) == 1
                                  for param, value in MALLOC_SETTINGS)
    _MALLOC_TUNED.append(ok)
    return ok


def release_free_memory() -> bool:
    """Give the heap's free memory back to the operating system (``malloc_trim(0)``);
    returns whether it could. The planner calls it once it is done: a depth-9 plan leaves
    about 80 MB of freed but resident memory in the calling process."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))
