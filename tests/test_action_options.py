"""The feedback inputs users of the peer actions rely on, through entrypoint.py and the fake API.

`commit` / `pull-request` (and the fork `workflow_run` recipe, which needs neither),
`comment-mode`, per-check-name comments, `annotate` / `annotations-limit`, `summary` /
`summary-title`, and the `check-url`, `comment-url` and `json` outputs. Bad values stop
the action in-process with one line and exit 2; the rest run entrypoint.py as the runner
does, on tiny fixture projects.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from github_server import GitHubServer
from helpers import HEAD_SHA, TOKEN, case, close_run, run_of, suite
from test_entrypoint import Action, Result, assert_input_error

from qaagent.github.results_json import JSON_BYTES, result_json

#: a command suite that exits with the status written in `rc` (0 unless the file says otherwise);
#: no quarantine: a test that passes and fails on one commit is flaky, and would be quarantined
SWITCH_PROFILE = """\
project:
  name: fixture
history:
  quarantine: "off"
tests:
  smoke:
    runner: command
    command: [python3, -c, "import pathlib, sys; p = pathlib.Path('rc'); sys.exit(int(p.read_text()) if p.exists() else 0)"]
"""
BASE_SHA = "9049f1265b7d61be4a8904a9a27120d2064dab3b"
FORK_SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def api() -> Any:
    with GitHubServer(token=TOKEN) as server:
        yield server


@pytest.fixture
def action(tmp_path: Path, api: GitHubServer) -> Action:
    world = Action(tmp_path, api.url)
    (world.workspace / ".qaagent.yaml").write_text(SWITCH_PROFILE, encoding="utf-8")
    return world


def _run(action: Action, *, fail: bool) -> Result:
    (action.workspace / "rc").write_text("1" if fail else "0", encoding="utf-8")
    action.output.write_text("", encoding="utf-8")
    action.summary.write_text("", encoding="utf-8")
    result = action.run(timeout=120)
    assert result.returncode == (1 if fail else 0), (result.stdout[-3000:], result.stderr)
    assert "Traceback" not in result.stderr
    return result


def _comments(api: GitHubServer, pr: int = 7) -> list[dict[str, Any]]:
    return [c for c in api.comments.get(pr, []) if c["body"].startswith("<!-- qaagent:")]


def _comment_writes(api: GitHubServer) -> list[str]:
    return [
        r.method
        for r in api.requests
        if (r.method == "POST" and r.path.endswith("/comments")) or "/issues/comments/" in r.path
    ]


# --- hostile values: one line, exit 2, nothing runs ---------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("pull-request", "0"),
        ("pull-request", "-1"),
        ("pull-request", "abc"),
        ("pull-request", "1e9"),
        ("pull-request", "1000000000"),
        ("pull-request", "7.0"),
        ("pull-request", "#7"),
        ("pull-request", "٧"),
        ("commit", "abc123"),
        ("commit", "g" * 40),
        ("commit", "a" * 41),
        ("commit", "a" * 39),
        ("commit", "a" * 20 + "\n" + "a" * 19),
        ("commit", "HEAD"),
        ("comment-mode", "sometimes"),
        ("comment-mode", "true"),
        ("annotate", "everything"),
        ("annotations-limit", "11"),
        ("annotations-limit", "-1"),
        ("annotations-limit", "1e1"),
        ("summary", "verbose"),
        ("summary-title", "two\nlines"),
        ("summary-title", "x" * 201),
        ("summary-title", "bell\x07"),
    ],
)
def test_hostile_values_are_one_line_and_exit_2(action: Action, name: str, value: str) -> None:
    action.inputs[name] = value
    assert_input_error(action.check(), name)


def test_the_inputs_become_feedback_options(action: Action) -> None:
    from qaagent.action import action_run  # noqa: PLC0415 - beside the in-process checks

    action.inputs.update({
        "commit": "ABCDEF0123456789ABCDEF0123456789ABCDEF01", "pull-request": " 42 ",
        "comment-mode": "Changes", "annotate": "all", "annotations-limit": "3",
        "summary": "totals", "summary-title": "Backend (3.12)",
    })  # fmt: skip
    feedback = action_run(action.environment()).options.feedback
    assert feedback.commit == "abcdef0123456789abcdef0123456789abcdef01"
    assert feedback.pull_request == 42
    assert (feedback.comment_mode, feedback.comment) == ("changes", True)
    assert (feedback.annotate, feedback.annotations_limit) == ("all", 3)
    assert (feedback.summary_mode, feedback.summary_title) == ("totals", "Backend (3.12)")
    # The old boolean forms keep working: `comment: true` is `always`, `summary: false` is `off`.
    action.inputs.update({"comment-mode": "", "comment": "true", "summary": "false"})
    feedback = action_run(action.environment()).options.feedback
    assert (feedback.comment_mode, feedback.summary_mode, feedback.summary) == ("always", "off", False)
    action.inputs.update({"comment-mode": "off"})  # the explicit mode wins over `comment: true`
    assert action_run(action.environment()).options.feedback.comment is False


# --- commit and pull-request ----------------------------------------------------------------


@pytest.mark.slow
def test_commit_and_pull_request_inputs_replace_the_events_values(action: Action, api: GitHubServer) -> None:
    action.inputs.update(
        {"check-name": "qaagent", "comment": "true", "commit": FORK_SHA, "pull-request": "12"}
    )
    _run(action, fail=True)
    (check,) = api.check_runs.values()
    assert check["head_sha"] == FORK_SHA
    assert not _comments(api, 7)
    assert len(_comments(api, 12)) == 1


def _workflow_run_event(*, pulls: list[dict[str, Any]]) -> dict[str, Any]:
    """What GitHub sends the publishing workflow when a fork's `tests` run completes."""
    fork = {"full_name": "contributor/shop", "owner": {"login": "contributor"}, "fork": True}
    return {
        "action": "completed",
        "workflow_run": {
            "id": 30433642,
            "name": "tests",
            "event": "pull_request",
            "status": "completed",
            "conclusion": "failure",
            "head_branch": "fast-checkout",
            "head_sha": HEAD_SHA,
            "head_repository": fork,
            "repository": {"full_name": "octo/shop", "owner": {"login": "octo"}},
            "pull_requests": pulls,
        },
        "repository": {"full_name": "octo/shop"},
    }


