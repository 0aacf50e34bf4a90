from __future__ import annotations

import dataclasses
import functools
import io
import json
import logging
import re
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from conftest import pr_context
from github_server import NOT_ACCESSIBLE, FakeClock, Fault, GitHubServer
from helpers import case, close_run, run_of, suite

from qaagent.github.comment import marker
from qaagent.github.context import GitHubContext
from qaagent.github.lifecycle import fail_check_run, start_check_run
from qaagent.github.publish import publish
from qaagent.report.markdown import render_summary
from qaagent.run_result import FailOn, RunResult

FAIL_ON: list[FailOn] = ["failed", "error"]


@pytest.fixture
def ctx(server: GitHubServer, tmp_path: Path) -> GitHubContext:
    return pr_context(server, tmp_path)


def failing_run() -> RunResult:
    return run_of(
        suite(
            "unit",
            [
                case("test_ok"),
                case("test_bad", "failed", message="assert 1 == 2", line=12),
                case("test_flaky", flaky=True, line=30),
            ],
        )
    )


def go(
    run: RunResult, ctx: GitHubContext, server: GitHubServer, clock: FakeClock, **kwargs: Any
) -> tuple[str, list[str]]:
    out = io.StringIO()
    options: dict[str, Any] = {
        "ctx": ctx,
        "fail_on": FAIL_ON,
        "render": functools.partial(render_summary, run, fail_on=FAIL_ON),
        "token": server.token,
        "check_name": "qaagent",
        "comment": True,
        "annotations": True,
        "summary": True,
        "evidence_path": "evidence/run1",
        "stream": out,
        "clock": clock,
    }
    options.update(kwargs)
    warnings = publish(run, **options)
    return out.getvalue(), warnings


def test_full_publish(server: GitHubServer, ctx: GitHubContext, clock: FakeClock, tmp_path: Path) -> None:
    run = failing_run()
    check_id = start_check_run(
        ctx=ctx, token=server.token, check_name="qaagent", stream=io.StringIO(), clock=clock
    )
    assert check_id is not None
    assert server.check_runs[check_id]["status"] == "in_progress"
    assert server.check_runs[check_id]["head_sha"] == "head123"
    out, warnings = go(run, ctx, server, clock, check_run_id=check_id)
    assert warnings == []
    lines = out.splitlines()
    assert lines[0] == f"::add-mask::{server.token}"
    assert lines[1].startswith("::error title=qaagent::failure: 3 tests")
    assert len(lines) == 4
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "## ❌ qaagent: failure" in summary
    assert "https://github.com/o/r/blob/head123/tests/test_x.py#L12" in summary
    check = server.check_runs[check_id]
    assert check["status"] == "completed"
    assert check["conclusion"] == "failure"
    assert check["output"]["title"] == "2 passed, 1 failed, 0 errors, 0 skipped, 1 flaky"
    assert [(a["annotation_level"], a["start_line"]) for a in check["annotations"]] == [
        ("failure", 12),
        ("warning", 30),
    ]
    assert len(server.check_runs) == 1
    (comment,) = server.comments[7]
    head, result, rest = comment["body"].split("\n", 2)
    assert head == marker("qaagent")
    assert re.fullmatch(r"<!-- qaagent-result:[0-9a-f]{20} failed -->", result)
    assert rest.startswith("## ❌ qaagent: failure")


def test_the_check_run_title_counts_xfail_apart_as_the_summary_line_does(
    server: GitHubServer, ctx: GitHubContext, clock: FakeClock
) -> None:
    xfail = dataclasses.replace(case("test_known_bug", "skipped", message="bug 12"), outcome="xfail")
    xpass = dataclasses.replace(case("test_fixed_bug"), outcome="xpass")
    run = run_of(suite("unit", [case("test_ok"), xfail, xpass, case("test_skip", "skipped")]))
    go(run, ctx, server, clock, comment=False)
    (check,) = server.check_runs.values()
    # pytest's count: the xfailed test is not one of the skipped ones, the xpassed not a passed one
    assert (
        check["output"]["title"] == "1 passed, 0 failed, 0 errors, 1 skipped, 1 xfailed, 1 xpassed, 0 flaky"
    )


