"""What GitHub is told outside a run's publish: the check run at the start, and qaagent's own failure.

`start_check_run` creates the `in_progress` check run when a run starts (a problem is only a
`::debug::` line: `publish` tries again at the end). When qaagent itself fails (exit 3) before it
could publish, `fail_job_summary` and `fail_check_run` say so in the job summary and conclude the
check run `failure` with `failure_line` alone. Both are called by `qaagent.github.feedback`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qaagent.github.api import GitHubClient
from qaagent.github.checks import complete_check_run, create_check_run
from qaagent.github.closer import marked_open
from qaagent.github.commands import add_mask, write_command
from qaagent.github.errors import describe
from qaagent.github.publish import FAILED_TITLE, job_summary
from qaagent.text import escape_text

if TYPE_CHECKING:
    from typing import TextIO

    from qaagent.github.clock import Clock
    from qaagent.github.context import GitHubContext


def start_check_run(
    *,
    ctx: GitHubContext,
    token: str | None,
    check_name: str | None,
    stream: TextIO | None = None,
    clock: Clock | None = None,
    budget: float = 20.0,
    external_id: str = "",
) -> int | None:
    """Create the `in_progress` check run at the start of a run; its id, or None.

    Failures are only logged as `::debug::`: `publish` tries again at the end
    and reports a problem once, there.
    """
    if not (token and check_name and ctx.repository and ctx.head_sha):
        return None
    if stream is not None:
        add_mask(token, stream)
    try:
        with GitHubClient(token, api_url=ctx.api_url, clock=clock, budget=budget) as client:
            return create_check_run(
                client,
                ctx.repository,
                check_name,
                ctx.head_sha,
                details_url=ctx.run_url,
                external_id=external_id,
            )
    except Exception as exc:
        if stream is not None:
            write_command(stream, "debug", f"qaagent: could not start the check run: {describe(exc)}")
        return None


def failure_line(error: str) -> str:
    """The one line a check run's summary names qaagent's own failure with (exit 3), escaped.

    The error may name a file a suite made (`@org/team`, `[x](https://…)`): it mentions no one.
    """
    return f"**qaagent failed (exit 3):** {escape_text(error)}"


def fail_job_summary(path: str, error: str) -> str | None:
    """The job summary of a run qaagent failed before publishing it (exit 3): `failure_line` alone."""
    return job_summary(path, None, lambda _size: failure_line(error))


def fail_check_run(
    *,
    ctx: GitHubContext,
    token: str | None,
    check_name: str | None,
    check_run_id: int | None,
    error: str,
    stream: TextIO,
    check_mark: str = "",
    budget: float = 60.0,
) -> int | None:
    """Conclude the check run `failure`: qaagent failed before it could publish the run (exit 3).

    The summary is `failure_line(error)` alone (no report was made); the body passes the
    client's redactor. The run's marked check runs (a creation answered too late) are
    concluded the same. A problem is one warning. Returns the id of the check run it made
    (`check_run_id` None and no marked one found), else None.
    """
    if not (token and check_name and ctx.repository):
        return None
    add_mask(token, stream)
    head_sha = ctx.head_sha or ctx.sha
    try:
        with GitHubClient(token, api_url=ctx.api_url, budget=budget) as client:
            ids: list[int | None] = [check_run_id]
            if check_run_id is None and check_mark:
                ids += marked_open(client, ctx.repository, name=check_name, sha=head_sha, mark=check_mark)
            for one in ids:
                if one is None and len(ids) > 1:
                    continue  # a marked one stands for the creation that brought no id
                made, _ = complete_check_run(
                    client,
                    ctx.repository,
                    one,
                    name=check_name,
                    head_sha=head_sha,
                    conclusion="failure",
                    title=FAILED_TITLE,
                    summary=failure_line(error),
                    details_url=ctx.run_url,
                )
                if one is None:
                    return made
    except Exception as exc:
        said = f"could not complete the check run: {describe(exc)}"
        write_command(stream, "warning", said, title="qaagent")
    return None
