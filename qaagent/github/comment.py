"""One pull-request comment per check name, updated in place on every run.

A new comment per push buries the conversation; so the comment carries a
hidden marker `<!-- qaagent:<name> -->` at its start, later runs find it
(listing every page of comments) and PATCH it. Bodies are capped at
GitHub's 65,536 characters.

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

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from qaagent.github.api import GitHubAPIError

if TYPE_CHECKING:
    from qaagent.github.api import GitHubClient

#: GitHub's limit for a comment body, in characters
BODY_CHARS = 65_536
PERMISSION = "pull-requests: write"


def marker(name: str | None) -> str:
    """The hidden marker for `name` (a check name) or for the default "report"."""
    safe = re.sub(r"[^A-Za-z0-9 ._/:()\[\]-]", "_", name or "report")
    safe = re.sub(r"-{2,}", "-", safe).strip() or "report"  # "--" must not end the HTML comment
    return f"<!-- qaagent:{safe} -->"


def comment_body(name: str | None, markdown: str) -> str:
    """The marker followed by `markdown`, within the character limit."""
    head = marker(name) + "\n"
    room = BODY_CHARS - len(head)
    if len(markdown) > room:
        note = "\n\n_Cut to fit GitHub's comment size limit; the job summary has it all._\n"
        cut = markdown[: room - len(note)]
        cut = cut[: cut.rfind("\n")] if "\n" in cut else cut
        markdown = cut + note
    return head + markdown


def upsert_comment(
    client: GitHubClient, repository: str, pr_number: int, name: str | None, markdown: str
) -> tuple[int, bool]:
    """Create or update the run's comment; (comment id, whether it was created)."""
    tag = marker(name)
    body = comment_body(name, markdown)
    me = token_login(client)
    existing = find_comment(client, repository, pr_number, tag, author=me) if me else None
    if existing is not None:
        client.request(
            "PATCH",
            f"/repos/{repository}/issues/comments/{existing}",
            json={"body": body},
            permission=PERMISSION,
        )
        return existing, False
    answer = client.request(
        "POST", f"/repos/{repository}/issues/{pr_number}/comments", json={"body": body}, permission=PERMISSION
    )
    return _id(answer), True


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
) -> int | None:
    """The id of the first comment by `author` starting with `tag`, looking through every page."""
    for item in client.paginate(f"/repos/{repository}/issues/{pr_number}/comments", permission=PERMISSION):
        if not isinstance(item, dict) or not str(item.get("body") or "").startswith(tag):
            continue
        user = item.get("user")
        login = user.get("login") if isinstance(user, dict) else None
        value = item.get("id")
        if login == author and isinstance(value, int):
            return value
    return None


def _id(answer: Any) -> int:
    value = answer.get("id") if isinstance(answer, dict) else None
    return value if isinstance(value, int) else 0
