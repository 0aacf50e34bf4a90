"""`Run`: one run as the pipeline's steps build it (`qaagent.pipeline`), and what a step is.

Each step is a function of the `Run` so far: it reads what the earlier ones left and adds
its own part (the plan, the bundle, the feedback, the result, the reports written).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from qaagent.console import Console
from qaagent.process import Cancel

if TYPE_CHECKING:
    from qaagent.command_options import FeedbackOptions
    from qaagent.evidence.bundle import Bundle
    from qaagent.github.feedback import GitHubFeedback
    from qaagent.history.compare import Comparison
    from qaagent.history.live import RunHistory
    from qaagent.plan import Plan
    from qaagent.report.markdown import SummaryCollector
    from qaagent.run_result import FailOn, RunResult


@dataclass
class Run:
    """One run as the steps build it: each step reads what the earlier ones left."""

    console: Console
    fail_on: tuple[FailOn, ...] = ()
    repo_root: Path = Path()
    evidence_dir: Path = Path()
    junit_target: Path = Path()
    keep: int = 20
    max_output: int = 65536
    #: keep files the bundle's redaction cannot see into (a merge keeps what its shards kept)
    keep_unredactable: bool = False
    cancel: Cancel = field(default_factory=Cancel)
    plan: Plan | None = None
    bundle: Bundle | None = None
    feedback: GitHubFeedback | None = None
    github_options: FeedbackOptions | None = None
    result: RunResult | None = None
    notes: tuple[str, ...] = ()
    summary_markdown: str = ""
    #: what the one pass collected for the summaries (the job summary, the check run, the comment)
    summary: SummaryCollector | None = None
    junit: Path | None = None  #: where the merged JUnit was copied (the bundle's own on failure)
    #: reports that could not be written (path, reason): the manifest lists them; exit 3
    missing: tuple[tuple[str, str], ...] = ()
    history: RunHistory | None = None  #: None: history off for this run
    #: the checkout's commit, ref and repository (`evidence.gitinfo.git_info`), asked once for
    #: the history's run identity and the manifest (None: not asked yet)
    git: dict[str, str | None] | None = None
    #: the run against the base branch and the quarantine (`judge_history`); the writers render it
    comparison: Comparison | None = None

    def outcome(self) -> tuple[Bundle, RunResult]:
        """The bundle and the result the reporting steps work on (asked before `execute`: a bug)."""
        assert self.bundle is not None  # noqa: S101 - the order of the steps guarantees it
        assert self.result is not None  # noqa: S101
        return self.bundle, self.result


Step = Callable[[Run], None]
