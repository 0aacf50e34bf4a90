"""`report` suites: publish result files that earlier steps, other jobs or other tools wrote.

A report suite runs nothing. Its one attempt reads the files its `files:`
globs match (relative to the working directory; `!glob` excludes), of any
age, in any format `qaagent.formats.read` knows (`format:`, or told from the
content of each file), and from there everything is as for any suite: the
merged JUnit, the bundle (the files are copied into it as evidence, like a
suite's own reports), annotations, summaries, the check run and the comment.

The globs' matches are untrusted paths: a file that resolves outside the
project (a symlink out of it, an absolute glob elsewhere) is not read, and the
console, the log and the manifest name it. No match at all is an error (a
typo must not pass as an empty success), and so is a set of files without a
single test.

Hooks: no units (a report suite cannot be split or sharded: in a sharded run
it is read by shard 1 only, so the merged run has it once), no retry (the same
files would be read again), no command (`runs_command`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qaagent.attempts import IgnoredFile
from qaagent.results import TestCase
from qaagent.runners.base import AttemptSpec, Runner
from qaagent.runners.names import PROFILE_RULES
from qaagent.runners.result_door import ResultFiles, keep_copies, match_files, refused_note


class ReportRunner(Runner):
    """Reads `files:`; its attempt has no command (`argv` is empty)."""

    kind = "report"
    runs_command = PROFILE_RULES["report"].runs_command
    retryable = False
    first_shard_only = True

    def attempt(self, number: int, attempt_dir: Path, failed: Sequence[TestCase]) -> AttemptSpec:  # noqa: ARG002 - the Runner interface
        """Nothing to run: the orchestrator reads `result_files` at once."""
        return AttemptSpec((), self.cwd, {})

    @property
    def result_format(self) -> str | None:
        """`format:` (None or ``auto``: each file's format told from its content)."""
        return self.suite.config.format

    def result_files(self, attempt_dir: Path) -> ResultFiles:
        """Every file the globs match, whatever its age, copied into the bundle (those outside refused)."""
        matched = match_files(
            self.suite.config.result_globs,
            cwd=self.cwd,
            repo_root=self.repo_root,
            leave_out=self.suite.own_outputs,
        )
        copies = keep_copies(matched.files, attempt_dir / "results")
        return ResultFiles(copies, matched.ignored, matched.files)

    def no_report_problem(self, how_it_ended: str, ignored: Sequence[IgnoredFile] = ()) -> str | None:  # noqa: ARG002 - the Runner interface
        """No file matched (or every match was refused): an error that says where it looked."""
        config = self.suite.config
        refused = refused_note(ignored)
        return f"no result file matches `{config.result_key}` in {self._show(self.cwd)}{refused}"
