"""One function call in a process forked from this one, beside this process's own work.

:class:`ForkedCall` runs ``fn(*args)`` in a forked child (POSIX ``os.fork``): the child
inherits this process's memory (the table, the data) without copying or sending it, and
runs on another core without sharing this process's interpreter lock. Its result comes
back pickled through a pipe. If the child fails (an error, killed, out of memory) the call
is made in this process instead, so a result is the same either way; :meth:`cancel` stops
the child (this process's own work failed or was interrupted).

The child runs nothing but ``fn`` and leaves with ``os._exit``: no exit handlers and no
flush of inherited streams (another thread, a progress bar's, may have held their locks at
the fork). ``fn`` must not need a lock another thread of this process could hold.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable


class ForkedCall:
    """``fn(*args)`` started in a forked process; :meth:`result` waits for it.

    Args:
        fn: the function (pure for the result to be the same in either process: the
            fallback calls it here).
        args: its arguments (inherited by the child, not sent).
    """

    def __init__(self, fn: Callable, *args):
        self.fn, self.args, self.done = fn, args, False
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: its result into the pipe, then leave at once
            code = 1
            try:
                os.close(read)
                with os.fdopen(write, "wb") as out:
                    pickle.dump(("ok", fn(*args)), out, protocol=pickle.HIGHEST_PROTOCOL)
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        self.pid, self.read = pid, read

    def _reap(self) -> bool:
        """Wait for the child; whether it exited normally."""
        _, status = os.waitpid(self.pid, 0)
        self.done = True
        return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0

    def result(self):
        """The child's result, or ``fn(*args)`` computed here if the child failed."""
        got = None
        try:
            with os.fdopen(self.read, "rb") as pipe:
                got = pickle.load(pipe)
        except (EOFError, pickle.UnpicklingError, OSError):
            got = None
        ok = self._reap()
        if ok and isinstance(got, tuple) and len(got) == 2 and got[0] == "ok":
            return got[1]
        return self.fn(*self.args)

    def cancel(self) -> None:
        """Stop the child (if it still runs) and wait for it; its result is not used."""
        if self.done:
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.close(self.read)
        except OSError:
            pass
        self._reap()
