"""GitHub API faults during a whole `qaagent run-all`: the verdict, the exit code and the bundle
never depend on the API; every fault ends as a warning."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ProjectFactory, run_qaagent
from github_server import FAKE_TOKEN, Fault, GitHubServer

PY = sys.executable
CHECKS = "/repos/o/r/check-runs"
CHECK = "/repos/o/r/check-runs/*"

FAULTS: dict[str, tuple[tuple[str, str, Fault], ...]] = {
    "403 secondary limit with retry-after": (
        (
            "POST",
            CHECKS,
            Fault(403, {"message": "You have exceeded a secondary rate limit"}, {"retry-after": "1"}),
        ),
    ),
    "403 secondary limit without retry-after": (
        ("POST", CHECKS, Fault(403, {"message": "You have exceeded a secondary rate limit"})),
    ),
    "429": (("POST", CHECKS, Fault(429, {"message": "slow down"}, {"retry-after": "1"})),),
    "500, 502, 503": (
        ("PATCH", CHECK, Fault(500)),
        ("PATCH", CHECK, Fault(502)),
        ("PATCH", CHECK, Fault(503)),
    ),
    "connection reset": (("POST", CHECKS, Fault(kind="reset")),),
    "invalid JSON": (("POST", CHECKS, Fault(200, kind="invalid_json")),),
    "not accessible (fork PR)": tuple(
        ("POST", CHECKS, Fault(403, {"message": "Resource not accessible by integration"})) for _ in range(3)
    ),
}


@pytest.fixture
def server() -> Iterator[GitHubServer]:
    with GitHubServer() as fake:
        yield fake


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_api_faults_never_change_the_run(
    fault: str, server: GitHubServer, qa_project: ProjectFactory, tmp_path: Path
) -> None:
    for method, path, answer in FAULTS[fault]:
        server.script(method, path, answer)
    fail = json.dumps([PY, "-c", "raise SystemExit(1)"])
    ok = json.dumps([PY, "-c", "pass"])
    root = qa_project(
        {
            ".qaagent.yaml": f"tests:\n  ok: {{runner: command, command: {ok}}}\n  bad: {{runner: command, command: {fail}}}\n"
        }
    )
    output = tmp_path / "output"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_API_URL": server.url,
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_SHA": "a" * 40,
        "GITHUB_OUTPUT": str(output),
        "QAAGENT_GITHUB_TOKEN": FAKE_TOKEN,
        "QAAGENT_GITHUB_BUDGET": "5",
    }
    started = time.monotonic()
    result = run_qaagent("run-all", "--check-name", "qa", cwd=root, env=env)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stdout  # the failing suite decides, not the API
    assert elapsed < 30
    assert "conclusion<<" in output.read_text()
    assert "failure" in output.read_text()
    bundle = max((root / ".qaagent" / "evidence").iterdir())
    assert run_qaagent("verify", str(bundle), cwd=root).returncode == 0
    assert FAKE_TOKEN not in result.stdout.replace(f"::add-mask::{FAKE_TOKEN}", "")
    if fault == "not accessible (fork PR)":
        assert "checks: write" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
