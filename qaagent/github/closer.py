"""The Docker action's post step: seal a bundle and close a check run that a killed run left open.

The run saves where its evidence bundle is in `GITHUB_STATE` (`evidence_bundle`) as it
creates it. If the run was killed before it finished the bundle (`kill -9`, an OOM kill),
the post step gives every file in it the treatment the run's end would have given it
(`evidence.cleaning.seal_abandoned`: redacted with the same environment's secrets, links and
unredactable files set aside), so the workspace holds no raw secret of the killed run. GitHub
runs post steps after the job's other steps: an upload step later in the same job has run
by then (README, Security).

The run saves the id of the check run it opened in `GITHUB_STATE` (`check_run_id`);
GitHub runs `post-entrypoint` (a new container of the same image) after the step,
whatever happened to it, with that value as `STATE_check_run_id`. If the run was
killed (the job timed out, the runner lost the container, SIGKILL) before it
completed the check run, this completes it with the conclusion `cancelled`, so no
check stays "in progress" for ever. A check run the run completed is left alone
(one GET). Before it asks for the check run, the run also saves its name, commit and a mark
of its own (`external_id`, sent with the creation): if a signal came while the creation was on
its way and its answer came after the run's last wait (`CANCELLED_START_WAIT`), the id was
never saved, and the post step finds that check run in the commit's list by name and
completes it if it still is `in_progress` and carries the mark — never another's. When the
run ended without the id of its first creation (unanswered within its end's wait), it saved
the id of the check run it completed instead: a marked one GitHub made later then gets that
one's conclusion, title and summary, not `cancelled`. The step never fails the job: a problem
is one `::warning`.

The host (composite) variant has no post step: there a killed run leaves the check
`in_progress` (no later run touches it: each completes only check runs with its own mark).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from qaagent.github.commands import write_command, write_outputs

if TYPE_CHECKING:
    from qaagent.github.api import GitHubClient

#: the GITHUB_STATE name (`STATE_check_run_id` in the post step)
CHECK_RUN_STATE = "check_run_id"
#: the GITHUB_STATE names of the check run's name, commit and mark (its `external_id`), saved
#: before it is created: the post step finds it by them if its id never reached the run
CHECK_NAME_STATE = "check_name"
CHECK_SHA_STATE = "check_head_sha"
CHECK_MARK_STATE = "check_external_id"
#: the GITHUB_STATE name of the run's evidence bundle (`STATE_evidence_bundle`)
BUNDLE_STATE = "evidence_bundle"
#: what the post step's requests need
PERMISSION = "checks: write"
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
#: seconds the post step may spend on GitHub
BUDGET = 20.0
#: what the check run says when the post step closed it
SUMMARY = (
    "qaagent was stopped (the job was cancelled, timed out or killed) before it completed this "
    "check run, so it has no results. See the job's log and its evidence bundle, if one was uploaded."
)


def close_abandoned_check(env: Mapping[str, str], out: TextIO) -> str:
    """Complete the run's check runs that are still open; what was done, in a few words.

    The one whose id the run saved, and any other still `in_progress` on the saved commit under
    the saved name that carries the run's own mark (`external_id`): one whose creation was
    answered after the run had stopped waiting (a signal during the request). Never another's.
    """
    raw = env.get(f"STATE_{CHECK_RUN_STATE}", "").strip()
    mark = env.get(f"STATE_{CHECK_MARK_STATE}", "").strip()
    if not raw and not mark:
        return "no check run was opened"
    if raw and not (raw.isascii() and raw.isdigit() and len(raw) <= 19):  # noqa: PLR2004 - a 64-bit id
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
    api_url = (env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")
    closed = 0
    #: the run's own completion (conclusion and output), when the saved check run has one
    finished: dict[str, object] | None = None
    try:
        with GitHubClient(token, api_url=api_url, budget=BUDGET) as client:
            open_ids: list[int] = []
            if raw:
                answer = client.request(
                    "GET", f"/repos/{repository}/check-runs/{int(raw)}", permission=PERMISSION
                )
                if isinstance(answer, dict) and answer.get("status") == "completed":
                    finished = _completion(answer)
                else:
                    open_ids.append(int(raw))
            name = env.get(f"STATE_{CHECK_NAME_STATE}", "")
            sha = env.get(f"STATE_{CHECK_SHA_STATE}", "").strip()
            found = marked_open(client, repository, name=name, sha=sha, mark=mark)
            open_ids += [i for i in found if i not in open_ids]
            for check_id in open_ids:
                client.request(
                    "PATCH",
                    f"/repos/{repository}/check-runs/{check_id}",
                    json={"status": "completed", **(finished or _CANCELLED)},
                    permission=PERMISSION,
                )
                closed += 1
    except GitHubAPIError as exc:
        _warn(out, f"qaagent post step: could not close the check run: {exc}")
        return "API problem"
    if not closed:
        return "the check run was completed by the run"
    # finished: the run published its results to a check run of its own; GitHub made the one of
    # its first, unanswered creation later: it gets the same conclusion, so no `cancelled` one stands
    _warn(
        out,
        "qaagent was stopped before it completed its check run: closed it as cancelled"
        if finished is None
        else "GitHub made qaagent's check run after the run had stopped waiting for it: "
        f"completed it as the run's own ({finished['conclusion']})",
    )
    return "closed"


_CANCELLED: dict[str, object] = {
    "conclusion": "cancelled",
    "output": {"title": "qaagent did not finish", "summary": SUMMARY},
}
#: the conclusions a run gives its check run (`run_result.Conclusion`)
_CONCLUSIONS = ("success", "failure", "cancelled")
#: GitHub's limits on a check run's output (characters of the title, of the summary)
_TITLE_CHARS = 1_000
_SUMMARY_CHARS = 65_535


def _completion(answer: dict[str, object]) -> dict[str, object] | None:
    """The conclusion and output (title, summary) of a completed check run's answer; None if odd."""
    output = answer.get("output")
    title = output.get("title") if isinstance(output, dict) else None
    summary = output.get("summary") if isinstance(output, dict) else None
    conclusion = answer.get("conclusion")
    if conclusion not in _CONCLUSIONS or not isinstance(title, str) or not isinstance(summary, str):
        return None
    if len(title) > _TITLE_CHARS or len(summary) > _SUMMARY_CHARS:
        return None
    return {"conclusion": conclusion, "output": {"title": title, "summary": summary}}


