"""Descendants that escape their process group: adopted as a subreaper, stopped when suites end.

A suite can start a daemon in a session of its own (`setsid`, `--daemonize`,
`pg_ctl start`): the process-group kill of `qaagent.process` does not reach
it. On Linux qaagent becomes a child subreaper, so such orphans re-parent to
it instead of init; `OrphanReaper.stop` stops them between sequential suites
and when the run ends (never the app: its pid is kept).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import TYPE_CHECKING

from qaagent import watchdog
from qaagent.process import POLL

if TYPE_CHECKING:
    from qaagent.console import Console


#: prctl option that makes orphaned descendants re-parent to this process instead of init (Linux)
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux); False where the platform cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _read_proc(path: str) -> bytes:
    """A small /proc file's bytes: open, read to the end, close (no buffered file object's probing)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 8192):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _proc_stat(pid: int | str) -> list[str]:
    """The fields of /proc/PID/stat after the command name (state first, then the parent)."""
    try:
        stat = _read_proc(f"/proc/{pid}/stat").decode(errors="replace")
    except OSError:
        return []
    # comm may contain spaces and parentheses: the fields after the last ')' are fixed.
    return stat[stat.rfind(")") + 2 :].split()


def has_children() -> bool:
    """Whether this process has any child at all, without scanning /proc.

    `waitid` with ``WNOWAIT`` looks without reaping (a `Popen` still collects its own
    child's status); ECHILD means no child is left, so no orphan either: the
    common case after a suite, which then costs no scan of every process.
    """
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    except (OSError, AttributeError):  # no waitid on this platform: assume there may be
        return True
    return True


def _listed_children(pid: int) -> list[str] | None:
    """The child pids the kernel lists for `pid` (`/proc/PID/task/*/children`), or None.

    One small read per thread instead of reading the stat file of every process on
    the machine (qaagent's watchdog is always a child, so after the first suite
    `has_children` alone never spares the scan). Orphans re-parented to a
    subreaper are listed under one of its threads. None where the kernel has no
    such file (CONFIG_PROC_CHILDREN off, not Linux): the caller scans /proc.
    """
    try:
        tasks = [entry.name for entry in os.scandir(f"/proc/{pid}/task")]
    except OSError:
        return None
    listed: list[str] = []
    for task in tasks:
        try:
            text = _read_proc(f"/proc/{pid}/task/{task}/children")
        except FileNotFoundError:
            if not Path(f"/proc/{pid}/task/{task}").exists():
                continue  # the thread ended between the listing and the read
            return None  # the kernel has no children file
        except OSError:
            return None
        listed.extend(text.decode("ascii", errors="replace").split())
    return listed


def children_of(pid: int, ignore: AbstractSet[int] = frozenset()) -> dict[int, str]:
    """Live children of `pid` with their state letter, read from /proc (empty elsewhere).

    `ignore`: pids whose stat file is not read (the spared watchdog and app: no read per suite).
    """
    if pid == os.getpid() and not has_children():
        return {}
    found: dict[int, str] = {}
    entries = _listed_children(pid)
    if entries is None:
        try:
            entries = [p.name for p in Path("/proc").iterdir() if p.name.isdigit()]
        except OSError:
            return found
    for entry in entries:
        if ignore and int(entry) in ignore:
            continue
        fields = _proc_stat(entry)
        if fields[1:2] == [str(pid)]:  # (a listed child is checked too: it may have gone)
            found[int(entry)] = fields[0]
    return found


def stop_orphans(keep: Iterable[int] = (), grace: float = 1.0) -> list[int]:
    """Stop this process's children not in `keep` (orphans adopted as subreaper) and reap them."""
    me = os.getpid()
    spared = set(keep)
    stopped: list[int] = []
    for _ in range(5):  # killing an orphan re-parents its own children to us: look again
        children = children_of(me, spared)
        orphans = [pid for pid, state in children.items() if state != "Z"]
        if not orphans:  # the common case: nothing to stop, the zombies of this listing reaped
            _reap(children)
            break
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
        _reap(children_of(me, spared))
        stopped.extend(orphans)
    return stopped


def _alive(pid: int) -> bool:
    return _proc_stat(pid)[:1] not in ([], ["Z"])


def _reap(pids: Iterable[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


class OrphanReaper:
    """The run's subreaper: what suites leave running outside their process group is stopped."""

    def __init__(self, console: Console) -> None:
        self.console = console
        #: False where the platform cannot adopt orphans: `stop` then does nothing
        self.active = become_subreaper()
        self._before = set(children_of(os.getpid())) if self.active else set()

    def stop(self, keep: Iterable[int] = (), *, hurry: bool = False) -> None:
        """Stop adopted orphans, sparing `keep` (the app) and what ran before the suites."""
        if not self.active:
            return
        spared = self._before | set(keep)
        guard = watchdog.pid()
        if guard is not None:
            spared.add(guard)  # qaagent's own watchdog, started with the first child
        stopped = stop_orphans(keep=spared, grace=0.5 if hurry else 1.0)
        if stopped:
            self.console.line(
                f"qaagent: stopped {len(stopped)} process(es) that suites left running outside "
                "their process group"
            )