@pytest.mark.slow
def test_the_fork_recipe_comments_and_creates_the_check_run(
    action: Action, api: GitHubServer, tmp_path: Path
) -> None:
    # 1. tests.yml on the fork's pull_request: a read-only token, so no API feedback; the bundle.
    action.inputs["github-token"] = ""
    _run(action, fail=True)
    bundle = action.workspace / action.outputs()["evidence-path"]
    assert not api.requests
    # 2. publish.yml on workflow_run, in a fresh workspace: the README's steps, as written.
    (tmp_path / "publish").mkdir()
    publisher = Action(tmp_path / "publish", api.url)
    (publisher.workspace / ".qaagent.yaml").unlink()  # it never checks out the PR's code
    shutil.copytree(bundle, publisher.workspace / "shards" / "pr" / bundle.name)
    event = publisher.files / "event.json"
    event.write_text(json.dumps(_workflow_run_event(pulls=[])), encoding="utf-8")  # a fork: empty
    publisher.env.update(
        {"GITHUB_EVENT_NAME": "workflow_run", "GITHUB_SHA": BASE_SHA, "GITHUB_REF": "refs/heads/main"}
    )
    publisher.inputs.update(_recipe_inputs())
    api.add_pull(3, label="contributor:fast-checkout", sha="f" * 40)  # an older PR of the same branch
    api.add_pull(12, label="contributor:fast-checkout", sha=HEAD_SHA)
    api.add_pull(13, label="someone:fast-checkout", sha=HEAD_SHA)
    result = publisher.run(timeout=120)
    assert result.returncode == 1, (result.stdout[-3000:], result.stderr)
    assert "Traceback" not in result.stderr
    (check,) = api.check_runs.values()
    assert check["head_sha"] == HEAD_SHA  # the tested commit, not the default branch's
    assert check["conclusion"] == "failure"
    (comment,) = _comments(api, 12)
    assert not _comments(api, 3)
    assert not _comments(api, 13)
    lookups = [r for r in api.requests if r.path == "/repos/octo/shop/pulls"]
    assert lookups
    assert lookups[0].query["head"] == ["contributor:fast-checkout"]
    outputs = publisher.outputs()
    assert outputs["check-url"] == f"https://github.com/octo/shop/runs/{check['id']}"
    assert outputs["comment-url"] == f"https://github.com/octo/shop/pull/12#issuecomment-{comment['id']}"
    # The same run again ("Re-run failed jobs"): the same comment, updated in place.
    assert publisher.run(timeout=120).returncode == 1
    assert len(_comments(api, 12)) == 1


