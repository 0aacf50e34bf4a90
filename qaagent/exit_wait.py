"""Waiting for a child's exit without a poll sleep: a pidfd, and the output reader started lazily."""

from __future__ import annotations

import math
import os
import select
import subprocess
import threading
import time

from qaagent.output import OutputReader


class ExitWaiter:
    """`wait(seconds)`: True as soon as the child has exited (it is reaped then), else after `seconds`.

    No poll sleep (it was most of a trivial suite's cost, docs/benchmarks.md): on Linux a pidfd
    becomes readable when the child exits, and the same poll watches its output pipe, so the
    `reader` thread starts only with the first byte or at the exit if the pipe is still open (a
    descendant holds it). A child whose pipe hangs up empty costs no thread. Elsewhere (no
    `os.pidfd_open`, or refused) a thread blocks in `wait()` and the reader starts at once.
    """

    def __init__(self, proc: subprocess.Popen[bytes], reader: OutputReader) -> None:
        self.proc = proc
        self.reader = reader
        self._event: threading.Event | None = None
        self._poll: select.poll | None = None
        self._fd = -1
        self._pipe = reader.fd  #: the output pipe while no reader reads it, else -1
        try:
            self._fd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):  # not Linux, an old kernel, or it has been reaped already
            self._start_reader()
            self._event = threading.Event()
            threading.Thread(target=self._reap, name=f"wait-{proc.pid}", daemon=True).start()
        else:
            self._poll = select.poll()
            self._poll.register(self._fd, select.POLLIN)
            if self._pipe >= 0:
                self._poll.register(self._pipe, select.POLLIN)

    def _reap(self) -> None:
        self.proc.wait()
        assert self._event is not None  # noqa: S101 - set before the thread starts
        self._event.set()

    def _start_reader(self) -> None:
        if self._pipe >= 0:
            if self._poll is not None:
                self._poll.unregister(self._pipe)
            self._pipe = -1
            self.reader.start()

    def _pipe_event(self, events: int, poll: select.poll) -> None:
        """Output to read (or a pipe still open at the exit): the reader starts. Hung up empty: none."""
        if events & select.POLLIN:
            self._start_reader()
        else:
            poll.unregister(self._pipe)
            self._pipe = -1

    def wait(self, seconds: float) -> bool:
        """Whether the child exited within `seconds` (then its status is collected)."""
        if self._poll is None:
            assert self._event is not None  # noqa: S101 - the fallback's
            return self._event.wait(seconds)
        deadline = time.monotonic() + seconds
        while ready := dict(self._poll.poll(max(0, math.ceil((deadline - time.monotonic()) * 1000)))):
            if self._pipe in ready:
                self._pipe_event(ready[self._pipe], self._poll)
            if self._fd in ready:
                self.proc.wait()  # it has exited: this only collects its status
                if self._pipe >= 0:  # its last bytes, a hang-up, or a descendant holding the pipe?
                    self._pipe_event(dict(self._poll.poll(0)).get(self._pipe, select.POLLIN), self._poll)
                return True
        return False

    def close(self) -> None:
        """Let go of the pidfd; a pipe not known to be empty gets its reader (after a cancel, a timeout)."""
        self._start_reader()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
