"""The README's workflows, run: each action step's `with:` as written, through entrypoint.py.

tests/test_readme_workflows.py checks the workflows against GitHub's schema and zizmor;
here the quick start and the sharded workflow (plan → four shard jobs → merge) run on a
small pytest project against the fake GitHub API, with the inputs read from the README
itself, so a recipe that would fail on a runner (a shard job without `setup`, `shard: …/N`
doubled) fails here. Only `${{ matrix.shard }}` is filled in (from the plan's real JSON);
any other expression in an input makes the test fail rather than guess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from github_server import GitHubServer
from helpers import TOKEN
from test_entrypoint import Action
from test_readme_workflows import PLACEHOLDER, readme_workflows

TESTS = {
    "test_a.py": "def test_a1():\n    pass\n\ndef test_a2():\n    pass\n",
    "test_b.py": "def test_b():\n    assert 2 + 2 == 5\n",
    "test_c.py": "def test_c():\n    pass\n",
    "test_d.py": "import pytest\n\n@pytest.mark.skip(reason='later')\ndef test_d():\n    pass\n",
}


def _workflow(job: str) -> dict[str, Any]:
    for block in readme_workflows():
        data = yaml.safe_load(block)
        if job in data["jobs"]:
            return dict(data)
    pytest.fail(f"no README workflow has a job {job!r}")


def _action_inputs(job: dict[str, Any], **values: str) -> dict[str, str]:
    """The `with:` of the job's step that uses the action, its expressions filled from `values`."""
    (step,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith(PLACEHOLDER.split("@")[0])]
    inputs = {}
    for name, raw in (step.get("with") or {}).items():
        text = str(raw).lower() if isinstance(raw, bool) else str(raw)
        for expression, value in values.items():
            text = text.replace("${{ " + expression + " }}", value)
        assert "${{" not in text, f"input {name!r} has an expression this test cannot fill: {text}"
        inputs[name] = text
    return inputs


def _project(action: Action) -> None:
    (action.workspace / "tests").mkdir()
    for name, text in TESTS.items():
        (action.workspace / "tests" / name).write_text(text, encoding="utf-8")
    (action.workspace / ".qaagent.yaml").write_text("tests:\n  unit: {path: tests}\n", encoding="utf-8")
    # `setup: pip install -r requirements-test.txt`: the tools are in this interpreter already.
    (action.workspace / "requirements-test.txt").write_text("# pytest comes with qaagent's tests\n")
    bindir = str(Path(sys.executable).parent)
    action.env["PATH"] = bindir + os.pathsep + action.env["PATH"]
    action.env["PIP_NO_INDEX"] = "1"  # nothing to fetch: no network from a test


@pytest.fixture
def api() -> Any:
    with GitHubServer(token=TOKEN) as server:
        yield server


@pytest.mark.slow
def test_the_quick_start_runs_as_written(tmp_path: Path, api: GitHubServer) -> None:
    action = Action(tmp_path, api.url)
    _project(action)
    action.inputs.update(_action_inputs(_workflow("qa")["jobs"]["qa"]))
    result = action.run(timeout=180)
    assert result.returncode == 1, (result.stdout[-3000:], result.stderr)
    assert "::group::setup" in result.stdout
    (check,) = api.check_runs.values()
    assert check["conclusion"] == "failure"
    assert len([c for c in api.comments[7] if c["body"].startswith("<!-- qaagent:")]) == 1
    assert json.loads(action.outputs()["json"])["totals"]["total"] == 5


@pytest.mark.slow
def test_the_sharded_workflow_runs_as_written(tmp_path: Path, api: GitHubServer) -> None:
    workflow = _workflow("plan")
    shard_job, merge_job = workflow["jobs"]["test"], workflow["jobs"]["merge"]
    world = tmp_path / "shards"
    world.mkdir()
    action = Action(world, api.url)
    _project(action)
    # plan: the matrix the shard jobs get
    plan = subprocess.run(
        [sys.executable, "-m", "qaagent", "plan", "--shards", "4", "--json", "--evidence-dir", "qa-evidence"],
        cwd=action.workspace,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    include = json.loads(plan.stdout)["include"]
    assert [item["shard"] for item in include] == ["1/4", "2/4", "3/4", "4/4"]
    # the shard jobs, one after another, each in a fresh checkout of the same project
    artifacts = tmp_path / "artifacts"
    for index, item in enumerate(include):
        shutil.rmtree(action.workspace / "qa-evidence", ignore_errors=True)
        action.inputs.update(_action_inputs(shard_job, **{"matrix.shard": item["shard"]}))
        result = action.run(timeout=180)
        assert result.returncode in (0, 1), (result.stdout[-3000:], result.stderr)
        assert "::group::setup" in result.stdout
        assert "No module named" not in result.stdout
        # upload-artifact of the step's evidence-path: the bundle's contents are the artifact
        bundle = action.workspace / action.outputs()["evidence-path"]
        assert bundle.parent == action.workspace / "qa-evidence", bundle
        shutil.copytree(bundle, artifacts / f"qaagent-shard-{index}")
    assert not api.requests  # the shards publish nothing
    # merge: download-artifact by pattern puts each artifact in a folder of its own in shards/
    (tmp_path / "merge").mkdir()
    merger = Action(tmp_path / "merge", api.url)
    (merger.workspace / ".qaagent.yaml").unlink()
    shutil.copytree(artifacts, merger.workspace / "shards")
    merger.inputs.update(_action_inputs(merge_job))
    result = merger.run(timeout=180)
    assert result.returncode == 1, (result.stdout[-3000:], result.stderr)
    outputs = merger.outputs()
    value = json.loads(outputs["json"])
    assert value["totals"] == {
        "total": 5, "passed": 3, "failed": 1, "errors": 0, "skipped": 1, "flaky": 0, "xfailed": 0, "xpassed": 0,
    }  # fmt: skip
    assert value["failed"] == ["unit::tests.test_b::test_b"]
    (check,) = api.check_runs.values()
    assert check["conclusion"] == "failure"
    assert outputs["check-url"].endswith(f"/runs/{check['id']}")
    # the durations step of the merge job: the CLI reads the merged bundle
    durations = subprocess.run(
        [sys.executable, "-m", "qaagent", "durations", outputs["evidence-path"], "-o", "d.json"],
        cwd=merger.workspace,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert durations.returncode == 0, durations.stderr