def _recipe_inputs() -> dict[str, str]:
    """The `with:` of the README's publishing step (the recipe's own text)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("# .github/workflows/publish.yml")
    block = readme[start : readme.index("```", start)]
    step = block[block.index("uses: org/qaagent-action@v1") :]
    found: dict[str, str] = {}
    for line in step.split("with:", 1)[1].splitlines()[1:]:
        if not line.startswith(" " * 10) or ":" not in line:
            break
        name, value = line.strip().split(":", 1)
        found[name] = value.strip().split(" #")[0]
    assert found.get("mode") == "merge", found
    return found


@pytest.mark.slow
def test_a_push_to_a_forks_branch_without_a_pull_request_gets_no_comment(
    action: Action, api: GitHubServer
) -> None:
    event = action.files / "event.json"
    event.write_text(json.dumps(_workflow_run_event(pulls=[])), encoding="utf-8")
    action.env["GITHUB_EVENT_NAME"] = "workflow_run"
    action.inputs.update({"check-name": "qaagent", "comment": "true"})
    result = _run(action, fail=False)
    assert "::warning" not in result.stdout
    assert len(api.check_runs) == 1
    assert not api.comments
    assert action.outputs()["comment-url"] == ""


# --- comment-mode and matrix legs ---------------------------------------------------------


@pytest.mark.slow
def test_comment_mode_changes_updates_only_when_the_result_changed(action: Action, api: GitHubServer) -> None:
    action.inputs["comment-mode"] = "changes"
    _run(action, fail=True)
    (first,) = _comments(api)
    _run(action, fail=True)  # the same failure: the comment is left alone
    assert _comment_writes(api) == ["POST"]
    assert action.outputs()["comment-url"].endswith(f"#issuecomment-{first['id']}")
    _run(action, fail=False)  # fixed: updated in place
    assert _comment_writes(api) == ["POST", "PATCH"]
    (comment,) = _comments(api)
    assert "qaagent: success" in comment["body"]


@pytest.mark.slow
def test_comment_mode_failures_comments_on_failure_and_then_shows_the_fix(
    action: Action, api: GitHubServer
) -> None:
    action.inputs["comment-mode"] = "failures"
    _run(action, fail=False)
    assert not api.comments
    assert action.outputs()["comment-url"] == ""
    _run(action, fail=True)
    _run(action, fail=False)  # the earlier failure comment now says it passes
    assert _comment_writes(api) == ["POST", "PATCH"]
    (comment,) = _comments(api)
    assert "qaagent: success" in comment["body"]


@pytest.mark.slow
def test_comment_mode_off_never_comments(action: Action, api: GitHubServer) -> None:
    action.inputs.update({"comment": "true", "comment-mode": "off"})
    _run(action, fail=True)
    assert not api.requests


@pytest.mark.slow
def test_matrix_legs_keep_one_comment_and_one_check_run_each(action: Action, api: GitHubServer) -> None:
    action.inputs["comment"] = "true"
    for leg in ("qaagent (3.11)", "qaagent (3.12)", "qaagent (3.11)"):
        action.inputs["check-name"] = leg
        _run(action, fail=leg.endswith("(3.11)"))
    comments = _comments(api)
    assert len(comments) == 2
    assert sorted(c["body"].splitlines()[0] for c in comments) == [
        "<!-- qaagent:qaagent (3.11) -->",
        "<!-- qaagent:qaagent (3.12) -->",
    ]
    assert sorted(c["name"] for c in api.check_runs.values()) == ["qaagent (3.11)"] * 2 + ["qaagent (3.12)"]
    # With a summary-title per leg, the comments and check runs say which leg they are.
    action.inputs.update({"check-name": "qaagent (3.13)", "summary-title": "Python 3.13"})
    _run(action, fail=True)
    (labelled,) = [c for c in _comments(api) if c["body"].startswith("<!-- qaagent:qaagent (3.13) -->")]
    assert "## ❌ Python 3\\.13: failure" in labelled["body"]
    (check,) = [c for c in api.check_runs.values() if c["name"] == "qaagent (3.13)"]
    assert check["output"]["summary"].startswith("## ❌ Python 3\\.13: failure")


# --- annotations --------------------------------------------------------------------------

#: five failing command suites (one test case each)
FIVE_FAILING = "project:\n  name: fixture\ntests:\n" + "".join(
    f"  s{i}:\n    runner: command\n    command: [python3, -c, 'raise SystemExit(1)']\n" for i in range(5)
)
#: a failing, a skipped and a flaky pytest test (the flaky one passes on its retry)
MIXED_TESTS = """\
import pathlib
import pytest

