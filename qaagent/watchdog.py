"""The watchdog: no process group qaagent started outlives qaagent, even after a `kill -9`.

`PR_SET_PDEATHSIG` would not do: it reaches only the direct child (not the
browsers and servers in a suite's process group), and it fires when the
*thread* that started the child ends, while suites start from pool threads.
So with the first child qaagent starts comes a small watchdog process, in a
session of its own, reading a pipe whose write end only qaagent holds (it is
not inherited: `os.pipe` descriptors are close-on-exec). qaagent tells it each
process group it starts (``+PGID``) and each one it is done with (``-PGID``).
When qaagent ends in any way — exit, crash, SIGKILL, the OOM killer — the
kernel closes the pipe; the watchdog then sends SIGTERM to every group still
listed, waits `GRACE` seconds, sends SIGKILL, and exits. It ignores SIGINT,
SIGTERM and SIGHUP (a cancel is qaagent's to handle) and holds nothing but
the pipe. When qaagent exits normally nothing is listed any more, and the
watchdog just ends.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import threading

#: seconds between SIGTERM and SIGKILL once qaagent is gone
GRACE = 2.0

_PROGRAM = f"""
import os, signal, time
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)
groups, pending = set(), b""
while True:
    try:
        data = os.read(0, 65536)
    except InterruptedError:
        continue
    if not data:
        break
    *lines, pending = (pending + data).split(b"\\n")
    for line in lines:
        if line[:1] == b"+":
            groups.add(int(line[1:]))
        elif line[:1] == b"-":
            groups.discard(int(line[1:]))
def signal_all(sig):
    alive = False
    for group in groups:
        try:
            os.killpg(group, sig)
            alive = True
        except OSError:
            pass
    return alive
if signal_all(signal.SIGTERM):
    deadline = time.monotonic() + {GRACE}
    while time.monotonic() < deadline and signal_all(0):
        time.sleep(0.05)
    signal_all(signal.SIGKILL)
os._exit(0)  # nothing to flush or finalize: qaagent's exit waits for this one
"""

_lock = threading.Lock()
_proc: subprocess.Popen[bytes] | None = None
_pipe: int | None = None
_owner: int | None = None  #: the pid that started the watchdog (a forked copy of qaagent does not own it)


def _start() -> int | None:
    """Start the watchdog (once per process); the write end of its pipe, or None where it cannot run."""
    global _proc, _pipe, _owner  # noqa: PLW0603 - one watchdog per process
    if _pipe is not None and _owner == os.getpid():
        return _pipe
    read, write = os.pipe()
    try:
        _proc = subprocess.Popen(  # not process.spawn: it must outlive qaagent, on purpose
            [sys.executable, "-I", "-S", "-c", _PROGRAM],
            stdin=read,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            env={},
            start_new_session=True,
        )
    except OSError:
        os.close(write)
        return None
    finally:
        os.close(read)
    _pipe, _owner = write, os.getpid()
    atexit.register(_stop)
    return _pipe


def _send(line: str) -> None:
    with _lock:
        pipe = _start()
        if pipe is None:
            return
        with contextlib.suppress(OSError):
            os.write(pipe, line.encode() + b"\n")


def watch(pgid: int) -> None:
    """Stop process group `pgid` if qaagent ends before `release(pgid)`."""
    _send(f"+{pgid}")


def release(pgid: int) -> None:
    """Forget `pgid`: it is stopped, or left running on purpose."""
    if _pipe is not None:
        _send(f"-{pgid}")


def pid() -> int | None:
    """The watchdog's process id (so the orphan reaper spares it), None when none runs."""
    return _proc.pid if _proc is not None and _owner == os.getpid() else None


def _stop() -> None:
    """At a normal exit: close the pipe; the watchdog, with nothing listed, ends at once."""
    global _pipe  # noqa: PLW0603
    with _lock:
        if _pipe is not None and _owner == os.getpid():
            with contextlib.suppress(OSError):
                os.close(_pipe)
            _pipe = None
            if _proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    _proc.wait(timeout=GRACE + 1)
