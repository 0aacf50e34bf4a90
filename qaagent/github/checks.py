"""The run as a GitHub check run, carrying an annotation for every failing test.

Unlike workflow-command annotations (10 per level per step), a check run
takes any number of annotations, but at most 50 per request: "To create more
than 50 annotations, you have to make multiple requests to the Update a check
run endpoint; each time, annotations are appended" (REST docs, check runs).
So the completing PATCH carries the first 50 and further PATCHes the rest,
each repeating the required output title and summary. Limits enforced here:
summary and text ≤ 65,535 bytes, annotation title ≤ 255 characters,
message and raw_details ≤ 64 KB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from qaagent.github.annotations import problems
from qaagent.github.errors import GitHubAPIError
from qaagent.text import truncate_utf8

if TYPE_CHECKING:
    from qaagent.github.api import GitHubClient
    from qaagent.options import AnnotateMode
    from qaagent.run_result import Conclusion, RunResult

#: annotations per create/update request (GitHub's limit)
BATCH = 50
SUMMARY_BYTES = 65_535
ANNOTATION_TEXT_BYTES = 65_535
TITLE_CHARS = 255
PERMISSION = "checks: write"
CUT_NOTE = "_Cut to fit the check run's 65,535-byte limit; the job summary and evidence bundle have it all._"

CheckLevel = Literal["notice", "warning", "failure"]


@dataclass(frozen=True, slots=True)
class CheckAnnotation:
    """One check-run annotation, already within GitHub's field limits."""

    path: str
    start_line: int
    end_line: int
    annotation_level: CheckLevel
    message: str
    title: str = ""
    raw_details: str = ""

    def as_json(self) -> dict[str, Any]:
        """The request-body form."""
        body: dict[str, Any] = {
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "annotation_level": self.annotation_level,
            "message": self.message,
        }
        if self.title:
            body["title"] = self.title
        if self.raw_details:
            body["raw_details"] = self.raw_details
        return body


def check_annotations(
    run: RunResult, *, fallback_path: str = ".", annotate: AnnotateMode = "failures-and-flaky"
) -> Iterator[CheckAnnotation]:
    """One annotation per failing or errored test (failure) and flaky test (warning), as chosen.

    `annotate: all` adds one per skipped test (notice); `failures` leaves out the flaky ones.

    A test without a file is annotated on `fallback_path`, line 1: GitHub
    requires a path, and the annotation still lists the test in the check.
    """
    levels: dict[str, CheckLevel] = {"error": "failure", "warning": "warning", "notice": "notice"}
    for problem in problems(run, annotate):
        case = problem.case
        line = case.line if problem.path and case.line and case.line > 0 else 1
        details = case.details if case.details.strip() != case.message.strip() else ""
        yield CheckAnnotation(
            path=problem.path or fallback_path,
            start_line=line,
            end_line=line,
            annotation_level=levels[problem.level],
            message=truncate_utf8(problem.message or case.status, ANNOTATION_TEXT_BYTES, "…"),
            title=problem.title[:TITLE_CHARS],
            raw_details=truncate_utf8(details, ANNOTATION_TEXT_BYTES, "…"),
        )


def create_check_run(
    client: GitHubClient,
    repository: str,
    name: str,
    head_sha: str,
    *,
    details_url: str = "",
    external_id: str = "",
) -> int:
    """Create an `in_progress` check run at the start of a run; its id.

    `external_id` marks it as this run's (the post step finds it by that if its id never came).
    """
    body: dict[str, Any] = {
        "name": name,
        "head_sha": head_sha,
        "status": "in_progress",
        "started_at": _now(client),
    }
    if details_url:
        body["details_url"] = details_url
    if external_id:
        body["external_id"] = external_id
    answer = client.request("POST", f"/repos/{repository}/check-runs", json=body, permission=PERMISSION)
    return _id(answer)


