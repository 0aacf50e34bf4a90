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
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from github_server import GitHubServer
from helpers import ENTRYPOINT, TOKEN, ActionWorld, manifest_of, parse_outputs

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


def run_until_killed(world: ActionWorld, ready: Callable[[], bool]) -> None:
    """Run the action's entrypoint until `ready()`, then SIGKILL its whole process group (the job is killed)."""
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
        while not ready():
            assert proc.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline, "the run never got to the moment"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # nothing of qaagent runs on
        proc.wait(timeout=30)


@pytest.mark.slow
def test_a_killed_run_leaves_no_check_in_progress(tmp_path: Path, api: GitHubServer) -> None:
    world = ActionWorld(tmp_path, api.url)
    (world.workspace / ".qaagent.yaml").write_text(HANGING, encoding="utf-8")
    world.inputs["check-name"] = "qaagent"
    state = world.files / "state"
    state.touch()
    world.env["GITHUB_STATE"] = str(state)
    run_until_killed(world, lambda: "check_run_id" in state.read_text(encoding="utf-8"))
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


@pytest.mark.parametrize(
    ("conclusion", "summary", "expected"),
    [
        ("failure", "## ❌ qaagent: failure", "failure"),
        ("neutral", "## qaagent", "cancelled"),  # not a conclusion a run gives: not copied
        ("success", "x" * 70_000, "cancelled"),  # over GitHub's limit (a hostile answer): not copied
    ],
)
def test_a_late_marked_check_run_gets_the_conclusion_of_the_one_the_run_completed(
    tmp_path: Path, api: GitHubServer, conclusion: str, summary: str, expected: str
) -> None:
    # session 23: the run ended and completed a check run of its own (its first creation went
    # unanswered); the one GitHub made from that creation later was closed `cancelled` beside it
    world = ActionWorld(tmp_path, api.url)
    output = {"title": "1 passed", "summary": summary}
    with GitHubClient(TOKEN, api_url=api.url) as client:
        common = {"name": "qaagent", "head_sha": "a" * 40, "external_id": "qaagent-mark"}
        published = client.request(
            "POST",
            "/repos/octo/shop/check-runs",
            json={
                **common,
                "status": "completed",
                "conclusion": conclusion,
                "output": output | {"summary": "-"},
            },
        )["id"]
        late = client.request(
            "POST", "/repos/octo/shop/check-runs", json={**common, "status": "in_progress"}
        )["id"]
    api.check_runs[published]["output"] = output  # as the API answers it, whatever it is
    state = {
        "check_run_id": str(published),
        "check_name": "qaagent",
        "check_head_sha": "a" * 40,
        "check_external_id": "qaagent-mark",
    }
    done = post_step(world, state)
    assert done.returncode == 0, done.stderr
    check = api.check_runs[late]
    assert (check["status"], check["conclusion"]) == ("completed", expected)
    if expected == "cancelled":
        assert "qaagent was stopped" in check["output"]["summary"]
        assert "closed it as cancelled" in done.stdout
    else:
        assert check["output"] == output
        assert f"completed it as the run's own ({conclusion})" in done.stdout
    assert api.check_runs[published]["conclusion"] == conclusion  # untouched


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


SECRET = "sk-live-Zq8w&7/XpL0+aa"  # noqa: S105 - made up
WRITES_AND_HANGS = """\
tests:
  leaky:
    runner: command
    command: [python3, leaky.py]
"""
LEAKY = """\
import os, pathlib, time, zipfile
secret = os.environ["MY_API_TOKEN"]
junit = pathlib.Path(os.environ["QAAGENT_JUNIT_DIR"])
junit.mkdir(parents=True, exist_ok=True)
(junit / "r.xml").write_text('<testsuite><testcase name="t"><failure message="key=' + secret + '"/></testcase></testsuite>')
(junit.parent / "debug.txt").write_text("connecting with " + secret + "\\n")
with zipfile.ZipFile(junit.parent / "trace.zip", "w", zipfile.ZIP_STORED) as z:
    z.writestr("trace.network", "Authorization: Bearer " + secret)
pathlib.Path("leaked").write_text("yes")
time.sleep(120)
"""


@pytest.mark.slow
def test_a_killed_run_leaves_no_raw_secret_in_its_bundle_after_the_post_step(
    tmp_path: Path, api: GitHubServer
) -> None:
    # issue 12, fourth review: a kill -9 during a suite left that suite's files raw
    world = ActionWorld(tmp_path, api.url)
    (world.workspace / ".qaagent.yaml").write_text(WRITES_AND_HANGS, encoding="utf-8")
    (world.workspace / "leaky.py").write_text(LEAKY, encoding="utf-8")
    world.env["MY_API_TOKEN"] = SECRET
    state = world.files / "state"
    state.touch()
    world.env["GITHUB_STATE"] = str(state)
    run_until_killed(world, (world.workspace / "leaked").exists)  # an OOM kill: qaagent and its suite
    saved = parse_outputs(state.read_text(encoding="utf-8"))
    bundle = Path(saved["evidence_bundle"])
    assert bundle.is_relative_to(world.workspace.resolve())
    raw = [p.name for p in bundle.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert "debug.txt" in raw  # what the post step is for

    done = post_step(world, saved)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    raw = [p.name for p in bundle.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert raw == []
    assert next(bundle.rglob("debug.txt")).read_text(encoding="utf-8") == "connecting with ***\n"
    assert "key=***" in next(bundle.rglob("r.xml")).read_text(encoding="utf-8")
    assert not list(bundle.rglob("trace.zip"))
    manifest = manifest_of(bundle)
    assert manifest["status"] == "running"  # still incomplete: verify says so
    assert [Path(e["path"]).name for e in manifest["not_kept"]] == ["trace.zip"]
    assert "the post step redacted the files it left" in done.stdout
    again = post_step(world, saved)  # idempotent, and a finished bundle is never touched
    assert again.returncode == 0, again.stderr


def test_a_saved_bundle_outside_the_workspace_is_not_touched(tmp_path: Path, api: GitHubServer) -> None:
    world = ActionWorld(tmp_path, api.url)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "manifest.json").write_text('{"status": "running"}', encoding="utf-8")
    (outside / "notes.txt").write_text("PK\x03\x04 looks like a zip", encoding="utf-8")
    done = post_step(world, {"evidence_bundle": str(outside)})
    assert done.returncode == 0, done.stderr
    assert (outside / "notes.txt").exists()
    assert "outside the workspace" in done.stdout
