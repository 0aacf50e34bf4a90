"""Where the run happens on GitHub: the GITHUB_* environment and the event payload.

Read once into a frozen value so the rest of the code never touches
`os.environ`. On `pull_request` and `pull_request_target` events, GITHUB_SHA
is the merge commit; checks and links must use the PR head, which only the
event payload knows.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SERVER_URL = "https://github.com"
_PR_EVENTS = ("pull_request", "pull_request_target")


@dataclass(frozen=True, slots=True)
class GitHubContext:
    """The GITHUB_* variables that feedback needs (empty strings when absent)."""

    repository: str = ""  #: owner/name
    sha: str = ""  #: GITHUB_SHA (the merge commit on pull_request events)
    head_sha: str = ""  #: the commit to report on: the PR head, else GITHUB_SHA
    ref: str = ""
    pr_number: int | None = None
    server_url: str = DEFAULT_SERVER_URL
    api_url: str = DEFAULT_API_URL
    run_id: str = ""
    run_attempt: str = ""
    workflow: str = ""
    job: str = ""
    actor: str = ""
    event_name: str = ""
    workspace: str = ""
    step_summary: str = ""  #: GITHUB_STEP_SUMMARY file
    output: str = ""  #: GITHUB_OUTPUT file
    state: str = ""  #: GITHUB_STATE file (values for the action's post step)
    event_path: str = ""
    #: on `workflow_run`: the tested branch as `owner:branch` (a fork's owner for fork PRs),
    #: from GitHub's own event payload, to find the pull request GitHub leaves out for forks
    head_label: str = ""

    def targeting(self, *, commit: str | None, pull_request: int | None) -> GitHubContext:
        """This context with the `commit` and `pull-request` inputs in place of the event's values."""
        changes: dict[str, object] = {}
        if commit is not None:
            changes["head_sha"] = commit
        if pull_request is not None:
            changes["pr_number"] = pull_request
        return dataclasses.replace(self, **changes) if changes else self  # type: ignore[arg-type]

    @property
    def repo_url(self) -> str:
        """The repository's web address, or "" outside Actions."""
        return f"{self.server_url.rstrip('/')}/{self.repository}" if self.repository else ""

    @property
    def run_url(self) -> str:
        """The workflow run's web address, or "" outside Actions."""
        if not (self.repository and self.run_id):
            return ""
        url = f"{self.repo_url}/actions/runs/{self.run_id}"
        return f"{url}/attempts/{self.run_attempt}" if self.run_attempt else url

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GitHubContext:
        """Read the context from `environ` (default: the process environment).

        An unreadable event payload is ignored: the head sha falls back to
        GITHUB_SHA and there is no PR number.
        """
        env = os.environ if environ is None else environ
        event_name = env.get("GITHUB_EVENT_NAME", "")
        event_path = env.get("GITHUB_EVENT_PATH", "")
        payload = _load_event(event_path)
        sha = env.get("GITHUB_SHA", "")
        head_sha = sha
        pr_number: int | None = None
        pull = payload.get("pull_request")
        if isinstance(pull, dict):
            number = pull.get("number", payload.get("number"))
            pr_number = number if isinstance(number, int) and not isinstance(number, bool) else None
            head = pull.get("head")
            if event_name in _PR_EVENTS and isinstance(head, dict) and isinstance(head.get("sha"), str):
                head_sha = head["sha"]
        head_label = ""
        run = payload.get("workflow_run")
        if event_name == "workflow_run" and isinstance(run, dict):
            head_label = _head_label(run)
            # The trusted publishing workflow of fork PRs: feedback belongs to the tested commit
            # and its pull request, not to the default branch this workflow runs on.
            if isinstance(run.get("head_sha"), str):
                head_sha = run["head_sha"]
            pulls = run.get("pull_requests")
            if isinstance(pulls, list) and pulls and isinstance(pulls[0], dict):
                number = pulls[0].get("number")
                pr_number = number if isinstance(number, int) and not isinstance(number, bool) else None
        return cls(
            repository=env.get("GITHUB_REPOSITORY", ""),
            sha=sha,
            head_sha=head_sha,
            ref=env.get("GITHUB_REF", ""),
            pr_number=pr_number,
            server_url=env.get("GITHUB_SERVER_URL") or DEFAULT_SERVER_URL,
            api_url=(env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
            run_id=env.get("GITHUB_RUN_ID", ""),
            run_attempt=env.get("GITHUB_RUN_ATTEMPT", ""),
            workflow=env.get("GITHUB_WORKFLOW", ""),
            job=env.get("GITHUB_JOB", ""),
            actor=env.get("GITHUB_ACTOR", ""),
            event_name=event_name,
            workspace=env.get("GITHUB_WORKSPACE", ""),
            step_summary=env.get("GITHUB_STEP_SUMMARY", ""),
            output=env.get("GITHUB_OUTPUT", ""),
            state=env.get("GITHUB_STATE", ""),
            event_path=event_path,
            head_label=head_label,
        )


def _head_label(run: Mapping[str, Any]) -> str:
    """`owner:branch` of a workflow run's head, or "" when the payload lacks either."""
    repo = run.get("head_repository")
    owner = repo.get("owner") if isinstance(repo, dict) else None
    login = owner.get("login") if isinstance(owner, dict) else None
    branch = run.get("head_branch")
    if isinstance(login, str) and isinstance(branch, str) and login and branch:
        return f"{login}:{branch}"
    return ""


def _load_event(path: str) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
