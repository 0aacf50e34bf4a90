"""The Docker action's post step: close a check run that a killed run left `in_progress`.

The run saves the id of the check run it opened in `GITHUB_STATE` (`check_run_id`);
GitHub runs `post-entrypoint` (a new container of the same image) after the step,
whatever happened to it, with that value as `STATE_check_run_id`. If the run was
killed (the job timed out, the runner lost the container, SIGKILL) before it
completed the check run, this completes it with the conclusion `cancelled`, so no
check stays "in progress" for ever. A check run the run completed is left alone
(one GET). The step never fails the job: a problem is one `::warning`.

The host (composite) variant has no post step: there a killed run leaves the check
`in_progress` until the next run of the same check name completes its own.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TextIO

from qaagent.github.commands import write_command

#: the GITHUB_STATE name (`STATE_check_run_id` in the post step)
CHECK_RUN_STATE = "check_run_id"
#: seconds the post step may spend on GitHub
BUDGET = 20.0
#: what the check run says when the post step closed it
SUMMARY = (
    "qaagent was stopped (the job was cancelled, timed out or killed) before it completed this "
    "check run, so it has no results. See the job's log and its evidence bundle, if one was uploaded."
)


def close_abandoned_check(env: Mapping[str, str], out: TextIO) -> str:
    """Complete the run's check run if it is still open; what was done, in a few words."""
    raw = env.get(f"STATE_{CHECK_RUN_STATE}", "").strip()
    if not raw:
        return "no check run was opened"
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19):  # noqa: PLR2004 - a 64-bit id
        _warn(out, "qaagent post step: the saved check run id is not a number")
        return "bad state"
    token = env.get("INPUT_GITHUB-TOKEN") or env.get("INPUT_GITHUB_TOKEN") or ""
    repository = env.get("GITHUB_REPOSITORY", "")
    if not token or not repository:
        return "no token or repository"
    from qaagent.github.api import GitHubClient  # noqa: PLC0415 - requests: only here
    from qaagent.github.commands import add_mask  # noqa: PLC0415
    from qaagent.github.errors import GitHubAPIError  # noqa: PLC0415

    add_mask(token, out)
    path = f"/repos/{repository}/check-runs/{int(raw)}"
    api_url = (env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")
    try:
        with GitHubClient(token, api_url=api_url, budget=BUDGET) as client:
            answer = client.request("GET", path, permission="checks: write")
            if isinstance(answer, dict) and answer.get("status") == "completed":
                return "the check run was completed by the run"
            client.request(
                "PATCH",
                path,
                json={
                    "status": "completed",
                    "conclusion": "cancelled",
                    "output": {"title": "qaagent did not finish", "summary": SUMMARY},
                },
                permission="checks: write",
            )
    except GitHubAPIError as exc:
        _warn(out, f"qaagent post step: could not close the check run: {exc}")
        return "API problem"
    _warn(out, "qaagent was stopped before it completed its check run: closed it as cancelled")
    return "closed"


def _warn(out: TextIO, text: str) -> None:
    write_command(out, "warning", text, title="qaagent")


def main() -> int:
    """`qaagent-post`: the Docker action's `post-entrypoint`. Always exit 0."""
    close_abandoned_check(os.environ, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
