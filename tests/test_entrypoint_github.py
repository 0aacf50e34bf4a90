"""entrypoint.py in run mode against the fake GitHub API that enforces GitHub's documented limits
(≤ 50 annotations per request, summary ≤ 65,535 bytes, required fields): a pull request with
many failures gets one check run with every annotation, and one comment updated in place."""

from __future__ import annotations

from pathlib import Path

import pytest
from github_server import GitHubServer
from helpers import HEAD_SHA, TOKEN
from test_entrypoint import Action

MANY_FAILURES = "\n".join(f"def test_{i}():\n    assert {i} == -1, 'x' * 2000\n" for i in range(120))


@pytest.mark.slow
def test_a_pull_request_with_120_failures_gets_every_annotation_and_one_comment(tmp_path: Path) -> None:
    with GitHubServer(token=TOKEN) as api:
        action = Action(tmp_path, api.url)
        (action.workspace / "tests").mkdir()
        (action.workspace / "tests" / "test_many.py").write_text(MANY_FAILURES, encoding="utf-8")
        (action.workspace / ".qaagent.yaml").write_text("tests:\n  unit: {path: tests}\n", encoding="utf-8")
        action.inputs.update({"check-name": "qaagent", "comment": "true"})
        first = action.run(timeout=180)
        second = action.run(timeout=180)  # a later run of the same PR updates the same comment

    for result in (first, second):
        assert result.returncode == 1, (result.stdout[-2000:], result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stdout.count(TOKEN) == 1  # only in ::add-mask::
    # The server enforces GitHub's limits (422 over them): every request was within them.
    # (GET /user answers 403 to an installation token, as GitHub's does: the identity then comes
    # from GraphQL; see github/comment.py)
    refused = [r for r in api.requests if r.status >= 400 and (r.method, r.path) != ("GET", "/user")]
    assert refused == [], [(r.method, r.path, r.status) for r in api.requests]
    checks = list(api.check_runs.values())
    assert len(checks) == 2
    for check in checks:
        assert check["head_sha"] == HEAD_SHA
        assert check["conclusion"] == "failure"
        assert len(check["annotations"]) == 120
    batches = [
        len(r.body["output"].get("annotations", []))
        for r in api.mutating()
        if isinstance(r.body, dict) and "output" in r.body
    ]
    assert max(batches) == 50
    comments = [r for r in api.requests if r.method == "POST" and r.path.endswith("/comments")]
    updates = [r for r in api.requests if r.method == "PATCH" and "/issues/comments/" in r.path]
    assert len(comments) == 1
    assert len(updates) == 1