def test_comment_is_updated_in_place(server: GitHubServer, ctx: GitHubContext, clock: FakeClock) -> None:
    for i in range(120):  # the marker comment sits on the second page
        server.add_comment(7, f"chatter {i}")
    first = go(failing_run(), ctx, server, clock)[1]
    assert first == []
    created = [c for c in server.comments[7] if c["body"].startswith(marker("qaagent"))]
    assert len(created) == 1
    ok = run_of(suite("unit", [case("test_ok")]))
    go(ok, ctx, server, clock)
    mine = [c for c in server.comments[7] if c["body"].startswith(marker("qaagent"))]
    assert len(mine) == 1
    assert mine[0]["id"] == created[0]["id"]
    assert "## ✅ qaagent: success" in mine[0]["body"]
    assert len(server.comments[7]) == 121
    patches = [r for r in server.requests if r.method == "PATCH" and "/issues/comments/" in r.path]
    assert len(patches) == 1


def test_a_marker_planted_by_someone_else_is_never_updated(
    server: GitHubServer, ctx: GitHubContext, clock: FakeClock
) -> None:
    planted = server.add_comment(7, marker("qaagent") + "\nmine now", user="mallory")
    assert go(failing_run(), ctx, server, clock)[1] == []
    theirs, mine = server.comments[7]
    assert theirs == {"id": planted, "body": marker("qaagent") + "\nmine now", "user": {"login": "mallory"}}
    assert mine["user"] == {"login": "github-actions[bot]"}  # GITHUB_TOKEN's identity, asked via GraphQL
    go(run_of(suite("unit", [case("test_ok")])), ctx, server, clock)
    assert [c["id"] for c in server.comments[7]] == [planted, mine["id"]]  # our own comment, updated
    assert "success" in server.comments[7][1]["body"]
    assert server.comments[7][0]["body"].endswith("mine now")


def test_a_user_token_updates_only_its_own_comment(
    server: GitHubServer, ctx: GitHubContext, clock: FakeClock
) -> None:
    server.user_token, server.login = True, "octocat"
    other = server.add_comment(7, marker("qaagent") + "\nold", user="github-actions[bot]")
    own = server.add_comment(7, marker("qaagent") + "\nold", user="octocat")
    assert go(failing_run(), ctx, server, clock)[1] == []
    assert [c["id"] for c in server.comments[7]] == [other, own]
    assert server.comments[7][0]["body"].endswith("old")
    assert "failure" in server.comments[7][1]["body"]


def test_names_mention_no_one_and_link_no_issue(
    server: GitHubServer, ctx: GitHubContext, clock: FakeClock
) -> None:
    run = run_of(
        suite("unit", [case("test_ping @octocat and @org/team about #123", "failed", message="@admin")]),
        project="shop @everyone #1",
    )
    check_id = start_check_run(
        ctx=ctx, token=server.token, check_name="qaagent", stream=io.StringIO(), clock=clock
    )
    assert check_id is not None
    assert go(run, ctx, server, clock, check_run_id=check_id)[1] == []
    bodies = [server.comments[7][0]["body"], server.check_runs[check_id]["output"]["summary"]]
    for body in bodies:
        assert "octocat" in body
        prose = re.sub(r"```.*?```", "", body, flags=re.DOTALL)  # code: GitHub mentions no one there
        prose = re.sub(r"\]\([^)]*\)", "]", prose)  # link targets (…#L3 anchors)
        assert re.search(r"@[A-Za-z0-9]", prose) is None, prose
        assert re.search(r"#[0-9]", prose) is None, prose


def test_refused_annotations_still_complete_the_check_run(
    server: GitHubServer, ctx: GitHubContext, clock: FakeClock
) -> None:
    server.reject_annotations = True
    check_id = start_check_run(
        ctx=ctx, token=server.token, check_name="qaagent", stream=io.StringIO(), clock=clock
    )
    assert check_id is not None
    _, warnings = go(failing_run(), ctx, server, clock, check_run_id=check_id)
    check = server.check_runs[check_id]
    assert check["status"] == "completed"
    assert check["conclusion"] == "failure"
    assert len(warnings) == 1
    assert "without its annotations" in warnings[0]


def test_marker_sanitises_name() -> None:
    assert marker(None) == "<!-- qaagent:report -->"
    # A name changed on its way into the marker also carries a digest of the whole name,
    # so two names never share a marker (and a comment).
    assert re.fullmatch(r"<!-- qaagent:x -_ _b_ #[0-9a-f]{12} -->", marker("x --> <b>"))
    assert re.fullmatch(r"<!-- qaagent:a-b #[0-9a-f]{12} -->", marker("a---b"))
    assert marker("a---b") != marker("a-b") == "<!-- qaagent:a-b -->"
    assert marker("qaagent (3.12)") == "<!-- qaagent:qaagent (3.12) -->"
    assert marker("tests é") != marker("tests ü")


