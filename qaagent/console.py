"""Live console output shared by all suites: whole prefixed lines, never interleaved.

Every line passes the process's redactor (`qaagent.redact`) as it is written.
In GitHub Actions, suite output is untrusted: it is streamed between
`::stop-commands::<token>` and `::<token>::` so that no line a test prints can
issue a workflow command. Sequential runs also fold each suite into a
`::group::`; parallel runs cannot (lines of several suites interleave), so
there one stop-commands block covers the whole execution phase.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from qaagent import redact
from qaagent.github.commands import command, defuse, stop_commands_lines

#: longest line echoed to the console; the log file keeps the whole line
MAX_ECHO_LINE = 4000


class Console:
    """Thread-safe line writer with a `[suite]` prefix."""

    def __init__(self, stream: TextIO | None = None, *, github: bool = False, quiet: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.github = github
        self.quiet = quiet
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        """Print qaagent's own output, which may quote untrusted text (test names, messages).

        In Actions, a line that would read as a workflow command (`::name …::`, even indented:
        the runner strips leading blanks) is defused. qaagent's own commands never come
        through here: they are written with `qaagent.github.commands`.
        """
        if self.github:
            text = defuse(text)
        with self._lock:
            self._write(text)

    def suite_line(self, suite: str, text: str) -> None:
        """Echo one line of a suite's output with its prefix."""
        if self.quiet:
            return
        if len(text) > MAX_ECHO_LINE:
            text = text[:MAX_ECHO_LINE] + f" … [{len(text) - MAX_ECHO_LINE} more characters in the log]"
        if self.github:
            # The prefix guards the first line only: a CR inside the text starts a new one.
            text = defuse(text)
        with self._lock:
            self._write(f"[{suite}] {text}")

    def _write(self, text: str) -> None:
        text = redact.current().redact(text)
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            # A closed or broken console must never stop a run: the log files keep everything.
            pass

    @contextmanager
    def untrusted(self, title: str | None = None) -> Iterator[None]:
        """Stream untrusted output: a group (if titled) and a stop-commands block in Actions."""
        if not self.github:
            yield
            return
        stop, resume = stop_commands_lines()
        with self._lock:
            if title is not None:
                self._write(command("group", title))
            self._write(stop)
        try:
            yield
        finally:
            with self._lock:
                self._write(resume)
                if title is not None:
                    self._write(command("endgroup"))