def test_fails():
    assert 1 == 2

@pytest.mark.skip(reason="not on this platform")
def test_skipped():
    pass

def test_flaky():
    mark = pathlib.Path(__file__).with_name("ran-once")
    if not mark.exists():
        mark.write_text("1")
        assert False, "first try"
"""


def _annotations(result: Result) -> list[str]:
    return [line.split(" ", 1)[0] for line in result.stdout.splitlines() if line.startswith("::")]


@pytest.mark.slow
def test_annotations_limit_caps_each_level_and_says_what_was_left_out(
    action: Action, api: GitHubServer
) -> None:
    (action.workspace / ".qaagent.yaml").write_text(FIVE_FAILING, encoding="utf-8")
    action.inputs.update({"annotations-limit": "2", "check-name": "qaagent"})
    result = action.run(timeout=120)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error title=s")]
    assert len(errors) == 2, result.stdout
    (notice,) = [line for line in result.stdout.splitlines() if "not annotated here" in line]
    assert "3 failing test(s) not annotated here: annotations-limit is 2 per kind" in notice
    (check,) = api.check_runs.values()
    assert len(check["annotations"]) == 5  # the check run carries every one


@pytest.mark.slow
@pytest.mark.parametrize(
    ("annotate", "levels"),
    [
        ("failures", {"failure"}),
        ("failures-and-flaky", {"failure", "warning"}),
        ("all", {"failure", "warning", "notice"}),
    ],
)
def test_annotate_chooses_the_tests_in_the_step_and_the_check_run(
    action: Action, api: GitHubServer, annotate: str, levels: set[str]
) -> None:
    (action.workspace / "tests").mkdir()
    (action.workspace / "tests" / "test_mixed.py").write_text(MIXED_TESTS, encoding="utf-8")
    (action.workspace / ".qaagent.yaml").write_text(
        "run:\n  retry_count: 1\ntests:\n  unit: {path: tests}\n", encoding="utf-8"
    )
    action.inputs.update({"annotate": annotate, "check-name": "qaagent"})
    result = action.run(timeout=180)
    assert result.returncode == 1, (result.stdout[-2000:], result.stderr)
    test_lines = [line for line in result.stdout.splitlines() if "file=tests/test_mixed.py" in line]
    step = {line[2:].split(" ", 1)[0] for line in test_lines}
    assert step == {{"failure": "error", "warning": "warning", "notice": "notice"}[level] for level in levels}
    (check,) = api.check_runs.values()
    assert {a["annotation_level"] for a in check["annotations"]} == levels
    if annotate == "all":
        (skipped,) = [a for a in check["annotations"] if a["annotation_level"] == "notice"]
        assert "not on this platform" in skipped["message"]


# --- summary and summary-title ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["full", "failures", "totals", "off"])
def test_summary_modes(action: Action, mode: str) -> None:
    action.inputs.update({"summary": mode, "summary-title": "Backend <3.12>"})
    _run(action, fail=True)
    text = action.summary.read_text(encoding="utf-8")
    if mode == "off":
        assert text == ""
        return
    assert text.startswith("## ❌ Backend &lt;3\\.12&gt;: failure")  # the title, escaped
    assert "| Total |" in text
    assert ("### Suites" in text) is (mode == "full")
    assert ("### ❌ Failures (1)" in text) is (mode != "totals")


# --- outputs ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_json_output_holds_totals_suites_and_failed_ids(action: Action, api: GitHubServer) -> None:
    action.inputs["check-name"] = "qaagent"
    _run(action, fail=True)
    outputs = action.outputs()
    value = json.loads(outputs["json"])
    assert value["conclusion"] == "failure" == outputs["conclusion"]
    assert value["totals"] == {
        "total": 1, "passed": 0, "failed": 1, "errors": 0, "skipped": 0, "flaky": 0, "xfailed": 0, "xpassed": 0,
    }  # fmt: skip
    assert [s["name"] for s in value["suites"]] == ["smoke"]
    assert len(value["failed"]) == 1
    assert value["failed"][0].startswith("smoke::")
    assert value["failed_omitted"] == 0
    (check,) = api.check_runs.values()
    assert outputs["check-url"] == f"https://github.com/octo/shop/runs/{check['id']}"
    assert outputs["comment-url"] == ""


def test_json_output_stays_within_its_cap() -> None:
    cases = [case(f"test_{i}_" + "é" * 200, "failed") for i in range(3000)]
    run = run_of(suite("unit", cases), suite("other", [case("test_ok")]))
    try:
        text = result_json(run, ["failed", "error"])
    finally:
        close_run(run)
    assert len(text.encode()) <= JSON_BYTES
    assert text.isascii()
    assert "\n" not in text
    value = json.loads(text)
    assert value["totals"]["failed"] == 3000
    assert value["failed_omitted"] > 0
    assert len(value["failed"]) + value["failed_omitted"] == 3000
    assert value["failed"][0] == "unit::tests.test_x::test_0_" + "é" * 200
    assert [s["name"] for s in value["suites"]] == ["unit", "other"]


def test_json_output_cuts_the_names_of_suites_that_did_not_run_to_its_cap() -> None:
    # a cancelled run of thousands of suites: the not-run names alone would be 5 x the cap
    run = run_of(suite("unit", [case("test_bad", "failed")]), suite("other", [case("test_ok")]))
    run = dataclasses.replace(run, not_run=tuple(f"suite-{i:05}-" + "x" * 60 for i in range(5000)))
    try:
        text = result_json(run, ["failed", "error"])
    finally:
        close_run(run)
    assert len(text.encode()) <= JSON_BYTES
    value = json.loads(text)
    assert 0 < value["not_run_omitted"] < 5000
    assert len(value["not_run"]) + value["not_run_omitted"] == 5000
    assert value["not_run"][0] == "suite-00000-" + "x" * 60  # cut from the end
    # what matters more is kept whole
    assert value["failed"] == ["unit::tests.test_x::test_bad"]
    assert (value["failed_omitted"], value["suites_omitted"]) == (0, 0)
    assert [s["name"] for s in value["suites"]] == ["unit", "other"]


# --- the same options on the command line ----------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "comment", "expected"),
    [("", False, "off"), ("", True, "always"), ("changes", False, "changes"), ("off", True, "off")],
)
def test_the_command_line_and_the_inputs_agree_on_the_comment_mode(
    action: Action, mode: str, comment: bool, expected: str
) -> None:
    from qaagent.action import action_run  # noqa: PLC0415
    from qaagent.cli import build_parser, run_options  # noqa: PLC0415

    action.inputs.update({"comment-mode": mode, "comment": str(comment).lower()})
    from_inputs = action_run(action.environment()).options.feedback.comment_mode
    argv = ["run-all", *(["--comment-mode", mode] if mode else []), *(["--comment"] if comment else [])]
    from_flags = run_options(build_parser().parse_args(argv)).feedback.comment_mode
    assert from_inputs == from_flags == expected


def test_the_command_line_takes_the_same_options() -> None:
    from qaagent.cli import build_parser, run_options  # noqa: PLC0415

    args = build_parser().parse_args([
        "run-all", "--comment-mode", "failures", "--annotate", "all", "--annotations-limit", "0",
        "--summary", "totals", "--summary-title", "Nightly", "--commit", "A" * 40, "--pull-request", "9",
    ])  # fmt: skip
    feedback = run_options(args).feedback
    assert (feedback.comment_mode, feedback.annotate, feedback.annotations_limit) == ("failures", "all", 0)
    assert (feedback.summary_mode, feedback.summary_title) == ("totals", "Nightly")
    assert (feedback.commit, feedback.pull_request) == ("a" * 40, 9)
    plain = run_options(build_parser().parse_args(["run-all", "--comment", "--no-summary"])).feedback
    assert (plain.comment_mode, plain.summary_mode) == ("always", "off")


@pytest.mark.parametrize("flag", [["--pull-request", "0"], ["--commit", "xyz"], ["--summary", "all"]])
def test_bad_command_line_values_are_usage_errors(
    flag: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from qaagent.cli import main  # noqa: PLC0415

    assert main(["run-all", *flag]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err
    assert flag[0] in err[-1]
    assert "Traceback" not in "\n".join(err)


@pytest.mark.slow
def test_a_hand_edited_comment_without_the_result_line_counts_as_changed(
    action: Action, api: GitHubServer
) -> None:
    from qaagent.github.comment import marker  # noqa: PLC0415

    mine = api.add_comment(7, marker(None) + "\nedited by hand", user="github-actions[bot]")
    action.inputs["comment-mode"] = "changes"
    _run(action, fail=True)
    assert _comment_writes(api) == ["PATCH"]
    (comment,) = _comments(api)
    assert comment["id"] == mine
    assert "<!-- qaagent-result:" in comment["body"]
