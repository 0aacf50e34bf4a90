"""Any command that writes JUnit (a `junit:` glob); without JUnit, one test case judged by the exit code."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from qaagent.junit.read import MAX_FILE_BYTES
from qaagent.results import TestCase
from qaagent.runners.base import AttemptSpec, Runner, glob_files, own_files


class CommandRunner(Runner):
    """`command:` as given, in the working directory; retries rerun the whole command."""

    kind = "command"
    requires_tests = False
    judged_by_exit_code = True

    def preflight(self) -> str | None:
        """Working directory and tool checks."""
        problem = super().preflight()
        if problem:
            return problem
        command = self.suite.config.command or ()
        return self.tool_missing(command[0]) if command else "no command configured"

    def attempt(self, number: int, attempt_dir: Path, failed: Sequence[TestCase]) -> AttemptSpec:  # noqa: ARG002 - the Runner interface
        """The whole command every time (a command cannot be asked to run only some tests)."""
        argv = (*(self.suite.config.command or ()), *self.suite.config.args)
        extra = {"QAAGENT_ATTEMPT": str(number), "QAAGENT_JUNIT_DIR": str(attempt_dir / "junit")}
        (attempt_dir / "junit").mkdir(parents=True, exist_ok=True)
        return AttemptSpec(tuple(argv), self.cwd, self.env(extra))

    def no_report_problem(self, how_it_ended: str) -> str | None:  # noqa: ARG002 - the Runner interface
        """With a `junit:` glob, a report is expected; without one, the exit code is the result."""
        pattern = self.suite.config.junit
        if pattern:
            # A typo in the glob must not turn the suite into a green exit-code check.
            return f"no JUnit file written by this attempt matches `junit: {pattern}`"
        return None

    def junit_files(self, attempt_dir: Path) -> list[Path]:
        """Files matching `junit:` written during this attempt, plus anything in QAAGENT_JUNIT_DIR."""
        own = own_files(attempt_dir / "junit")
        pattern = self.suite.config.junit
        if not pattern:
            return own
        started = _attempt_start(attempt_dir)
        # Only files written by this attempt: an old report left in the tree must not pass for a new one.
        fresh = [
            p
            for p in glob_files(pattern, self.cwd, self.repo_root, self.refused)
            if p.stat().st_mtime >= started - 1 and p not in own
        ]
        # The evidence keeps its own copy (with a checksum): the working tree changes on the next run.
        kept = attempt_dir / "junit" / "matched"
        copies: list[Path] = []
        for index, source in enumerate(fresh, 1):
            target = kept / f"{index:03d}-{source.name}"
            try:
                if source.stat().st_size > MAX_FILE_BYTES:
                    copies.append(source)  # the reader refuses it with the reason; no huge copy
                    continue
                kept.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
            except OSError:
                copies.append(source)  # unreadable: the reader reports why
                continue
            copies.append(target)
        return own + copies


def _attempt_start(attempt_dir: Path) -> float:
    marker = attempt_dir / ".started"
    try:
        return marker.stat().st_mtime
    except OSError:
        return time.time()
