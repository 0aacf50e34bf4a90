"""Helpers for the corpus tests and `scripts/reliability.py` (no tests here): run `qaagent` as a real
child and measure it — wall time, exit code and its own peak RSS.

The peak RSS comes
from `os.wait4` on that one child (Linux folds in the peaks of the
descendants it waited for, i.e. the suites), so it is not mixed up with the
other children the test process ran before.
"""

from __future__ import annotations

import os
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


def measured_run(
    args: Sequence[str], *, cwd: Path, timeout: float = 120, env: Mapping[str, str] | None = None
) -> Measured:
    """`python -m qaagent ARGS` in `cwd`; output goes to a file so no pipe can block it."""
    log = cwd / ".qaagent-measured.log"
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qaagent", *args],
            cwd=cwd,
            env=qaagent_env(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
    seconds = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen it was reaped
    output = log.read_text(encoding="utf-8", errors="replace")
    log.unlink()
    return Measured(proc.returncode, seconds, usage.ru_maxrss / 1024, output)
