"""The pull request of a `workflow_run` from a fork, which GitHub's event leaves out.

`workflow_run.pull_requests` is empty when the tested branch lives in a fork,
so the publishing workflow has no PR number. GitHub's own payload still names
the tested commit (`head_sha`) and branch (`head_repository.owner.login`,
`head_branch`): the open pull requests of this repository whose head is that
branch (`GET /repos/{repo}/pulls?head=owner:branch`) and whose head commit is
that commit are the one to comment on. Nothing here comes from the fork's
artifact, so a fork cannot steer the comment to another pull request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qaagent.github.api import GitHubClient

PERMISSION = "pull-requests: read"


def find_pull_request(client: GitHubClient, repository: str, head_label: str, head_sha: str) -> int | None:
    """The number of the open pull request whose head is `head_label` at `head_sha`, or None."""
    if not (head_label and head_sha):
        return None
    for item in client.paginate(
        f"/repos/{repository}/pulls", params={"state": "open", "head": head_label}, permission=PERMISSION
    ):
        if not isinstance(item, dict):
            continue
        head = item.get("head")
        number = item.get("number")
        if (
            isinstance(head, dict)
            and head.get("sha") == head_sha
            and isinstance(number, int)
            and not isinstance(number, bool)
            and number > 0
        ):
            return number
    return None
