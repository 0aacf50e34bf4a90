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
import ctypes
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from qaagent.console import Console

#: seconds between SIGTERM and SIGKILL when a suite times out
TERM_GRACE = 5.0
#: seconds between SIGTERM and SIGKILL when the run is cancelled (GitHub kills the job 10 s after SIGINT)
CANCEL_GRACE = 1.0
#: bytes of a suite attempt's output kept in its log file; the rest is drained and counted
MAX_LOG_BYTES = 64 * 1024 * 1024
#: lines echoed to the console per attempt before the echo stops (the log keeps going)
MAX_ECHO_LINES = 20000
#: lines kept for the "tail of the log" shown in error results
TAIL_LINES = 40
#: how often the waiting loop checks the deadline and the cancel flag
POLL = 0.05
#: seconds the output pipe is still drained after the process group is gone
DRAIN = 2.0
#: the same when the run is cancelled (GitHub kills the job 10 s after the first signal)
CANCEL_DRAIN = 0.3
#: bytes read from a pipe at a time
CHUNK = 64 * 1024
#: longest line kept whole in memory (tail, echo); longer output is split
MAX_LINE = 64 * 1024


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
    """Drains a pipe into a log file and echoes whole lines to the console.

    Reads raw chunks (never an unbounded line), so a suite printing gigabytes without a
    newline costs at most MAX_LINE bytes of memory. After the process is gone, `finish()`
    gives the pipe a short drain period: a descendant that escaped the process group and
    still holds the pipe cannot keep the run waiting.
    """

    def __init__(self, pipe: IO[bytes] | None, log_path: Path, console: Console | None, prefix: str) -> None:
        super().__init__(name=f"reader-{prefix}", daemon=True)
        self.fd = pipe.fileno() if pipe is not None else -1
        self.pipe = pipe
        self.log_path = log_path
        self.console = console
        self.prefix = prefix
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.total = 0
        self.echoed = 0
        self._written = 0
        self._truncated = False
        self._deadline: float | None = None

    def finish(self, drain: float = DRAIN) -> None:
        """Stop reading at EOF or `drain` seconds from now, whichever comes first; then close."""
        self._deadline = time.monotonic() + drain
        self.join(timeout=drain + 2)
        if not self.is_alive() and self.pipe is not None:
            with contextlib.suppress(OSError):
                self.pipe.close()

    def run(self) -> None:
        """Read until end of file or the drain deadline."""
        if self.fd < 0:
            return
        pending = b""
        with self.log_path.open("ab") as log:
            while (chunk := self._next_chunk()) is not None:
                self.total += len(chunk)
                self._log(log, chunk)
                pending = self._split(pending + chunk)
            if pending:
                self._line(pending)
            if self._truncated:
                log.write(f"\n[qaagent: {self.total} bytes of output in all]\n".encode())

    def _next_chunk(self) -> bytes | None:
        """The next bytes of output; None at end of file, on error, or past the drain deadline."""
        while self._deadline is None or time.monotonic() < self._deadline:
            try:
                ready, _, _ = select.select([self.fd], [], [], POLL * 4)
                if ready:
                    return os.read(self.fd, CHUNK) or None
            except (OSError, ValueError):
                return None
        return None

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
        if self._written < MAX_LOG_BYTES:
            log.write(chunk)
            self._written += len(chunk)
        elif not self._truncated:
            self._truncated = True
            log.write(b"\n[qaagent: log truncated here; further output was read and discarded]\n")

    def _line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        self.tail.append(text[:MAX_LINE])
        self._echo(text)

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
    reader.finish(CANCEL_DRAIN if cancelled else DRAIN)
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


# -- descendants that escape their process group --------------------------------------------------

#: prctl option that makes orphaned descendants re-parent to this process instead of init (Linux)
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux); False where the platform cannot.

    A suite can start a daemon in a session of its own (`setsid`, `--daemonize`,
    `pg_ctl start`): the process-group kill does not reach it. As a subreaper, qaagent
    inherits such orphans and `stop_orphans` stops them when the run ends.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _proc_stat(pid: int | str) -> list[str]:
    """The fields of /proc/PID/stat after the command name (state first, then the parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes().decode(errors="replace")
    except OSError:
        return []
    # comm may contain spaces and parentheses: the fields after the last ')' are fixed.
    return stat[stat.rfind(")") + 2 :].split()


def children_of(pid: int) -> dict[int, str]:
    """Live children of `pid` with their state letter, read from /proc (empty elsewhere)."""
    found: dict[int, str] = {}
    try:
        entries = [p.name for p in Path("/proc").iterdir() if p.name.isdigit()]
    except OSError:
        return found
    for entry in entries:
        fields = _proc_stat(entry)
        if fields[1:2] == [str(pid)]:
            found[int(entry)] = fields[0]
    return found


def stop_orphans(keep: Iterable[int] = (), grace: float = 1.0) -> list[int]:
    """Stop this process's children not in `keep` (orphans adopted as subreaper) and reap them."""
    me = os.getpid()
    spared = set(keep)
    stopped: list[int] = []
    for _ in range(5):  # killing an orphan re-parents its own children to us: look again
        orphans = [pid for pid, state in children_of(me).items() if pid not in spared and state != "Z"]
        for pid in orphans:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while orphans and time.monotonic() < deadline and any(_alive(pid) for pid in orphans):
            _reap(orphans)
            time.sleep(POLL)
        for pid in orphans:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        _reap([pid for pid in children_of(me) if pid not in spared])
        stopped.extend(orphans)
        if not orphans:
            break
    return stopped


def _alive(pid: int) -> bool:
    return _proc_stat(pid)[:1] not in ([], ["Z"])


def _reap(pids: Iterable[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