@pytest.mark.slow
def test_five_thousand_failures_all_reach_the_server_paced(
    server: GitHubServer, ctx: GitHubContext, clock: FakeClock
) -> None:
    cases = [case(f"test_{i}", "failed", message=f"boom {i}", line=i + 1) for i in range(5000)]
    run = run_of(suite("unit", cases))
    try:
        out, warnings = go(run, ctx, server, clock, comment=False)
    finally:
        close_run(run)
    assert warnings == []
    (check,) = server.check_runs.values()
    assert len(check["annotations"]) == 5000
    assert [a["start_line"] for a in check["annotations"]] == list(range(1, 5001))
    mutating = server.mutating()
    assert len(mutating) == 100
    assert all(len(r.body["output"]["annotations"]) <= 50 for r in mutating)
    times = [r.at for r in mutating]
    assert all(b - a >= 1.0 for a, b in pairwise(times))
    assert len(mutating[0].body["output"]["summary"].encode()) <= 65_535
    assert sum(1 for line in out.splitlines() if line.startswith("::error")) == 9  # + 1 kept free


def test_permission_denied_gives_one_warning_and_falls_back(
    server: GitHubServer, ctx: GitHubContext, clock: FakeClock, tmp_path: Path
) -> None:
    server.script("POST", "check-runs", Fault(403, NOT_ACCESSIBLE), Fault(403, NOT_ACCESSIBLE))
    server.script("GET", "comments", Fault(403, NOT_ACCESSIBLE))
    assert (
        start_check_run(ctx=ctx, token=server.token, check_name="qaagent", stream=io.StringIO(), clock=clock)
        is None
    )
    out, warnings = go(failing_run(), ctx, server, clock)
    assert len(warnings) == 1
    assert "`checks: write` and `pull-requests: write`" in warnings[0]
    warning_lines = [line for line in out.splitlines() if line.startswith("::warning title=qaagent")]
    assert len(warning_lines) == 1
    assert "::error title=qaagent::failure" in out  # annotations still there
    assert (tmp_path / "summary.md").exists()


def test_api_outage_is_a_warning_not_a_crash(
    server: GitHubServer, ctx: GitHubContext, clock: FakeClock
) -> None:
    server.script("POST", "check-runs", *[Fault(503)] * 50)
    out, warnings = go(failing_run(), ctx, server, clock, budget=20)
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "could not publish the check run: POST /repos/o/r/check-runs: gave up after 5"
    )
    assert sum(clock.sleeps) <= 20
    assert out.count("::warning title=qaagent::") == 1
    assert "::error title=qaagent::failure" in out
    assert len(server.comments[7]) == 1  # needed no retry, so the spent budget did not stop it
    # the retry budget is shared: once used up, a request that needs a retry gives up at once
    server.script("GET", "comments", Fault(500))
    _, warnings = go(failing_run(), ctx, server, clock, budget=0)
    assert [w.split(":")[0] for w in warnings] == [
        "could not publish the check run",
        "could not update the pull-request comment",
    ]


def test_transient_errors_are_retried_through(
    server: GitHubServer, ctx: GitHubContext, clock: FakeClock
) -> None:
    server.script("GET", "comments", Fault(kind="reset"), Fault(500), Fault(502))
    server.script("POST", "comments", Fault(429, {"message": "slow"}, {"retry-after": "3"}))
    server.script("POST", "check-runs", Fault(kind="reset"))
    _, warnings = go(failing_run(), ctx, server, clock)
    assert warnings == []
    assert len(server.comments[7]) == 1
    assert len(server.check_runs) == 1


def test_no_token_skips_api(ctx: GitHubContext, tmp_path: Path) -> None:
    out = io.StringIO()
    run = failing_run()
    warnings = publish(
        run,
        ctx=ctx,
        fail_on=FAIL_ON,
        render=functools.partial(render_summary, run, fail_on=FAIL_ON),
        token=None,
        check_name="qaagent",
        comment=True,
        annotations=False,
        summary=False,
        evidence_path=None,
        stream=out,
    )
    assert warnings == ["no github-token: the check run and the pull-request comment were skipped"]
    assert out.getvalue().count("\n") == 1
    assert not (tmp_path / "summary.md").exists()


