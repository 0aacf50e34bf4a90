"""One pull-request comment per check name, updated in place on every run.

A new comment per push buries the conversation; so the comment carries a
hidden marker `<!-- qaagent:<name> -->` at its start, later runs find it
(listing every page of comments) and PATCH it. Bodies are capped at
GitHub's 65,536 characters. Matrix legs with their own `check-name` each
keep their own comment. A name the marker cannot carry as it is (characters
outside a small safe set) gets a digest of the whole name, so two names never
share a comment.

The second hidden line, `<!-- qaagent-result:<fingerprint> <state> -->`,
records the result the comment shows, for `comment-mode`: `always` posts or
updates on every run; `changes` leaves the comment alone when the result
(conclusion, totals, failed tests) is the one it already shows; `failures`
posts only when tests failed, and updates a comment that exists (so an
earlier failure comment shows the fix); `off` never comments.

Anyone can write the marker into a comment of their own: only a comment whose
author is the token's own identity is updated. The identity is asked of the API
the way each kind of token allows: `GET /user` for a user's token; an
installation token (`GITHUB_TOKEN`, a GitHub App's) gets 403 "Resource not
accessible by integration" there, and GraphQL's `viewer { login }` answers
instead (a bot's GraphQL login lacks the REST login's `[bot]` suffix, e.g.
`github-actions` for `github-actions[bot]`, the author of `GITHUB_TOKEN`'s
comments). When neither answers, a new comment is created: never someone else's
is overwritten.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from qaagent.github.errors import GitHubAPIError

if TYPE_CHECKING:
    from qaagent.github.api import GitHubClient
    from qaagent.options import CommentMode

#: GitHub's limit for a comment body, in characters
BODY_CHARS = 65_536
PERMISSION = "pull-requests: write"


_RESULT = re.compile(r"<!-- qaagent-result:([0-9a-f]{1,64}) (failed|passed) -->")

Action = Literal["created", "updated", "unchanged", "skipped"]


@dataclass(frozen=True, slots=True)
class CommentOutcome:
    """What `upsert_comment` did, and the comment's address (empty when there is none)."""

    action: Action
    comment_id: int | None = None
    url: str = ""


def marker(name: str | None) -> str:
    """The hidden marker for `name` (a check name) or for the default "report"."""
    raw = name or "report"
    safe = re.sub(r"[^A-Za-z0-9 ._/:()\[\]-]", "_", raw)
    safe = re.sub(r"-{2,}", "-", safe).strip() or "report"  # "--" must not end the HTML comment
    if safe != raw:
        safe = f"{safe[:100]} #{hashlib.sha256(raw.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"
    return f"<!-- qaagent:{safe} -->"


def result_line(fingerprint: str, *, failed: bool) -> str:
    """The hidden line that records the result a comment shows."""
    return f"<!-- qaagent-result:{fingerprint} {'failed' if failed else 'passed'} -->"


def comment_body(name: str | None, markdown: str, *, result: str = "") -> str:
    """The marker (and the result line) followed by `markdown`, within the character limit."""
    head = marker(name) + "\n" + (result + "\n" if result else "")
    room = BODY_CHARS - len(head)
    if len(markdown) > room:
        note = "\n\n_Cut to fit GitHub's comment size limit; the job summary has it all._\n"
        cut = markdown[: room - len(note)]
        cut = cut[: cut.rfind("\n")] if "\n" in cut else cut
        markdown = cut + note
    return head + markdown


def upsert_comment(
    client: GitHubClient,
    repository: str,
    pr_number: int,
    name: str | None,
    markdown: str,
    *,
    mode: CommentMode = "always",
    fingerprint: str = "",
    failed: bool = False,
) -> CommentOutcome:
    """Create or update the run's comment as `mode` says; what was done."""
    if mode == "off":
        return CommentOutcome("skipped")
    tag = marker(name)
    me = token_login(client)
    existing = find_comment(client, repository, pr_number, tag, author=me) if me else None
    if existing is None and mode == "failures" and not failed:
        return CommentOutcome("skipped")
    if existing is not None and mode == "changes" and fingerprint:
        shown = _RESULT.search(existing.body[: len(tag) + 120])
        if shown is not None and shown[1] == fingerprint:
            return CommentOutcome("unchanged", existing.id, existing.url)
    body = comment_body(name, markdown, result=result_line(fingerprint, failed=failed) if fingerprint else "")
    if existing is not None:
        answer = client.request(
            "PATCH",
            f"/repos/{repository}/issues/comments/{existing.id}",
            json={"body": body},
            permission=PERMISSION,
        )
        return CommentOutcome("updated", existing.id, _url(answer) or existing.url)
    answer = client.request(
        "POST", f"/repos/{repository}/issues/{pr_number}/comments", json={"body": body}, permission=PERMISSION
    )
    return CommentOutcome("created", _id(answer), _url(answer))


@dataclass(frozen=True, slots=True)
class Found:
    """An existing comment of this check name."""

    id: int
    body: str
    url: str


def token_login(client: GitHubClient) -> str | None:
    """The login of the token's identity (REST form, `…[bot]` for a bot), None when the API will not say."""
    try:
        answer = client.request("GET", "/user")
    except GitHubAPIError:
        answer = None
    login = answer.get("login") if isinstance(answer, dict) else None
    if isinstance(login, str) and login:
        return login
    try:
        answer = client.request(
            "POST", _graphql_path(client.api_url), json={"query": "query { viewer { login } }"}
        )
    except GitHubAPIError:
        return None
    data = answer.get("data") if isinstance(answer, dict) else None
    viewer = data.get("viewer") if isinstance(data, dict) else None
    login = viewer.get("login") if isinstance(viewer, dict) else None
    if not isinstance(login, str) or not login:
        return None
    # GET /user refused: an installation token, whose GraphQL login is the bot's without `[bot]`
    return login if login.endswith("[bot]") else f"{login}[bot]"


def _graphql_path(api_url: str) -> str:
    """GraphQL beside the REST API: `/graphql` on api.github.com, `/api/graphql` on GitHub Enterprise."""
    return "/api/graphql" if urlsplit(api_url).path.rstrip("/").endswith("/api/v3") else "/graphql"


def find_comment(
    client: GitHubClient, repository: str, pr_number: int, tag: str, *, author: str
) -> Found | None:
    """The first comment by `author` starting with `tag`, looking through every page."""
    for item in client.paginate(f"/repos/{repository}/issues/{pr_number}/comments", permission=PERMISSION):
        if not isinstance(item, dict) or not str(item.get("body") or "").startswith(tag):
            continue
        user = item.get("user")
        login = user.get("login") if isinstance(user, dict) else None
        value = item.get("id")
        if login == author and isinstance(value, int):
            return Found(value, str(item.get("body") or ""), _url(item))
    return None


def _url(answer: Any) -> str:
    value = answer.get("html_url") if isinstance(answer, dict) else None
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else ""


def _id(answer: Any) -> int:
    value = answer.get("id") if isinstance(answer, dict) else None
    return value if isinstance(value, int) else 0
