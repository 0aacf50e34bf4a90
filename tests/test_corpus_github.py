"""GitHub corpus additions: a 1 MB test name end to end, and a server slower than the budget.

The injection corpus and the scripted API faults (403 with and without
`retry-after`, 429, 500/502/503, connection reset, invalid JSON) live in
test_github_commands.py and test_github_api.py; this adds what they lacked.
"""

from __future__ import annotations

import functools
import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import pr_context
from github_server import FakeClock, GitHubServer
from helpers import case, close_run, run_of, suite
from test_github_commands import INJECTIONS

from qaagent.github.api import GitHubClient
from qaagent.github.errors import GitHubAPIError
from qaagent.github.lifecycle import start_check_run
from qaagent.github.publish import publish
from qaagent.report.markdown import render_summary

MEGABYTE_NAME = "test_" + "n" * (1024 * 1024) + "\n::error::injected"


@pytest.mark.slow
def test_one_megabyte_name_with_injections_through_publish(server: GitHubServer, tmp_path: Path) -> None:
    ctx = pr_context(server, tmp_path)
    evil = [case(MEGABYTE_NAME, "failed", message=MEGABYTE_NAME, details=MEGABYTE_NAME, line=3)]
    evil += [case(text, "error", message=text, classname=text, line=5) for text in INJECTIONS]
    run = run_of(suite("unit", evil), project="::add-mask::x")
    clock = FakeClock()
    try:
        check_id = start_check_run(
            ctx=ctx, token=server.token, check_name="qa", stream=io.StringIO(), clock=clock
        )
        out = io.StringIO()
        warnings = publish(
            run,
            ctx=ctx,
            fail_on=["failed", "error"],
            render=functools.partial(render_summary, run, fail_on=["failed", "error"]),
            token=server.token,
            check_name="qa",
            comment=True,
            annotations=True,
            summary=True,
            evidence_path="evidence/run1",
            stream=out,
            clock=clock,
            check_run_id=check_id,
        )
    finally:
        close_run(run)
    assert warnings == []  # the fake server enforces GitHub's size limits: every request fit
    lines = out.getvalue().splitlines()
    commands = [line for line in lines if line.startswith("::")]
    assert commands == lines  # nothing but the commands qaagent meant to write
    assert all(
        line.split(" ", 1)[0].split("::")[1] in ("add-mask", "error", "warning", "notice") for line in lines
    )
    assert not any(line.startswith("::error::injected") for line in lines)
    assert max(len(line.encode()) for line in lines) < 16 * 1024
    summary = Path(ctx.step_summary or "").read_bytes()
    assert len(summary) <= 1024 * 1024
    summary.decode("utf-8")  # never cut inside a character
    assert check_id is not None
    check = server.check_runs[check_id]
    assert check["conclusion"] == "failure"
    assert all(len(a["title"]) <= 255 for a in check["annotations"])
    (comment,) = server.comments[7]
    assert len(comment["body"]) <= 65536


@pytest.fixture
def silent_server() -> Iterator[str]:
    """The fake API, reading every request and never answering."""
    with GitHubServer(silent=True) as api:
        yield api.url


@pytest.mark.slow
def test_a_silent_server_cannot_outlast_the_budget(silent_server: str) -> None:
    # Regression: only retry waits counted, so each attempt could add a full 30 s timeout.
    clock = FakeClock()
    with GitHubClient("t0ken-value", api_url=silent_server, clock=clock, budget=3.0, timeout=30.0) as client:
        started = time.monotonic()
        with pytest.raises(GitHubAPIError, match="API budget"):
            client.request("POST", "/repos/o/r/check-runs", json={"name": "qa", "head_sha": "abc"})
        real = time.monotonic() - started
        assert real + sum(clock.sleeps) <= 3.0 + 1.5, (real, clock.sleeps)
        # once the budget is spent, later requests give up after one short attempt
        started = time.monotonic()
        with pytest.raises(GitHubAPIError):
            client.request("GET", "/repos/o/r/issues/1/comments")
        assert time.monotonic() - started < 1.5