def test_token_never_leaks(
    server: GitHubServer,
    ctx: GitHubContext,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    server.script("POST", "check-runs", Fault(422, {"message": f"echo {server.token}"}))
    out, warnings = go(failing_run(), ctx, server, clock)
    lines = out.splitlines()
    assert lines[0] == f"::add-mask::{server.token}"
    assert all(server.token not in line for line in lines[1:])
    assert all(server.token not in w for w in warnings)
    assert "echo ***" in warnings[0]
    captured = capsys.readouterr()
    assert server.token not in captured.out + captured.err
    assert server.token not in caplog.text
    assert server.token not in repr(ctx)


def test_context_from_env_pull_request(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"number": 42, "pull_request": {"number": 42, "head": {"sha": "prhead"}}}))
    env = {
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_SHA": "mergesha",
        "GITHUB_EVENT_NAME": "pull_request_target",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_API_URL": "https://ghe.example/api/v3/",
        "GITHUB_SERVER_URL": "https://ghe.example",
        "GITHUB_RUN_ID": "5",
        "GITHUB_RUN_ATTEMPT": "2",
    }
    ctx = GitHubContext.from_env(env)
    assert (ctx.sha, ctx.head_sha, ctx.pr_number) == ("mergesha", "prhead", 42)
    assert ctx.api_url == "https://ghe.example/api/v3"
    assert ctx.run_url == "https://ghe.example/o/r/actions/runs/5/attempts/2"
    push = GitHubContext.from_env({**env, "GITHUB_EVENT_NAME": "push"})
    assert push.head_sha == "mergesha"
    event.write_text("{not json")
    broken = GitHubContext.from_env(env)
    assert (broken.head_sha, broken.pr_number) == ("mergesha", None)
    empty = GitHubContext.from_env({})
    assert empty.api_url == "https://api.github.com"
    assert (empty.repository, empty.run_id, empty.repo_url, empty.run_url) == ("", "", "", "")


def test_prerendered_summary_is_used_for_the_job_summary(
    server: GitHubServer, ctx: GitHubContext, clock: FakeClock, tmp_path: Path
) -> None:
    big = "| row |\n" * 200_000  # 1.6 MB
    _, warnings = go(failing_run(), ctx, server, clock, summary_markdown=big, junit_path="reports/junit.xml")
    assert warnings == []
    written = (tmp_path / "summary.md").read_bytes()
    assert len(written) <= 1_000_000
    assert written.decode().startswith("| row |\n| row |")
    assert "cut to fit GitHub's 1 MiB limit" in written.decode()
    (check,) = server.check_runs.values()
    assert "**Merged JUnit:** `reports/junit.xml`" in check["output"]["summary"]


@pytest.mark.parametrize("title", [None, "Shop QA"])
def test_when_qaagent_failed_every_text_says_so_first_then_the_tests_verdict(
    server: GitHubServer, ctx: GitHubContext, clock: FakeClock, tmp_path: Path, title: str | None
) -> None:
    # issue 12, sixth review: an exit 3 after the reports concluded the check run `failure`
    # but its title was the tests' counts and its summary, the job summary and the comment were
    # headed "✅ qaagent: success", the failure a line further down
    run = run_of(suite("unit", [case("test_ok")]), project="shop")
    error = "could not write junit.xml (No space left on device) for @org/team #12"
    heading = f"## ❌ {title + ': ' if title else ''}qaagent failed (exit 3) — shop\n\n"
    as_written = render_summary(run, fail_on=FAIL_ON)  # the bundle's summary.md: written before
    assert as_written.startswith("## ✅ qaagent: success")
    _, warnings = go(run, ctx, server, clock, summary_markdown=as_written, summary_title=title, error=error)
    assert warnings == []
    (check,) = server.check_runs.values()
    assert check["conclusion"] == "failure"
    assert (
        check["output"]["title"]
        == "qaagent failed (exit 3) · tests: 1 passed, 0 failed, 0 errors, 0 skipped, 0 flaky"
    )
    job_summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    (comment,) = server.comments[7]
    comment_text = comment["body"].split("\n", 2)[2]
    for text in (check["output"]["summary"], job_summary, comment_text):
        assert text.startswith(heading), text[:300]
        why, verdict = text.removeprefix(heading).split("\n\n")[:2]
        # why, escaped as every untrusted text: no mention, no issue link
        assert why.startswith("could not write junit\\.xml \\(No space left on device\\) for @\u200d"), why
        assert re.search(r"@[A-Za-z0-9]|#[0-9]", why) is None, why
        assert verdict == "The tests' own verdict: ✅ success"
        assert "✅ qaagent: success" not in text
        assert "| 1 | 1 | 0 | 0 | 0 |" in text  # the counts follow