def marked_open(client: GitHubClient, repository: str, *, name: str, sha: str, mark: str) -> list[int]:
    """The ids of the check runs on commit `sha`, named `name`, still open and marked `mark`.

    GitHub's list of a commit's check runs, filtered by name (`check_name`), every run of it
    (`filter=all`), one page of 100 (one run makes one or two). Used here and by the run's
    own end (`publish`), which completes a check run whose creation was answered too late.
    """
    if not (mark and name and _SHA.fullmatch(sha)):
        return []
    answer = client.request(
        "GET",
        f"/repos/{repository}/commits/{sha}/check-runs",
        params={"check_name": name, "filter": "all", "per_page": 100},
        permission=PERMISSION,
    )
    runs = answer.get("check_runs") if isinstance(answer, dict) else None
    return [
        run["id"]
        for run in runs or []
        if isinstance(run, dict)
        and run.get("external_id") == mark
        and run.get("status") != "completed"
        and isinstance(run.get("id"), int)
        and not isinstance(run.get("id"), bool)
    ]


def save_state(state_file: str, values: Mapping[str, str], out: TextIO) -> None:
    """Hand `values` to the action's post step (`GITHUB_STATE`; nothing without one)."""
    if not state_file:
        return
    try:
        write_outputs(Path(state_file), values)
    except OSError as exc:
        write_command(out, "debug", f"qaagent: cannot write GITHUB_STATE: {exc.strerror or exc}")


def seal_abandoned_bundle(env: Mapping[str, str], out: TextIO) -> str:
    """Seal the run's bundle if the run left it unfinished; what was done, in a few words."""
    raw = env.get(f"STATE_{BUNDLE_STATE}", "")
    if not raw.strip():
        return "no bundle was started"
    from qaagent import redact  # noqa: PLC0415 - only when there is a bundle
    from qaagent.errors import UsageError  # noqa: PLC0415
    from qaagent.evidence.cleaning import UnredactedError, seal_abandoned  # noqa: PLC0415
    from qaagent.paths import confine  # noqa: PLC0415

    workspace = Path(env.get("GITHUB_WORKSPACE") or Path.cwd()).resolve()
    try:  # the state file is the run's, but only a folder in the workspace is ever touched
        folder = confine(raw, base=workspace, root=workspace, what="the saved evidence bundle")
    except UsageError as exc:
        _warn(out, f"qaagent post step: {exc.message}")
        return "bad state"
    token = env.get("INPUT_GITHUB-TOKEN") or env.get("INPUT_GITHUB_TOKEN") or ""
    redactor = redact.Redactor.from_environ(env, extra=[token] if token else [])
    try:
        changed = seal_abandoned(folder, redactor)
    except UnredactedError as exc:
        _warn(out, f"qaagent post step: {exc.message}")
        return "a file could not be redacted"
    if changed is None:
        return "the bundle was finished by the run"
    _warn(
        out,
        "qaagent was stopped before it finished its evidence bundle: the post step redacted the files "
        f"it left and set {changed} aside (the bundle stays incomplete)",
    )
    return "sealed"


def _warn(out: TextIO, text: str) -> None:
    write_command(out, "warning", text, title="qaagent")


def main() -> int:
    """`qaagent-post`: the Docker action's `post-entrypoint`. Always exit 0."""
    seal_abandoned_bundle(os.environ, sys.stdout)
    close_abandoned_check(os.environ, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
