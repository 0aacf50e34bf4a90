"""Live console output shared by all suites: whole prefixed lines, never interleaved.

In GitHub Actions, suite output is untrusted: it is streamed between
`::stop-commands::<token>` and `::<token>::` so that no line a test prints can
issue a workflow command. Sequential runs also fold each suite into a
`::group::`; parallel runs cannot (lines of several suites interleave), so
there one stop-commands block covers the whole execution phase.
"""

from __future__ import annotations

import re
import secrets
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

#: longest line echoed to the console; the log file keeps the whole line
MAX_ECHO_LINE = 4000


class Console:
    """Thread-safe line writer with a `[suite]` prefix."""

    def __init__(self, stream: TextIO | None = None, *, github: bool = False, quiet: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.github = github
        self.quiet = quiet
        self._lock = threading.Lock()
        self._stop_token: str | None = None

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
        token = secrets.token_hex(16)
        with self._lock:
            if title is not None:
                self._write(f"::group::{_escape(title)}")
            self._write(f"::stop-commands::{token}")
            self._stop_token = token
        try:
            yield
        finally:
            with self._lock:
                self._write(f"::{token}::")
                self._stop_token = None
                if title is not None:
                    self._write("::endgroup::")


#: a `::` where the runner would see the start of a line: at the start of the text or after any
#: character that may break a line (CR, LF, VT, FF, FS-RS, NEL, LS, PS), past leading blanks
_COMMAND_START = re.compile(r"(^|[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029])(\s*)::")


def defuse(text: str) -> str:
    """Text in which no line can be taken for a workflow command.

    A `::` at a line start becomes `: :`; the runner's older `##[command]` form, which it
    accepts anywhere in a line, becomes `## [`.
    """
    return _COMMAND_START.sub(lambda m: f"{m[1]}{m[2]}: :", text).replace("##[", "## [")


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
