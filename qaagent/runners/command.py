"""Any command that writes result files (`files:` globs); without any, one test case judged by the exit code.

The files a command suite reads are those its attempt wrote: matching the
globs and modified since the attempt started (or written into
`QAAGENT_JUNIT_DIR`). A match written earlier is a leftover of another run,
and reading it would report tests this attempt did not run; it is not read,
and never silently: the attempt records each such file with the reason
(`IgnoredFile`), which the suite's log, the console and the manifest show. An
attempt whose every match is stale is an error that says so and points to the
`report` runner, the one that publishes files written earlier.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from qaagent.attempts import IgnoredFile
from qaagent.results import TestCase
from qaagent.runners.base import AttemptSpec, Runner
from qaagent.runners.result_door import ResultFiles, keep_copies, match_files, refused_note

#: the reason a match written before the attempt is not read
STALE = "written before this attempt started"
#: the folder (in QAAGENT_JUNIT_DIR) the bundle keeps its copies of the matches in
MATCHED = "matched"
#: the empty file made as an attempt of a suite with result globs starts (`_attempt_start`)
START_MARKER = ".started"
#: seconds of clock skew forgiven between the marker file and what the command writes
_SKEW = 1.0


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
        if self.suite.config.result_globs:
            # what a match's modification time is compared with, on the files' own clock (`result_files`);
            # without globs nothing is (a file created per attempt costs ~0.2 ms on a slow disk)
            (attempt_dir / START_MARKER).touch()
        return AttemptSpec(tuple(argv), self.cwd, self.env(extra))

    @property
    def result_format(self) -> str | None:
        """`format:`; unset: JUnit for the old `junit:` key (and QAAGENT_JUNIT_DIR), else from content."""
        config = self.suite.config
        if config.format is not None:
            return config.format
        return None if config.files is not None else "junit"

    def no_report_problem(self, how_it_ended: str, ignored: Sequence[IgnoredFile] = ()) -> str | None:  # noqa: ARG002 - the Runner interface
        """With result globs, a report is expected; without them, the exit code is the result."""
        config = self.suite.config
        if not config.result_globs:
            return None
        stale = [i for i in ignored if i.reason == STALE]
        if stale:
            # Every match is a leftover: reading it would report tests this attempt did not run.
            return (
                f"all {len(stale)} file(s) matching `{config.result_key}` were {STALE}: a command "
                "suite reads only what its command writes (publish earlier results with `runner: report`)"
            )
        refused = refused_note(ignored)
        # A typo in the glob must not turn the suite into a green exit-code check.
        kind = "JUnit file" if config.files is None and config.format in (None, "junit") else "result file"
        return f"no {kind} written by this attempt matches `{config.result_key}`{refused}"

    def result_files(self, attempt_dir: Path) -> ResultFiles:
        """Matches written during this attempt (copied into the bundle), plus QAAGENT_JUNIT_DIR's files."""
        own_dir = attempt_dir / "junit"
        # A JUnit suite reads the *.xml files there, as it always did; any other format every file.
        pattern = "*.xml" if self.result_format == "junit" else "*"
        # Anything else there (a folder, a FIFO) is read too: the reader refuses it with the reason.
        own = match_files([pattern, f"!{MATCHED}"], cwd=own_dir, repo_root=self.repo_root, own=True).files
        globs = self.suite.config.result_globs
        if not globs:
            return ResultFiles(own)
        started = _attempt_start(attempt_dir)
        matched = match_files(globs, cwd=self.cwd, repo_root=self.repo_root, leave_out=self.suite.own_outputs)
        fresh: list[Path] = []
        ignored = list(matched.ignored)
        for path in matched.files:
            if path in own:
                continue
            try:
                modified = path.stat().st_mtime
            except OSError:
                fresh.append(path)  # gone or unreadable: the reader says which
                continue
            if modified >= started - _SKEW:
                fresh.append(path)
            else:
                ignored.append(IgnoredFile(path, STALE))
        return ResultFiles(own + keep_copies(fresh, own_dir / MATCHED), ignored, fresh)


def _attempt_start(attempt_dir: Path) -> float:
    marker = attempt_dir / START_MARKER
    try:
        return marker.stat().st_mtime
    except OSError:
        return time.time()
