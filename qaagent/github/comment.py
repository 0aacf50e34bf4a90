"""One pull-request comment per check name, updated in place on every run.

A new comment per push buries the conversation; so the comment carries a
hidden marker `<!-- qaagent:<name> -->` at its start, later runs find it
(listing every page of comments) and PATCH it. Bodies are capped at
GitHub's 65,536 characters.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

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
    existing = find_comment(client, repository, pr_number, tag)
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


def find_comment(client: GitHubClient, repository: str, pr_number: int, tag: str) -> int | None:
    """The id of the first comment starting with `tag`, looking through every page."""
    for item in client.paginate(f"/repos/{repository}/issues/{pr_number}/comments", permission=PERMISSION):
        if isinstance(item, dict) and str(item.get("body") or "").startswith(tag):
            value = item.get("id")
            if isinstance(value, int):
                return value
    return None


def _id(answer: Any) -> int:
    value = answer.get("id") if isinstance(answer, dict) else None
    return value if isinstance(value, int) else 0