def test_an_exit_3_before_the_reports_names_a_hostile_file_inertly(
    server: GitHubServer, ctx: GitHubContext
) -> None:
    # session 23: the one line of an exit 3 before the reports (a file a suite made, which
    # could be neither redacted nor removed) went into the check run raw: `@org/team` pinged
    error = "could neither redact nor remove suites/x/@org/team [x](https://evil.example) #12.txt"
    fail_check_run(
        ctx=ctx,
        token=server.token,
        check_name="qaagent",
        check_run_id=None,
        error=error,
        stream=io.StringIO(),
    )
    (check,) = server.check_runs.values()
    assert (check["conclusion"], check["output"]["title"]) == ("failure", "qaagent failed (exit 3)")
    summary = check["output"]["summary"]
    assert summary.startswith("**qaagent failed (exit 3):** could neither redact nor remove suites/x/@"), (
        summary
    )
    assert re.search(r"@[A-Za-z0-9]|#[0-9]|\]\(", summary) is None, summary


def test_start_check_run_without_stream(server: GitHubServer, ctx: GitHubContext, clock: FakeClock) -> None:
    assert start_check_run(ctx=ctx, token=server.token, check_name="qa", clock=clock) is not None
    server.script("POST", "check-runs", Fault(403, NOT_ACCESSIBLE))
    assert start_check_run(ctx=ctx, token=server.token, check_name="qa", clock=clock) is None
    assert start_check_run(ctx=ctx, token=None, check_name="qa", clock=clock) is None


def test_workflow_run_events_point_at_the_tested_commit_and_its_pull_request(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"workflow_run": {"head_sha": "c" * 40, "pull_requests": [{"number": 42}], "id": 7}}),
        encoding="utf-8",
    )
    env = {"GITHUB_EVENT_NAME": "workflow_run", "GITHUB_EVENT_PATH": str(event), "GITHUB_SHA": "b" * 40}
    ctx = GitHubContext.from_env(env)
    assert ctx.head_sha == "c" * 40
    assert ctx.pr_number == 42
    assert ctx.sha == "b" * 40


FAKE_TOKEN = "ghs_" + "SECRETinREPR0123456789"


def test_the_token_is_not_in_the_reprs_of_publishing_state() -> None:
    from qaagent.github.publish import _Job  # noqa: PLC0415 - a private helper, checked on purpose

    job = _Job(
        run=run_of(suite("unit", [case("t")])),
        ctx=GitHubContext.from_env({}),
        fail_on=["failed"],
        markdown=lambda _size: "",
        token=FAKE_TOKEN,
    )
    assert FAKE_TOKEN not in repr(job)


def test_a_cancelled_run_sends_one_request_whatever_the_failures(
    server: GitHubServer, ctx: GitHubContext, clock: FakeClock
) -> None:
    cases = [case(f"test_{i}", "failed", message=f"boom {i}", line=i + 1) for i in range(3000)]
    run = dataclasses.replace(run_of(suite("unit", cases)), cancelled=True)
    check_id = start_check_run(
        ctx=ctx, token=server.token, check_name="qaagent", stream=io.StringIO(), clock=clock
    )
    assert check_id is not None
    before, started = len(server.mutating()), clock.now
    try:
        _, warnings = go(run, ctx, server, clock, check_run_id=check_id)
    finally:
        close_run(run)
    assert len(server.mutating()) - before == 1  # the conclusion; no annotation batch, no comment
    assert server.check_runs[check_id]["status"] == "completed"
    assert clock.now - started < 5
    assert warnings == ["the run was cancelled: the pull-request comment was not updated"]


def test_api_and_output_problems_are_visible_after_ten_flaky_tests(
    server: GitHubServer, ctx: GitHubContext, clock: FakeClock
) -> None:
    # GitHub shows 10 annotations of a level per step: with 14 flaky tests, qaagent's own warning
    # (an API outage and an unwritable GITHUB_OUTPUT, in one) must be one of the ten, not the 15th.
    flaky = [case(f"test_flaky_{i}", flaky=True, line=i + 1) for i in range(14)]
    run = run_of(suite("unit", [case("test_bad", "failed", message="boom"), *flaky]))
    server.script("POST", "check-runs", *[Fault(503)] * 50)
    out, warnings = go(
        run, ctx, server, clock, budget=5, comment=False, warnings=["cannot write GITHUB_OUTPUT"]
    )
    lines = [line for line in out.splitlines() if line.startswith("::warning")]
    assert len(lines) == 10
    assert lines[-1].startswith("::warning title=qaagent::2 problems while reporting the results:")
    assert "cannot write GITHUB_OUTPUT" in lines[-1]
    assert "could not publish the check run" in lines[-1]
    assert warnings[0] == "cannot write GITHUB_OUTPUT"
