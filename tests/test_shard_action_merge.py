"""The action's merge mode end to end: real shard bundles in, feedback published once for the whole run.

Two real `qaagent run-all --shard I/2` runs of the sharding fixture project
(pytest, behave and a command suite; failing, flaky and passing tests) leave
their bundles under ``shards/`` as a merge job's `download-artifact` would;
then entrypoint.py runs with ``INPUT_MODE=merge`` and ``INPUT_BUNDLES``
against the fake GitHub API of `github_server`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from github_server import GitHubServer
from helpers import TOKEN, manifest_of, records_text
from test_entrypoint import Action
from test_shard_fixtures import build_project, git_commit, run_shard

# cold: shards and merges are separate processes that must agree whatever their hash seeds (a zygote's children share one)
pytestmark = [pytest.mark.slow, pytest.mark.cold_start]


def test_merge_mode_publishes_once_for_all_shards(tmp_path: Path) -> None:
    with GitHubServer(token=TOKEN) as api:
        action = Action(tmp_path, api.url)
        root = build_project(action.workspace)
        git_commit(root, "shards")
        bundles = [run_shard(root, "shards", f"{index}/2") for index in (1, 2)]
        assert sorted(b.name for b in bundles) == sorted(p.name for p in (root / "shards").iterdir())
        action.inputs.update(
            {"mode": "merge", "bundles": "shards/*", "check-name": "qaagent", "evidence-dir": "qa-evidence"}
        )
        result = action.run(timeout=120)

    assert result.returncode == 1, (result.stdout, result.stderr)  # the fixture has failing tests
    assert "Traceback" not in result.stderr
    # one check run, created once and completed with the failures as annotations
    creates = [r for r in api.requests if r.method == "POST" and r.path.endswith("/check-runs")]
    assert len(creates) == 1, [(r.method, r.path) for r in api.requests]
    (check,) = api.check_runs.values()
    assert check["name"] == "qaagent"
    assert check["status"] == "completed"
    assert check["conclusion"] == "failure"
    failing = {(a["path"], a["annotation_level"]) for a in check["annotations"]}
    assert ("tests/api/test_api.py", "failure") in failing  # test_broken, run by one of the shards
    assert any(path.startswith("features/") for path, _ in failing)  # beta's odd number, the other
    # workflow-command annotations once for the whole run, not once per shard
    assert result.stdout.count("::error file=tests/api/test_api.py") == 1
    # one job summary
    summary = action.summary.read_text(encoding="utf-8")
    assert summary.strip()
    assert summary.count("test_broken") >= 1
    first_line = summary.splitlines()[0]
    assert summary.count(first_line) == 1, first_line  # written once, not once per shard
    # outputs describe the merged run
    outputs = action.outputs()
    assert outputs["conclusion"] == "failure"
    evidence = root / outputs["evidence-path"]  # relative to the workspace, as upload-artifact wants
    assert (evidence / "manifest.json").is_file()
    assert evidence.parent == root / "qa-evidence"
    assert outputs["run-id"] == evidence.name
    records = records_text(evidence).splitlines()
    assert int(outputs["total"]) == len(records) == 23  # every test of both shards, once
    assert int(outputs["failed"]) >= 2  # test_broken and beta's odd number
    assert int(outputs["flaky"]) == 1
    assert (root / outputs["junit-path"]).is_file()
    manifest = manifest_of(evidence)
    assert [s["shard"] for s in manifest["settings"]["merge"]["shards"]] == ["1/2", "2/2"]
