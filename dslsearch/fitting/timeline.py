"""Phase stamps of a fit run, for finding where only one core works (off by default).

With the environment variable ``DSLSEARCH_TIMELINE`` set to a file path when this module
is imported, :func:`stamp` appends one line per call to that file (every process and
thread of the run, forked ones included: they inherit the setting):
``pid<TAB>thread id<TAB>phase<TAB>monotonic s<TAB>thread CPU s``. A stamp ends the
thread's previous phase and begins ``phase``; a phase named ``wait:...`` or ``idle``
is a wait (the thread needs no core), ``end`` ends the thread's last phase.
``benchmarks/bench_fit_timeline.py --stamps`` reads the file and prints, per phase, the
CPU seconds and the seconds during which it was the only working thread of the run.

Unset (the default), :func:`stamp` returns at once: no file, no clock read.
"""

from __future__ import annotations

import os
import threading
import time

ENV = "DSLSEARCH_TIMELINE"
_PATH = os.environ.get(ENV) or None


def enabled() -> bool:
    """Whether stamps are written (``DSLSEARCH_TIMELINE`` was set at import)."""
    return _PATH is not None


def stamp(phase: str) -> None:
    """Begin ``phase`` in this thread (ending its previous one); a no-op unless enabled."""
    if _PATH is None:
        return
    line = (f"{os.getpid()}\t{threading.get_native_id()}\t{phase}\t{time.monotonic():.6f}\t"
            f"{time.thread_time():.6f}\n")
    fd = os.open(_PATH, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())   # one small O_APPEND write: lines never interleave
    finally:
        os.close(fd)


def read(path: str) -> list[tuple[int, int, str, float, float]]:
    """The stamps of ``path``: ``(pid, thread id, phase, monotonic s, thread CPU s)``, in
    file order."""
    out = []
    with open(path) as f:
        for line in f:
            pid, tid, phase, t, c = line.rstrip("\n").split("\t")
            out.append((int(pid), int(tid), phase, float(t), float(c)))
    return out


def phases(stamps, numbered: bool = False) -> list[tuple[int, int, str, float, float, float]]:
    """Each thread's phases ``(pid, tid, phase, begin s, end s, CPU s)`` between its
    consecutive stamps (waits and ``end`` included as phases of zero work). Without
    ``numbered`` a trailing number is dropped from the phase (``shard 12``: ``shard``)."""
    last: dict = {}
    out = []
    for pid, tid, phase, t, c in stamps:
        prev = last.get((pid, tid))
        if prev is not None:
            name = prev[0] if numbered else prev[0].rstrip("0123456789").rstrip()
            out.append((pid, tid, name, prev[1], t, max(c - prev[2], 0.0)))
        last[(pid, tid)] = (phase, t, c)
    return out


def is_wait(phase: str) -> bool:
    """Whether ``phase`` names a wait (no core needed)."""
    return phase.startswith("wait") or phase in ("idle", "end")


def alone(spans) -> dict[str, tuple[float, float, float, float]]:
    """Per phase name: ``(CPU s, wall s, seconds alone, CPU s alone)``, where "alone" is
    the time during which that phase's thread was the only one of the run in a working
    phase (so one core idle on a 2-core machine), and "CPU s alone" its CPU time then
    (its phase's CPU time spread evenly over the phase): what the alone time would be on
    idle cores, the measure to use on a loaded machine. ``spans`` is :func:`phases`'
    output."""
    work = [s for s in spans if not is_wait(s[2]) and s[4] > s[3]]
    edges = sorted({t for s in work for t in (s[3], s[4])})
    result: dict[str, list[float]] = {}
    for s in spans:
        r = result.setdefault(s[2], [0.0, 0.0, 0.0, 0.0])
        r[0] += s[5]
        r[1] += s[4] - s[3]
    for lo, hi in zip(edges[:-1], edges[1:]):
        mid = (lo + hi) / 2
        busy = [s for s in work if s[3] <= mid < s[4]]
        if len(busy) == 1:
            s = busy[0]
            result[s[2]][2] += hi - lo
            result[s[2]][3] += (hi - lo) * s[5] / (s[4] - s[3])
    return {k: tuple(v) for k, v in result.items()}
