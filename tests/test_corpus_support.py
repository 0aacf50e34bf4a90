"""Helpers for the corpus tests and `scripts/reliability.py` (no tests here): run `qaagent` as a real
child and measure it — wall time, exit code and its own peak RSS.

The peak RSS comes
from `os.wait4` on that one child (Linux folds in the peaks of the
descendants it waited for, i.e. the suites), so it is not mixed up with the
other children the test process ran before.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Measured:
    """How one qaagent run ended."""

    returncode: int
    seconds: float
    peak_rss_mib: float
    output: str  #: stdout and stderr together


def qaagent_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a user's shell would give qaagent (no GitHub Actions variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "QAAGENT_"))}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


#: run by a small interpreter: forks, runs the command in the child and reports the child's own
#: peak RSS. Linux counts a process's peak from the memory it had before `exec` (the
#: parent's, for a fork of a big pytest worker), so the process measured must be forked
#: from something small, not from the test process itself.
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as report:
    report.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status) % 256)
"""


def measured_run(
    args: Sequence[str], *, cwd: Path, timeout: float = 120, env: Mapping[str, str] | None = None
) -> Measured:
    """`python -m qaagent ARGS` in `cwd`; output goes to a file so no pipe can block it."""
    log = cwd / ".qaagent-measured.log"
    peak = cwd / ".qaagent-measured.rss"
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(peak), sys.executable, "-m", "qaagent", *args],
            cwd=cwd,
            env=qaagent_env(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    seconds = time.monotonic() - started
    output = log.read_text(encoding="utf-8", errors="replace")
    log.unlink()
    kib = int(peak.read_text()) if peak.is_file() else 0
    peak.unlink(missing_ok=True)
    return Measured(proc.returncode, seconds, kib / 1024, output)
