"""A child's output: drained from its pipe, redacted once, written to its log, echoed by line.

`OutputReader` is the reader thread behind every child `qaagent.process` starts with
a log or an echo (suites, setup steps, the app): no pipe can fill up and block the
child, a secret never reaches the log or the console (`qaagent.redact_stream.StreamRedactor`
sees the output as it arrives), and a log that cannot be written stops being written,
not read.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO

from qaagent import files, redact
from qaagent.redact import Redactor
from qaagent.redact_stream import StreamRedactor

#: one line of a child's output on its way to the console
Echo = Callable[[str], None]
#: bytes of a suite attempt's output kept in its log file; the rest is drained and counted
MAX_LOG_BYTES = 64 * 1024 * 1024
#: lines echoed to the console per attempt before the echo stops (the log keeps going)
MAX_ECHO_LINES = 20000
#: lines kept for the "tail of the log" shown in error results
TAIL_LINES = 40
#: seconds the output pipe is still drained after the process group is gone
DRAIN = 2.0
#: bytes read from a pipe at a time
CHUNK = 64 * 1024
#: longest line kept whole in memory (tail, echo); longer output is split
MAX_LINE = 64 * 1024
#: seconds one wait for output lasts before the drain deadline is looked at again
WAKE = 0.2


class OutputReader(threading.Thread):
    """Drains a pipe, redacts it, writes it into a log file and echoes whole lines.

    Reads raw chunks (never an unbounded line), so a suite printing gigabytes without a
    newline costs at most MAX_LINE bytes of memory. Everything after the pipe — the log,
    the echo, the tail — sees the output redacted once, as it arrives. After the process
    is gone, `finish()` gives the pipe a short drain period: a descendant that escaped the
    process group and still holds the pipe cannot keep the run waiting. With
    `keep_draining` the pipe is still read after that, silently (nothing logged or
    echoed), so a process left running on purpose never blocks on a full pipe or dies
    writing to a closed one. A failing log write (ENOSPC, EFBIG) ends the logging, never
    the reading: `log_error` says what happened.
    """

    def __init__(
        self,
        pipe: IO[bytes] | None,
        log_path: Path | None,
        echo: Echo | None,
        *,
        name: str,
        max_echo_lines: int | None = MAX_ECHO_LINES,
        redactor: Redactor | None = None,
        log_file: IO[bytes] | None = None,
    ) -> None:
        super().__init__(name=f"reader-{name}", daemon=True)
        #: the log already opened by the caller (who closes it), written instead of `log_path`
        self.log_file = log_file
        self.fd = pipe.fileno() if pipe is not None else -1
        self.pipe = pipe
        self.log_path = log_path
        self.echo = echo
        self.max_echo_lines = max_echo_lines
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.total = 0
        self.echoed = 0
        #: why the log could not be written (whole); None while it is fine
        self.log_error: str | None = None
        self._written = 0
        self._truncated = False
        self._deadline: float | None = None
        self._keep_draining = False
        self._muted = False
        self._redactor = redactor if redactor is not None else redact.current()

    def finish(self, drain: float = DRAIN, *, keep_draining: bool = False) -> None:
        """Stop reading at EOF or `drain` seconds from now, whichever comes first; then close.

        With `keep_draining`, reading goes on silently after that, until end of file.
        """
        self._keep_draining = keep_draining
        self._deadline = time.monotonic() + drain
        if self.ident is not None:  # not started: the pipe hung up empty (qaagent.process)
            self.join(timeout=drain + 2)
        self._muted = True
        if not self.is_alive() and self.pipe is not None:
            with contextlib.suppress(OSError):
                self.pipe.close()

    def run(self) -> None:
        """Read until end of file or the drain deadline."""
        if self.fd < 0:
            return
        pending = b""
        decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        stream = StreamRedactor(self._redactor)
        with contextlib.ExitStack() as stack:
            log = self._open_log(stack)
            while (chunk := self._next_chunk()) is not None:
                if self._muted:
                    continue  # past the drain period: read and drop (keep_draining)
                if not chunk:  # the child is quiet: what the redactor holds back is shown now
                    pending = self._handle(log, pending, stream.flush())
                    continue
                self.total += len(chunk)
                pending = self._handle(log, pending, stream.feed(decoder.decode(chunk)))
            if not self._muted:
                rest = stream.feed(decoder.decode(b"", final=True)) + stream.close()
                pending = self._handle(log, pending, rest)
                if pending:
                    self._line(pending)
            if self._truncated and log is not None and not log.closed:
                self._log_write(log, f"\n[qaagent: {self.total} bytes of output in all]\n".encode())

    def _open_log(self, stack: contextlib.ExitStack) -> IO[bytes] | None:
        if self.log_file is not None:
            return self.log_file
        if self.log_path is None:
            return None
        try:
            # never through a link, a FIFO or a device the suite left in its place (files.open_append)
            return stack.enter_context(files.open_append(self.log_path))
        except OSError as exc:
            self.log_error = f"cannot open the log: {exc.strerror or exc}"
            return None

    def _handle(self, log: IO[bytes] | None, pending: bytes, text: str) -> bytes:
        """Log and split redacted output; the unfinished last line is returned."""
        data = text.encode("utf-8", "surrogateescape")
        if log is not None:
            self._log(log, data)
        return self._split(pending + data)

    def _next_chunk(self) -> bytes | None:
        """The next bytes of output, or b"" when the child was quiet for a moment.

        None at end of file, on error, or past the drain deadline.
        """
        if self._deadline is not None and time.monotonic() >= self._deadline:
            if not self._keep_draining:
                return None
            self._muted = True
        try:
            ready, _, _ = select.select([self.fd], [], [], WAKE)
            if ready:
                return os.read(self.fd, CHUNK) or None
        except (OSError, ValueError):
            return None
        return b""

    def _split(self, data: bytes) -> bytes:
        """Handle the whole lines in `data`; return the unfinished rest (never longer than MAX_LINE)."""
        *lines, rest = data.split(b"\n")
        for line in lines:
            self._line(line)
        if len(rest) > MAX_LINE:
            self._line(rest)
            return b""
        return rest

    def _log(self, log: IO[bytes], chunk: bytes) -> None:
        if self.log_error is not None or not chunk:
            return
        if self._written < MAX_LOG_BYTES:
            if self._log_write(log, chunk):
                self._written += len(chunk)
        elif not self._truncated:
            self._truncated = True
            self._log_write(log, b"\n[qaagent: log truncated here; further output was read and discarded]\n")

    def _log_write(self, log: IO[bytes], data: bytes) -> bool:
        """Write to the log; on failure stop logging (the pipe is still drained) and say why."""
        if self.log_error is not None:
            return False
        try:
            view = memoryview(data)
            while view:  # unbuffered: a short write at the limit, then the error on the rest
                view = view[log.write(view) or 0 :]
        except ValueError:  # the caller's log, closed once its process was done with
            return False
        except OSError as exc:
            why = exc.strerror or str(exc)
            self.log_error = f"{why} after {self._written} bytes; the rest was read and discarded"
            return False
        return True

    def _line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        self.tail.append(text[:MAX_LINE])
        self._echo(text)

    def _echo(self, text: str) -> None:
        if self.echo is None:
            return
        self.echoed += 1
        limit = self.max_echo_lines
        if limit is None or self.echoed < limit:
            self.echo(text)
        elif self.echoed == limit:
            self.echo(f"… echo stopped after {limit} lines; see {self.log_path}")
