"""What one command was asked to do: the options of `run-all`, `merge` and their GitHub feedback.

Each value here has passed its validator in `qaagent.options` (flags through `cli.py`,
action inputs through `qaagent.action`) before it is put in these frozen records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from qaagent.options import ANNOTATIONS_LIMIT, AnnotateMode, AutoShard, CommentMode, Shard, SummaryMode

if TYPE_CHECKING:  # the results model is not imported for a flag's check (`qaagent --help`)
    from qaagent.run_result import FailOn


@dataclass(frozen=True)
class FeedbackOptions:
    """GitHub feedback (flags of `run-all` and `merge`, or the action's inputs)."""

    #: None: when GITHUB_ACTIONS=true (`--github auto`)
    github: bool | None = None
    check_name: str | None = None
    #: when the pull-request comment is posted or updated; off: never
    comment_mode: CommentMode = "off"
    annotations: bool = True
    annotate: AnnotateMode = "failures-and-flaky"
    annotations_limit: int = ANNOTATIONS_LIMIT.high
    #: how much of the run the job summary shows; off: no job summary
    summary_mode: SummaryMode = "full"
    summary_title: str | None = None
    #: the commit the check run belongs to (None: the event's head commit)
    commit: str | None = None
    #: the pull request to comment on (None: the event's)
    pull_request: int | None = None

    @property
    def comment(self) -> bool:
        """Whether a pull-request comment is wanted at all."""
        return self.comment_mode != "off"

    @property
    def summary(self) -> bool:
        """Whether the job summary is written at all."""
        return self.summary_mode != "off"


def effective_comment_mode(mode: CommentMode | None, *, comment: bool) -> CommentMode:
    """The comment mode of a run: `comment-mode` decides when given; else `comment` means always.

    The one rule for `--comment-mode`/`--comment` and the inputs `comment-mode`/`comment`.
    """
    if mode is not None:
        return mode
    return "always" if comment else "off"


@dataclass(frozen=True)
class RunOptions:
    """`run-all`: the profile and what overrides it for this run (None: the profile's value)."""

    profile: Path = Path(".qaagent.yaml")
    parallel: bool | None = None
    max_workers: int | None = None
    retries: int | None = None
    suites: tuple[str, ...] = ()
    #: where `suites` came from, as an error about them names it (not an option: not compared)
    suites_source: str = field(default="--suite", compare=False)
    timeout: float | None = None
    junit: Path | None = None  #: absolute
    evidence_dir: Path | None = None  #: absolute
    keep: int | None = None
    fail_on: tuple[FailOn, ...] | None = None
    shard: Shard | AutoShard | None = None
    durations_from: Path | None = None
    quiet: bool = False
    feedback: FeedbackOptions = field(default_factory=FeedbackOptions)
    #: publish these result files (`--files`, the `files:` input): one `report` suite, no profile
    files: tuple[str, ...] = ()
    #: their format (`--format`); None: told from each file's content
    format: str | None = None
    #: record and use the test history (None: the profile's `history.enabled`)
    history: bool | None = None
    #: the branch failures are compared with (None: GITHUB_BASE_REF, else none)
    base_branch: str | None = None


@dataclass(frozen=True)
class MergeOptions:
    """`merge`: the shard bundles and where the merged run goes."""

    bundles: tuple[Path, ...]
    junit: Path = Path("qaagent-junit.xml")
    evidence_dir: Path = Path(".qaagent/evidence")
    keep: int = 20
    #: None: the shards' own fail_on
    fail_on: tuple[FailOn, ...] | None = None
    allow_partial: bool = False
    feedback: FeedbackOptions = field(default_factory=FeedbackOptions)
    #: the profile whose `history:` the merged run is recorded by (None: .qaagent.yaml if present)
    profile: Path | None = None
    history: bool | None = None
    base_branch: str | None = None