def complete_check_run(
    client: GitHubClient,
    repository: str,
    check_run_id: int | None,
    *,
    name: str,
    head_sha: str,
    conclusion: Conclusion,
    title: str,
    summary: str,
    text: str | None = None,
    annotations: Iterable[CheckAnnotation] = (),
    details_url: str = "",
    on_concluded: Callable[[int], None] | None = None,
) -> tuple[int, str]:
    """Complete the check run (creating it if `check_run_id` is None) and add every annotation.

    Returns the check run's id and its web address (`html_url`, "" if GitHub gave none).
    The conclusion is set by the first request, so it stands even if a later annotation
    batch fails; `on_concluded` learns the id as soon as that request is answered.
    """
    output: dict[str, Any] = {
        "title": title[:TITLE_CHARS] or name,
        "summary": truncate_utf8(summary, SUMMARY_BYTES, CUT_NOTE),
    }
    if text:
        output["text"] = truncate_utf8(text, SUMMARY_BYTES, CUT_NOTE)
    batches = _batches(annotations)
    first = next(batches, [])
    body: dict[str, Any] = {
        "name": name,
        "status": "completed",
        "conclusion": conclusion,
        "completed_at": _now(client),
        "output": {**output, "annotations": [a.as_json() for a in first]},
    }
    if details_url:
        body["details_url"] = details_url
    try:
        check_run_id, url = _conclude(client, repository, check_run_id, body, head_sha)
    except GitHubAPIError as exc:
        if exc.status != _UNPROCESSABLE or not first:
            raise
        # GitHub refused the annotations (422): the check must still get its conclusion, so the
        # request goes again without them, and the other batches are not sent.
        body["output"] = {**output, "annotations": []}
        check_run_id, url = _conclude(client, repository, check_run_id, body, head_sha)
        raise AnnotationsRefusedError(check_run_id, str(exc), _web_url(url)) from None
    if on_concluded is not None:
        on_concluded(check_run_id)
    for batch in batches:
        client.request(
            "PATCH",
            f"/repos/{repository}/check-runs/{check_run_id}",
            json={"output": {**output, "annotations": [a.as_json() for a in batch]}},
            permission=PERMISSION,
        )
    return check_run_id, _web_url(url)


#: GitHub's answer to a request it understood but refuses (a bad annotation)
_UNPROCESSABLE = 422


class AnnotationsRefusedError(GitHubAPIError):
    """The check run was completed, but without its annotations: GitHub refused them (422)."""

    def __init__(self, check_run_id: int, why: str, url: str = "") -> None:
        super().__init__(
            f"the check run was completed without its annotations ({why})", status=_UNPROCESSABLE
        )
        self.check_run_id = check_run_id
        self.url = url


def _web_url(url: object) -> str:
    """`html_url` of an API answer when it is a web address, else ""."""
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else ""


def _conclude(
    client: GitHubClient, repository: str, check_run_id: int | None, body: dict[str, Any], head_sha: str
) -> tuple[int, object]:
    """POST (no id yet) or PATCH the completing request; the check run's id and its `html_url`."""
    if check_run_id is None:
        answer = client.request(
            "POST",
            f"/repos/{repository}/check-runs",
            json={**body, "head_sha": head_sha},
            permission=PERMISSION,
        )
        check_run_id = _id(answer)
    else:
        answer = client.request(
            "PATCH", f"/repos/{repository}/check-runs/{check_run_id}", json=body, permission=PERMISSION
        )
    return check_run_id, answer.get("html_url") if isinstance(answer, dict) else None


def _batches(annotations: Iterable[CheckAnnotation]) -> Iterator[list[CheckAnnotation]]:
    batch: list[CheckAnnotation] = []
    for annotation in annotations:
        batch.append(annotation)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _now(client: GitHubClient) -> str:
    return datetime.fromtimestamp(client.clock.time(), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _id(answer: Any) -> int:
    value = answer.get("id") if isinstance(answer, dict) else None
    if not isinstance(value, int):
        msg = "the check-runs answer has no id"
        raise GitHubAPIError(msg)
    return value
