"""The Docker action's post step closes a check run a killed run left `in_progress`.

Real processes: entrypoint.py runs a suite that hangs, is SIGKILLed once its check
run is open, and the post step (`qaagent-post`, `github/closer.py`) then runs with the
state the runner would pass it, against the fake GitHub API.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from github_server import GitHubServer
from helpers import ENTRYPOINT, TOKEN, ActionWorld, parse_outputs

from qaagent.github.api import GitHubClient

HANGING = """\
tests:
  hangs:
    runner: command
    command: [python3, -c, "import time; time.sleep(120)"]
"""


@pytest.fixture
def api() -> Iterator[GitHubServer]:
    with GitHubServer(token=TOKEN) as server:
        yield server


def post_step(world: ActionWorld, state: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = world.environment()
    env.update({f"STATE_{name}": value for name, value in state.items()})
    return subprocess.run(
        [sys.executable, "-m", "qaagent.github.closer"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_a_killed_run_leaves_no_check_in_progress(tmp_path: Path, api: GitHubServer) -> None:
    world = ActionWorld(tmp_path, api.url)
    (world.workspace / ".qaagent.yaml").write_text(HANGING, encoding="utf-8")
    world.inputs["check-name"] = "qaagent"
    state = world.files / "state"
    state.touch()
    world.env["GITHUB_STATE"] = str(state)
    proc = subprocess.Popen(
        [sys.executable, str(ENTRYPOINT)],
        cwd=world.workspace,
        env=world.environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "check_run_id" not in state.read_text(encoding="utf-8"):
            assert proc.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline, "the run never saved its check run"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the job is killed: nothing of qaagent runs on
        proc.wait(timeout=30)
    saved = parse_outputs(state.read_text(encoding="utf-8"))
    check = api.check_runs[int(saved["check_run_id"])]
    assert check["status"] == "in_progress"

    done = post_step(world, saved)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert check["status"] == "completed"
    assert check["conclusion"] == "cancelled"
    assert "qaagent was stopped" in check["output"]["summary"]
    assert "::warning title=qaagent::qaagent was stopped before it completed its check run" in done.stdout
    assert TOKEN not in done.stdout.replace(f"::add-mask::{TOKEN}", "")


def test_a_completed_check_run_is_left_alone(tmp_path: Path, api: GitHubServer) -> None:
    world = ActionWorld(tmp_path, api.url)
    with GitHubClient(TOKEN, api_url=api.url) as client:
        answer = client.request(
            "POST",
            "/repos/octo/shop/check-runs",
            json={"name": "qaagent", "head_sha": "a" * 40, "status": "completed", "conclusion": "success"},
        )
    before = len(api.mutating())
    done = post_step(world, {"check_run_id": str(answer["id"])})
    assert done.returncode == 0, done.stderr
    assert len(api.mutating()) == before, "a completed check run must not be touched"
    assert api.check_runs[answer["id"]]["conclusion"] == "success"
    assert "::warning" not in done.stdout


@pytest.mark.parametrize("value", ["../1", "1e3", "-1", "12345678901234567890", "١٢", "1\n::error::x"])
def test_a_forged_state_value_sends_nothing(tmp_path: Path, api: GitHubServer, value: str) -> None:
    world = ActionWorld(tmp_path, api.url)
    done = post_step(world, {"check_run_id": value})
    assert done.returncode == 0
    assert api.requests == []
    lines = done.stdout.splitlines()
    assert lines == ["::warning title=qaagent::qaagent post step: the saved check run id is not a number"]


def test_no_state_no_request(tmp_path: Path, api: GitHubServer) -> None:
    world = ActionWorld(tmp_path, api.url)
    done = post_step(world, {})
    assert (done.returncode, done.stdout, api.requests) == (0, "", [])
