"""All GitHub feedback for a finished run, in one call that never fails the run.

Order matters: the token is masked first; the annotations and job summary
(which need no token) come next, so they exist even if the API is down; then
the check run and the PR comment. Every API problem becomes a warning — the
test conclusion is decided elsewhere and never changes here. A missing
permission (a fork's read-only token) becomes ONE warning saying which
`permissions:` to grant.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from qaagent.github.annotations import PER_LEVEL_LIMIT, write_annotations
from qaagent.github.api import GitHubClient
from qaagent.github.checks import (
    AnnotationsRefusedError,
    check_annotations,
    complete_check_run,
)
from qaagent.github.closer import marked_open
from qaagent.github.commands import add_mask, append_summary, write_command
from qaagent.github.comment import upsert_comment
from qaagent.github.errors import GaveUpError, GitHubAPIError, PermissionDeniedError, describe
from qaagent.github.pulls import find_pull_request
from qaagent.github.results_json import fingerprint
from qaagent.run_result import conclusion
from qaagent.text import truncate_utf8

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import TextIO

    from qaagent.github.clock import Clock
    from qaagent.github.context import GitHubContext
    from qaagent.options import AnnotateMode, CommentMode, SummaryMode
    from qaagent.run_result import Conclusion, FailOn, RunResult

#: GitHub's step-summary limit is 1 MiB; stay a little under it
STEP_SUMMARY_BYTES = 1_000_000
#: the comment limit is 65,536 characters; bytes >= characters
COMMENT_BYTES = 60_000
CHECK_SUMMARY_BYTES = 60_000
#: the check run's title when qaagent itself failed (exit 3)
FAILED_TITLE = "qaagent failed (exit 3)"


class SummaryRenderer(Protocol):
    """The run's Markdown within `max_bytes` bytes.

    That is `qaagent.report.markdown.render_summary` with the run and its `fail_on` bound:
    the caller binds them, so github/ never imports report/.
    """

    def __call__(
        self,
        *,
        max_bytes: int,
        evidence_path: str | None,
        notes: Sequence[str],
        link_base: str | None,
        sha: str | None,
        detail: SummaryMode = "full",
        title: str | None = None,
        failure: str | None = None,
    ) -> str:
        """Render; `failure` (qaagent's own, exit 3) heads the text, before the tests' verdict."""
        ...


@dataclass
class Published:
    """The web addresses of what `publish` made (for the `check-url` and `comment-url` outputs)."""

    check_url: str = ""
    comment_url: str = ""
    check_id: int | None = None  #: the check run completed with the run's results


#: seconds the GitHub client may use after a cancel signal (GitHub kills the job 10 s after it)
CANCEL_BUDGET = 3.0


def publish(
    run: RunResult,
    *,
    ctx: GitHubContext,
    fail_on: Sequence[FailOn],
    render: SummaryRenderer,
    token: str | None,
    check_name: str | None,
    comment: bool,
    annotations: bool,
    summary: bool,
    evidence_path: str | None,
    stream: TextIO,
    clock: Clock | None = None,
    check_run_id: int | None = None,
    notes: Sequence[str] = (),
    budget: float = 60.0,
    summary_markdown: str | None = None,
    junit_path: str | None = None,
    comment_mode: CommentMode = "always",
    annotate: AnnotateMode = "failures-and-flaky",
    annotations_limit: int = PER_LEVEL_LIMIT,
    summary_mode: SummaryMode = "full",
    summary_title: str | None = None,
    published: Published | None = None,
    warnings: Sequence[str] = (),
    cancel: threading.Event | None = None,
    check_mark: str = "",
    error: str | None = None,
) -> list[str]:
    """Write annotations and the job summary, complete the check run, update the comment.

    Returns the warnings: `warnings` (problems met before, such as an unwritable
    `GITHUB_OUTPUT`) and the ones met here, printed together as ONE `::warning`
    annotation at the end (its slot is kept free by `write_annotations`), so none
    falls past GitHub's 10 annotations of a level. Never raises for a GitHub or
    file-system problem. `summary_markdown`, when given (the bundle's
    summary.md), is the job summary as is (cut safely if over 1 MB); the check
    run and the comment are rendered by `render` to their own, smaller limits.
    `junit_path` is mentioned in the rendered summaries. `summary_mode` shapes
    the job summary only (a mode other than full, or a title, renders it anew);
    `summary_title` heads the job summary, the check run's summary and the
    comment; `published`, when given, receives the check run's and the
    comment's web addresses. `cancel` is the run's cancel flag: set while
    publishing (a signal), the rest is not published and one last request
    concludes the check run as `cancelled` (`_publish_api`). `check_mark` is the
    `external_id` the start's creation carried: when that creation brought no id, the
    run's check runs GitHub made all the same are completed as the published one. `error`:
    qaagent itself failed after the reports (exit 3, e.g. a report it could not write): the
    check run concludes `failure` whatever the tests did; its title, its summary, the job
    summary (rendered anew: the bundle's summary.md was written before) and the comment say
    first that qaagent failed and why, the tests' verdict and counts after that.
    """
    if junit_path:
        shown = junit_path.replace("`", "'")
        notes = [*notes, f"**Merged JUnit:** `{shown}`"]
    if token:
        add_mask(token, stream)
    problems: list[str] = list(warnings)
    if annotations:
        write_annotations(run, fail_on=fail_on, stream=stream, per_level=annotations_limit, annotate=annotate)

    def markdown(max_bytes: int, detail: SummaryMode = "full", title: str | None = summary_title) -> str:
        return render(
            max_bytes=max_bytes,
            evidence_path=evidence_path,
            notes=notes,
            link_base=ctx.repo_url or None,
            sha=ctx.head_sha or None,
            detail=detail,
            title=title,
            failure=error,
        )

    if summary and summary_mode != "off" and ctx.step_summary:
        # the bundle's summary.md does not know qaagent failed after it (exit 3): rendered anew
        as_written = (
            summary_markdown if summary_mode == "full" and summary_title is None and not error else None
        )
        problem = job_summary(
            ctx.step_summary, as_written, lambda size: markdown(size, summary_mode, summary_title)
        )
        if problem:
            problems.append(problem)

    job = _Job(
        run=run,
        ctx=ctx,
        fail_on=fail_on,
        markdown=markdown,
        token=token or "",
        comment_mode=comment_mode,
        annotate=annotate,
        published=published if published is not None else Published(),
        check_mark=check_mark,
        failed=bool(error),
    )
    # A fork's `workflow_run` has no PR number in its event: it is looked up by the tested branch.
    wants_comment = comment and comment_mode != "off" and (ctx.pr_number is not None or bool(ctx.head_label))
    if check_name or wants_comment:
        _publish_api(
            job, check_name, check_run_id, comment=wants_comment, clock=clock, budget=budget, cancel=cancel
        )
    if job.missing:
        grants = " and ".join(f"`{p}`" for p in dict.fromkeys(job.missing))
        problems.append(
            f"The token may not publish the results (missing {grants}). Add `permissions:` with "
            f"{grants} to the job; on pull requests from forks the token is read-only, so results "
            "are shown only as annotations and in the job summary."
        )
    problems += job.warnings
    _warn(problems, stream)
    return problems


def _warn(problems: Sequence[str], stream: TextIO) -> None:
    """All problems as one warning annotation (GitHub shows 10 of a level per step)."""
    if not problems:
        return
    text = problems[0]
    if len(problems) > 1:
        listed = "\n".join(f"- {problem}" for problem in problems)
        text = f"{len(problems)} problems while reporting the results:\n{listed}"
    write_command(stream, "warning", text, title="qaagent")


def job_summary(path: str, summary_markdown: str | None, markdown: Callable[[int], str]) -> str | None:
    """Append the job summary; a problem, or None."""
    try:
        text = (
            truncate_utf8(summary_markdown, STEP_SUMMARY_BYTES, "_Summary cut to fit GitHub's 1 MiB limit._")
            if summary_markdown is not None
            else markdown(STEP_SUMMARY_BYTES)
        )
        append_summary(path, text)
    except OSError as exc:
        return f"could not write the job summary: {exc.strerror or exc}"
    return None


@dataclass
class _Job:
    """What the API steps share, and what they report back."""

    run: RunResult
    ctx: GitHubContext
    fail_on: Sequence[FailOn]
    markdown: Callable[[int], str]
    token: str = field(repr=False)  #: never in a repr (logs, tracebacks)
    comment_mode: CommentMode = "always"
    annotate: AnnotateMode = "failures-and-flaky"
    published: Published = field(default_factory=Published)
    check_run_id: int | None = None  #: the check run, once known (created at the start or here)
    check_mark: str = ""  #: the `external_id` the start's creation carried (`GitHubFeedback.start`)
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  #: permissions the token lacks
    failed: bool = False  #: qaagent itself failed (exit 3): the check run concludes `failure`

    def verdict(self) -> Conclusion:
        """The check run's conclusion: the tests' verdict, or `failure` when qaagent failed."""
        return "failure" if self.failed else conclusion(self.run, self.fail_on)

    def attempt(self, what: str, step: Callable[..., object], *args: object) -> None:
        """Run one API step; a failure becomes a warning or a missing permission."""
        try:
            step(self, *args)
        except PermissionDeniedError as exc:
            self.missing.append(exc.permission)
        except GaveUpError as exc:
            # the client stopped once; a step after it only says it was not done
            said = "not sent (see above)" if exc.repeated else describe(exc)
            self.warnings.append(f"{what}: {said}")
        except Exception as exc:
            self.warnings.append(f"{what}: {describe(exc)}")


def _publish_api(
    job: _Job,
    check_name: str | None,
    check_run_id: int | None,
    *,
    comment: bool,
    clock: Clock | None,
    budget: float,
    cancel: threading.Event | None = None,
) -> None:
    """The check run and the comment; after a cancel only one request, the check run's conclusion.

    A run cancelled before it got here (or a signal during the reports) sends that one request
    at once. A signal while publishing stops the rest: the request in flight ends within the
    client's cancel budget, nothing else is sent, and one last request concludes the check
    run as `cancelled`.
    """
    if not job.token:
        job.warnings.append("no github-token: the check run and the pull-request comment were skipped")
        return
    if not job.ctx.repository:
        job.warnings.append("GITHUB_REPOSITORY is not set: no check run or comment was published")
        return
    job.check_run_id = check_run_id
    cancelled = job.run.cancelled or (cancel is not None and cancel.is_set())
    if cancelled:
        # After a signal GitHub kills the job 10 s later: one request within CANCEL_BUDGET seconds,
        # the check run's conclusion without annotations (no paced batches, no comment).
        budget = min(budget, CANCEL_BUDGET)
    with GitHubClient(
        job.token, api_url=job.ctx.api_url, clock=clock, budget=budget, cancel=cancel
    ) as client:
        if check_name and not cancelled:
            job.attempt("could not publish the check run", _publish_check, client, check_name)
            if (
                check_run_id is None
                and job.check_run_id is not None
                and job.check_mark
                and not client.cancelled
            ):
                # the start's creation brought no id (answered after its budget): GitHub may
                # have made it all the same; it is this run's and must not stay in_progress
                job.attempt("could not complete the check run", _complete_marked, client, check_name)
        if comment and not (cancelled or client.cancelled):
            job.attempt("could not update the pull-request comment", _publish_comment, client, check_name)
        elif comment:
            job.warnings.append("the run was cancelled: the pull-request comment was not updated")
        if check_name and (cancelled or client.cancelled):
            job.attempt("could not publish the check run", _publish_cancelled_check, client, check_name)


def _publish_check(job: _Job, client: GitHubClient, check_name: str) -> None:
    try:
        _complete(job, client, check_name, job.verdict(), annotated=True)
    except AnnotationsRefusedError as exc:
        # completed, without its annotations
        job.published.check_url, job.published.check_id = exc.url, exc.check_run_id
        raise
    except GitHubAPIError:
        if not client.cancelled:
            raise
        # a signal stopped it: `_publish_cancelled_check` sends the one last request


def _publish_cancelled_check(job: _Job, client: GitHubClient, check_name: str) -> None:
    """The one request after a cancel: the check run completed as `cancelled`, no annotations."""
    with client.final_request():
        _complete(job, client, check_name, "cancelled", annotated=False)


def _complete_marked(job: _Job, client: GitHubClient, check_name: str) -> None:
    """This run's other check runs still `in_progress` (its mark), completed as the published one."""
    head_sha = job.ctx.head_sha or job.ctx.sha
    found = marked_open(client, job.ctx.repository, name=check_name, sha=head_sha, mark=job.check_mark)
    for other in found:
        if other != job.check_run_id:
            _complete(job, client, check_name, job.verdict(), annotated=False, other=other)


def _complete(
    job: _Job,
    client: GitHubClient,
    check_name: str,
    concluded: Conclusion,
    *,
    annotated: bool,
    other: int | None = None,
) -> None:
    """Complete the run's check run (created if none yet); `other`: that check run instead, job untouched."""

    def remember(check_run_id: int) -> None:  # a cancel may stop the annotation batches after it
        if other is None:
            job.check_run_id = check_run_id

    c = job.run.counts
    completed = complete_check_run(
        client,
        job.ctx.repository,
        job.check_run_id if other is None else other,
        name=check_name,
        head_sha=job.ctx.head_sha or job.ctx.sha,
        conclusion=concluded,
        # as the summary line counts (xfailed/xpassed apart when there are any); qaagent's own
        # failure first
        title=f"{FAILED_TITLE} · tests: {c.summary_text()}" if job.failed else c.summary_text(),
        summary=job.markdown(CHECK_SUMMARY_BYTES),
        annotations=check_annotations(job.run, annotate=job.annotate) if annotated else (),
        details_url=job.ctx.run_url,
        on_concluded=remember,
    )
    if other is None:
        job.check_run_id, job.published.check_url = completed
        job.published.check_id = job.check_run_id


def _publish_comment(job: _Job, client: GitHubClient, check_name: str | None) -> None:
    number = job.ctx.pr_number
    if number is None:
        number = find_pull_request(client, job.ctx.repository, job.ctx.head_label, job.ctx.head_sha)
    if number is None:
        return  # not a pull request's run (a push to a fork's branch): nothing to comment on
    c = job.run.counts
    outcome = upsert_comment(
        client,
        job.ctx.repository,
        number,
        check_name,
        job.markdown(COMMENT_BYTES),
        mode=job.comment_mode,
        fingerprint=fingerprint(job.run, job.fail_on),
        failed=conclusion(job.run, job.fail_on) == "failure" or c.failed + c.errors > 0,
    )
    job.published.comment_url = outcome.url
