"""The zero-config action: `files:` and no profile, through entrypoint.py, against the fake GitHub API.

`uses: org/qaagent-action@v1` with `files: "reports/**/*.xml"` publishes results earlier
steps wrote: the merged JUnit, the bundle, annotations, the job summary, the outputs, a
check run and a comment, exactly as for a profile's suites.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from github_server import GitHubServer
from helpers import HEAD_SHA, TOKEN, manifest_of
from test_entrypoint import Action

from qaagent.action import action_run
from qaagent.command_options import FeedbackOptions, RunOptions
from qaagent.errors import UsageError

FORMATS = Path(__file__).parent / "fixtures" / "formats"
REPORT = """<?xml version="1.0"?>
<testsuites><testsuite name="pytest">
  <testcase classname="tests.test_cart" name="test_total" file="tests/test_cart.py" line="11">
    <failure message="assert 5 == 6">tests/test_cart.py:12: AssertionError</failure>
  </testcase>
  <testcase classname="tests.test_cart" name="test_empty" file="tests/test_cart.py" line="20"/>
</testsuite></testsuites>
"""


@pytest.fixture
def api() -> Iterator[GitHubServer]:
    with GitHubServer(token=TOKEN) as server:
        yield server


@pytest.fixture
def action(tmp_path: Path, api: GitHubServer) -> Action:
    world = Action(tmp_path, api.url)
    (world.workspace / ".qaagent.yaml").unlink()  # no profile at all
    reports = world.workspace / "reports" / "unit"
    reports.mkdir(parents=True)
    (reports / "junit.xml").write_text(REPORT, encoding="utf-8")
    (world.workspace / "reports" / "go.jsonl").write_text(
        (FORMATS / "go" / "go-test.jsonl").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return world


def test_files_input_builds_a_run_without_a_profile(action: Action) -> None:
    action.inputs["files"] = "reports/**/*.xml\n!reports/old/**"
    run = action_run(action.environment())
    assert run.options == RunOptions(
        profile=Path(".qaagent.yaml"),
        files=("reports/**/*.xml", "!reports/old/**"),
        feedback=FeedbackOptions(github=True),
    )


@pytest.mark.parametrize(
    ("inputs", "name"),
    [
        ({"files": "../elsewhere/*.xml"}, "files"),
        ({"files": "reports/*.xml", "profile": "ci/qaagent.yaml"}, "files"),
        ({"files": "!reports/*.xml"}, "files"),
        ({"files": "reports/*.xml", "format": "junit5"}, "format"),
    ],
)
def test_files_input_mistakes_stop_the_action(action: Action, inputs: dict[str, str], name: str) -> None:
    action.inputs.update(inputs)
    with pytest.raises(UsageError) as caught:
        action_run(action.environment())
    assert f"input '{name}'" in str(caught.value)
    result = action.check()
    assert result.returncode == 2
    assert f"'{name}'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_files_input_publishes_everything_a_profile_run_does(action: Action, api: GitHubServer) -> None:
    action.inputs.update(
        {"files": "reports/**/*.xml, reports/*.jsonl", "check-name": "qaagent", "comment": "true"}
    )
    result = action.run()
    assert result.returncode == 1, (result.stdout[-3000:], result.stderr)
    assert "Traceback" not in result.stderr
    outputs = action.outputs()
    assert outputs["conclusion"] == "failure"
    assert int(outputs["total"]) > 2
    assert int(outputs["failed"]) >= 2  # the JUnit's and go's failures
    bundle = action.workspace / outputs["evidence-path"]
    manifest = manifest_of(bundle)
    assert [s["name"] for s in manifest["suites"]] == ["results"]
    assert manifest["suites"][0]["runner"] == "report"
    # annotations at the failing line of the test's file, as for a suite qaagent ran
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    assert any("file=tests/test_cart.py,line=12" in line for line in errors), errors
    summary = action.summary.read_text(encoding="utf-8")
    assert "test\\_total" in summary
    (check,) = api.check_runs.values()
    assert check["head_sha"] == HEAD_SHA
    assert check["conclusion"] == "failure"
    assert any(a["path"] == "tests/test_cart.py" and a["start_line"] == 12 for a in check["annotations"])
    assert len(api.comments[7]) == 1
    assert (action.workspace / outputs["junit-path"]).is_file()
