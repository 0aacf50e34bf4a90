"""The action's `setup` input: a shell script run before the suites, through qaagent's process runner.

`bash -eo pipefail -c` (or `sh -ec` without bash) in the working directory, in its own
process group (`qaagent.process`, policy `SETUP`), with the child environment every suite
gets; its output goes to a `setup` log group with workflow commands disabled, and nothing
it prints after that block may reach the log. SIGTERM/SIGINT stop its process group.
"""

from __future__ import annotations

import shutil
import signal
import threading
from collections.abc import MutableMapping
from pathlib import Path
from typing import TextIO

from qaagent.cancel import Cancel, cancel_on_signals
from qaagent.errors import ExitCode, UsageError
from qaagent.github.commands import grouped, stop_commands
from qaagent.process import SETUP, child_environment, run_process


def _shell_argv(script: str) -> list[str]:
    bash = shutil.which("bash")
    if bash is not None:
        return [bash, "--noprofile", "--norc", "-eo", "pipefail", "-c", script]
    return ["sh", "-ec", script]


class _SetupEcho:
    """Setup's output on its way to the log, line by line, until `close()`; then nothing more."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.open = True

    def __call__(self, line: str) -> None:
        with self.lock:
            if self.open:
                self.out.write(line + "\n")
                self.out.flush()

    def close(self) -> None:
        with self.lock:
            self.open = False


def run_setup(script: str, *, workdir: Path, env: MutableMapping[str, str], out: TextIO) -> int:
    """Run the `setup` command; its exit status, or 130 when the runner cancelled it."""
    echo = _SetupEcho(out)
    cancel = Cancel()
    with grouped("setup", out), stop_commands(out):
        try:
            with cancel_on_signals(cancel, signals=(signal.SIGTERM, signal.SIGINT)):
                outcome = run_process(
                    _shell_argv(script),
                    cwd=workdir,
                    env=child_environment(env),
                    timeout=None,
                    log_path=None,
                    console=None,
                    prefix="setup",
                    cancel=cancel,
                    echo=echo,
                    policy=SETUP,
                )
        finally:
            # Commands work again after this block: nothing setup prints later may reach the log.
            echo.close()
    if outcome.cancelled:
        return ExitCode.CANCELLED
    if outcome.start_error is not None:
        raise UsageError(f"the 'setup' command could not start: {outcome.start_error}")
    return outcome.returncode if outcome.returncode is not None else ExitCode.INTERNAL
