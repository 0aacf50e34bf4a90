"""GitHub feedback for one run, from the check run at its start to the comment at its end.

Used by `run-all` and `merge` alike. Nothing here can change the run's conclusion or exit code.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from qaagent.github.commands import write_command, write_outputs
from qaagent.github.context import GitHubContext
from qaagent.github.publish import publish, start_check_run
from qaagent.results import FailOn, RunResult, conclusion


@dataclass(frozen=True)
class FeedbackOptions:
    """What feedback the user asked for (flags or action inputs)."""

    check_name: str | None = None
    comment: bool = False
    annotations: bool = True
    summary: bool = True


def display_path(path: Path, root: Path | str) -> str:
    """`path` relative to `root` (the workspace) when inside it, else as given."""
    try:
        return path.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(path)


class GitHubFeedback:
    """One run's feedback; the token comes from `QAAGENT_GITHUB_TOKEN` and is never printed."""

    def __init__(self, options: FeedbackOptions, *, repo_root: Path, stream: TextIO) -> None:
        self.options = options
        self.stream = stream
        self.ctx = GitHubContext.from_env()
        self.root: Path | str = self.ctx.workspace or repo_root
        self.token = os.environ.get("QAAGENT_GITHUB_TOKEN") or None
        self.check_id: int | None = None

    def start(self) -> None:
        """Create the `in_progress` check run when a token and a check name are given."""
        if self.token and self.options.check_name:
            self.check_id = start_check_run(
                ctx=self.ctx, token=self.token, check_name=self.options.check_name, stream=self.stream
            )

    def finish(
        self,
        run: RunResult,
        *,
        fail_on: Sequence[FailOn],
        summary_md: str,
        bundle_dir: Path,
        junit: Path,
        notes: Sequence[str] = (),
    ) -> None:
        """Publish everything; problems become warnings."""
        evidence = display_path(bundle_dir, self.root)
        junit_rel = display_path(junit, self.root)
        self.write_outputs(run, fail_on=fail_on, evidence=evidence, junit=junit_rel)
        publish(
            run,
            ctx=self.ctx,
            fail_on=fail_on,
            token=self.token,
            check_name=self.options.check_name,
            check_run_id=self.check_id,
            comment=self.options.comment,
            annotations=self.options.annotations,
            summary=self.options.summary,
            summary_markdown=summary_md,
            evidence_path=evidence,
            junit_path=junit_rel,
            notes=notes,
            stream=self.stream,
        )

    def write_outputs(self, run: RunResult, *, fail_on: Sequence[FailOn], evidence: str, junit: str) -> None:
        """The step outputs (`GITHUB_OUTPUT`), paths relative to the workspace."""
        if not self.ctx.output:
            return
        counts = run.counts
        values = {
            "conclusion": conclusion(run, fail_on),
            "total": str(counts.total),
            "passed": str(counts.passed),
            "failed": str(counts.failed),
            "errors": str(counts.errors),
            "skipped": str(counts.skipped),
            "flaky": str(counts.flaky),
            "duration": f"{run.duration:.3f}",
            "junit-path": junit,
            "evidence-path": evidence,
            "run-id": run.run_id,
        }
        try:
            write_outputs(Path(self.ctx.output), values)
        except OSError as exc:
            write_command(
                self.stream,
                "warning",
                f"cannot write the step outputs to GITHUB_OUTPUT ({self.ctx.output}): {exc.strerror or exc}",
                title="qaagent",
            )
