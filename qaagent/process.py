"""Child processes of a run: own process group, closed stdin, timeout, log file, live echo.

This is where a suite's timeout is enforced. `subprocess.run(timeout=…)`
kills only the direct child, leaving grandchildren (browsers, dev servers)
alive and holding the output pipe; so every child here starts in a new
session, and stopping it means SIGTERM to the whole group, a grace period,
then SIGKILL to the group. Output is drained by a reader thread (no pipe can
fill up and block), written whole to a log file and echoed line by line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from qaagent.console import Console

#: seconds between SIGTERM and SIGKILL when a suite times out
TERM_GRACE = 5.0
#: seconds between SIGTERM and SIGKILL when the run is cancelled (GitHub kills the job 10 s after SIGINT)
CANCEL_GRACE = 1.5
#: bytes of a suite attempt's output kept in its log file; the rest is drained and counted
MAX_LOG_BYTES = 64 * 1024 * 1024
#: lines echoed to the console per attempt before the echo stops (the log keeps going)
MAX_ECHO_LINES = 20000
#: lines kept for the "tail of the log" shown in error results
TAIL_LINES = 40
#: how often the waiting loop checks the deadline and the cancel flag
POLL = 0.05


@dataclass(frozen=True, slots=True)
class ProcessOutcome:
    """How one child process ended."""

    returncode: int | None  #: None when it could not start; negative: killed by that signal
    timed_out: bool
    cancelled: bool
    started_at: float
    duration: float
    tail: str  #: the last lines of its output
    start_error: str | None = None  #: why it could not start
    output_bytes: int = 0


def kill_group(pgid: int, sig: int) -> bool:
    """Send `sig` to a process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still exists."""
    return kill_group(pgid, 0)


def stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the child's group, wait up to `grace` seconds, then SIGKILL the group."""
    pgid = proc.pid
    kill_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc.poll() is not None and not group_alive(pgid):
            break
        time.sleep(POLL)
    kill_group(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


class OutputReader(threading.Thread):
    """Drains a pipe into a log file and echoes whole lines to the console."""

    def __init__(self, pipe: object, log_path: Path, console: Console | None, prefix: str) -> None:
        super().__init__(name=f"reader-{prefix}", daemon=True)
        self.pipe = pipe
        self.log_path = log_path
        self.console = console
        self.prefix = prefix
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.total = 0
        self.echoed = 0

    def run(self) -> None:
        """Read until end of file."""
        written = 0
        truncated = False
        with self.log_path.open("ab") as log:
            for raw in iter(self.pipe.readline, b""):  # type: ignore[attr-defined]
                self.total += len(raw)
                if written < MAX_LOG_BYTES:
                    log.write(raw)
                    written += len(raw)
                elif not truncated:
                    truncated = True
                    log.write(b"\n[qaagent: log truncated here; further output was read and discarded]\n")
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                self.tail.append(text)
                self._echo(text)
            if truncated:
                log.write(f"\n[qaagent: {self.total} bytes of output in all]\n".encode())

    def _echo(self, text: str) -> None:
        if self.console is None:
            return
        self.echoed += 1
        if self.echoed < MAX_ECHO_LINES:
            self.console.suite_line(self.prefix, text)
        elif self.echoed == MAX_ECHO_LINES:
            self.console.suite_line(
                self.prefix, f"… echo stopped after {MAX_ECHO_LINES} lines; see {self.log_path}"
            )


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    log_path: Path,
    console: Console | None,
    prefix: str,
    cancel: threading.Event,
) -> ProcessOutcome:
    """Run one command to completion, timeout or cancellation; never raises for the child's sake."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"$ {' '.join(argv)}\n# cwd: {cwd}\n".encode(errors="replace"))
    started_at = time.time()
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except FileNotFoundError:
        reason = f"command not found: {argv[0]} (is it installed and on PATH?)"
        return _not_started(reason, started_at, log_path)
    except PermissionError:
        reason = f"command is not executable: {argv[0]}"
        return _not_started(reason, started_at, log_path)
    except OSError as exc:
        reason = f"cannot start {argv[0]}: {exc.strerror or exc}"
        return _not_started(reason, started_at, log_path)

    reader = OutputReader(proc.stdout, log_path, console, prefix)
    reader.start()
    timed_out = cancelled = False
    deadline = start + timeout
    while proc.poll() is None:
        if cancel.is_set():
            cancelled = True
            stop_group(proc, CANCEL_GRACE)
            break
        if time.monotonic() >= deadline:
            timed_out = True
            if console is not None:
                console.line(f"[{prefix}] timed out after {timeout:g} s: stopping its process group")
            stop_group(proc, TERM_GRACE)
            break
        time.sleep(POLL)
    # The child is gone; whatever it left in its group (daemons, browsers) goes too.
    kill_group(proc.pid, signal.SIGKILL)
    reader.join(timeout=5)
    if proc.stdout is not None:
        with contextlib.suppress(OSError):
            proc.stdout.close()
    duration = time.monotonic() - start
    if timed_out or cancelled:
        with log_path.open("ab") as log:
            why = f"timed out after {timeout:g} s" if timed_out else "cancelled"
            log.write(f"\n[qaagent: {why}; process group stopped]\n".encode())
    return ProcessOutcome(
        returncode=proc.returncode,
        timed_out=timed_out,
        cancelled=cancelled,
        started_at=started_at,
        duration=duration,
        tail="\n".join(reader.tail),
        output_bytes=reader.total,
    )


def _not_started(reason: str, started_at: float, log_path: Path) -> ProcessOutcome:
    with log_path.open("ab") as log:
        log.write(f"[qaagent: {reason}]\n".encode())
    return ProcessOutcome(
        returncode=None,
        timed_out=False,
        cancelled=False,
        started_at=started_at,
        duration=0.0,
        tail=reason,
        start_error=reason,
    )
