"""entrypoint.py run as the Actions runner runs a Docker action: a subprocess, every INPUT_* set.

Input errors must stop the action before anything runs, with one line naming the input and
an `::error::` annotation (exit 2). The end-to-end tests run the real pipeline (qaagent
run-all) on a tiny fixture project with a GitHub API stand-in on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import browser_problems, skip_unless_ready

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "entrypoint.py"
TOKEN = "ghs_SECRETtoken0123456789abcdefghijklmnop"  # noqa: S105 - a fake, to prove masking
HEAD_SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
MERGE_SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4"
DECLARED = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))["inputs"]

PROFILE = """\
project:
  name: fixture
tests:
  smoke:
    runner: command
    command: [python3, -c, "print('ok')"]
"""


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class _Api(BaseHTTPRequestHandler):
    """A minimal GitHub API: records every request; creates answer 201 with an id."""

    requests: list[Recorded]

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.server.requests.append(  # type: ignore[attr-defined] # the ApiServer below
            Recorded(self.command, self.path, dict(self.headers.items()), body)
        )
        answer: object
        if self.command == "GET":
            status, answer = 200, []
        elif self.command == "POST":
            status, answer = 201, {"id": 4242, "html_url": "http://127.0.0.1/x"}
        else:
            status, answer = 200, {"id": 4242}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = _handle  # noqa: N815 - http.server's naming

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return


class ApiServer(ThreadingHTTPServer):
    """The stand-in server; `requests` lists what it received, in order."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Api)
        self.requests: list[Recorded] = []


@pytest.fixture
def api() -> Iterator[ApiServer]:
    server = ApiServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def pull_request_event() -> dict[str, Any]:
    repo = {"id": 1296269, "name": "shop", "full_name": "octo/shop", "private": False,
            "owner": {"login": "octo", "type": "Organization"}}  # fmt: skip
    return {
        "action": "synchronize",
        "number": 7,
        "pull_request": {
            "number": 7,
            "state": "open",
            "title": "Make checkout faster",
            "user": {"login": "contributor"},
            "head": {"ref": "fast-checkout", "sha": HEAD_SHA, "repo": repo},
            "base": {"ref": "main", "sha": "9049f1265b7d61be4a8904a9a27120d2064dab3b", "repo": repo},
            "merge_commit_sha": MERGE_SHA,
        },
        "repository": repo,
        "sender": {"login": "contributor"},
    }


class Action:
    """A workspace with a fixture project and the environment the runner gives a Docker action."""

    def __init__(self, tmp_path: Path, api_url: str) -> None:
        self.workspace = tmp_path / "workspace"
        self.workspace.mkdir()
        (self.workspace / ".qaagent.yaml").write_text(PROFILE, encoding="utf-8")
        self.files = tmp_path / "file_commands"
        self.files.mkdir()
        self.output = self.files / "output"
        self.summary = self.files / "summary"
        self.output.touch()
        self.summary.touch()
        event = self.files / "event.json"
        event.write_text(json.dumps(pull_request_event()), encoding="utf-8")
        self.inputs: dict[str, str] = {name: spec["default"] for name, spec in DECLARED.items()}
        self.inputs["github-token"] = TOKEN
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "LANG": "C.UTF-8",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_OUTPUT": str(self.output),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_SHA": MERGE_SHA,
            "GITHUB_REF": "refs/pull/7/merge",
            "GITHUB_REPOSITORY": "octo/shop",
            "GITHUB_API_URL": api_url,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "1658821493",
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_JOB": "qa",
            "GITHUB_WORKFLOW": "tests",
            "GITHUB_ACTOR": "contributor",
        }

    def environment(self) -> dict[str, str]:
        env = dict(self.env)
        env.update({f"INPUT_{name.upper()}": value for name, value in self.inputs.items()})
        return env

    def start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(ENTRYPOINT)],
            cwd=self.workspace,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, timeout: float = 60) -> Result:
        proc = subprocess.run(
            [sys.executable, str(ENTRYPOINT)],
            cwd=self.workspace,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def outputs(self) -> dict[str, str]:
        return parse_outputs(self.output.read_text(encoding="utf-8"))


def parse_outputs(text: str) -> dict[str, str]:
    """Read a GITHUB_OUTPUT file: `name=value` lines and `name<<DELIM` ... `DELIM` blocks."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body: list[str] = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            else:
                pytest.fail(f"output {name!r}: delimiter {delimiter!r} never closes")
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


@pytest.fixture
def action(tmp_path: Path, api: ApiServer) -> Action:
    return Action(tmp_path, f"http://127.0.0.1:{api.server_port}")


def assert_input_error(result: Result, name: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"'{name}'" in lines[0]
    assert lines[0].startswith("qaagent: error: ")
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1
    assert errors[0].startswith("::error title=qaagent::")
    assert f"'{name}'" in errors[0]
    assert TOKEN not in result.stderr
    assert result.stdout.count(TOKEN) == 1  # only in ::add-mask::


# --- input errors: nothing runs --------------------------------------------------------


@pytest.mark.parametrize("name", ["annotations", "summary", "comment", "parallel"])
def test_bad_boolean_is_an_input_error(action: Action, name: str) -> None:
    action.inputs[name] = "sometimes"
    assert_input_error(action.run(), name)


@pytest.mark.parametrize("word", ["TRUE", "Yes", "no", "0", "1", "False"])
def test_booleans_accept_any_case_before_the_pipeline(action: Action, word: str) -> None:
    # A valid boolean gets past input checking; a bad shard proves it was read afterwards.
    action.inputs["annotations"] = word
    action.inputs["parallel"] = word
    action.inputs["shard"] = "5/4"
    assert_input_error(action.run(), "shard")


@pytest.mark.parametrize("value", ["many", "0", "-1", "2.5", "257", "²", "٣", "+3", " 3 4"])
def test_bad_max_workers_is_an_input_error(action: Action, value: str) -> None:
    action.inputs["max-workers"] = value
    assert_input_error(action.run(), "max-workers")


@pytest.mark.parametrize(("name", "value"), [("retries", "-1"), ("retries", "x"), ("shard", "0/3"),
                                             ("shard", "2"), ("fail-on", "failed,sometimes"),
                                             ("mode", "deploy")])  # fmt: skip
def test_other_bad_values_are_input_errors(action: Action, name: str, value: str) -> None:
    action.inputs[name] = value
    assert_input_error(action.run(), name)


@pytest.mark.parametrize("name", ["working-directory", "profile", "junit-path", "evidence-dir"])
def test_dotdot_escape_from_the_workspace_is_an_input_error(action: Action, name: str) -> None:
    action.inputs[name] = "../outside"
    assert_input_error(action.run(), name)


@pytest.mark.parametrize("name", ["working-directory", "profile", "junit-path", "evidence-dir"])
def test_absolute_path_outside_the_workspace_is_an_input_error(
    action: Action, tmp_path: Path, name: str
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    action.inputs[name] = str(outside)
    assert_input_error(action.run(), name)


@pytest.mark.parametrize("name", ["working-directory", "profile", "junit-path", "evidence-dir"])
def test_symlink_out_of_the_workspace_is_an_input_error(action: Action, tmp_path: Path, name: str) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (action.workspace / "link").symlink_to(outside, target_is_directory=True)
    action.inputs[name] = "link" if name == "working-directory" else "link/file"
    assert_input_error(action.run(), name)


def test_nested_dotdot_that_stays_inside_is_accepted_as_a_path(action: Action) -> None:
    (action.workspace / "sub").mkdir()
    action.inputs["working-directory"] = "sub/../sub"
    action.inputs["profile"] = "../.qaagent.yaml"
    action.inputs["retries"] = "lots"  # stops after the paths were accepted
    assert_input_error(action.run(), "retries")


def test_nonexistent_working_directory_is_an_input_error(action: Action) -> None:
    action.inputs["working-directory"] = "no/such/dir"
    assert_input_error(action.run(), "working-directory")


def test_merge_mode_needs_bundles(action: Action) -> None:
    action.inputs["mode"] = "merge"
    assert_input_error(action.run(), "bundles")


def test_missing_workspace_is_an_error_not_a_traceback(action: Action) -> None:
    del action.env["GITHUB_WORKSPACE"]
    result = action.run()
    assert result.returncode == 2
    assert "GITHUB_WORKSPACE" in result.stderr
    assert "Traceback" not in result.stderr


def test_token_is_masked_before_anything_else(action: Action) -> None:
    action.inputs["max-workers"] = "many"
    result = action.run()
    assert result.stdout.splitlines()[0] == f"::add-mask::{TOKEN}"


# --- setup ---------------------------------------------------------------------------


def test_failing_setup_stops_with_exit_2_and_its_output_grouped(action: Action) -> None:
    (action.workspace / "sub").mkdir()
    action.inputs["working-directory"] = "sub"
    action.inputs["setup"] = "pwd\necho '::error::injected from setup'\nenv\nexit 7"
    result = action.run()
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "status 7" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"::add-mask::{TOKEN}"
    assert lines[1] == "::group::setup"
    assert lines[2].startswith("::stop-commands::")
    stop = lines[2].removeprefix("::stop-commands::")
    assert len(stop) >= 32
    assert lines[3] == str((action.workspace / "sub").resolve())
    injected = lines.index("::error::injected from setup")
    resume = lines.index(f"::{stop}::")
    assert 2 < injected < resume
    assert lines[resume + 1] == "::endgroup::"
    assert lines[resume + 2].startswith("::error title=qaagent::")
    # The token never reaches setup's environment, in any variable.
    setup_output = "\n".join(lines[3:resume])
    assert TOKEN not in setup_output
    assert "INPUT_GITHUB-TOKEN" not in setup_output
    assert "QAAGENT_GITHUB_TOKEN" not in setup_output
    assert "INPUT_PROFILE=.qaagent.yaml" in setup_output
    assert result.stdout.count(TOKEN) == 1


def test_setup_uses_pipefail(action: Action) -> None:
    action.inputs["setup"] = "false | cat"
    result = action.run()
    assert result.returncode == 2
    assert "setup" in result.stderr


def test_sigterm_during_setup_stops_its_process_group_and_exits_130(action: Action) -> None:
    pidfile = action.workspace / "pids"
    action.inputs["setup"] = f"sleep 60 & echo $! > {pidfile}; echo started; wait"
    proc = action.start()
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline, "setup never started"
        time.sleep(0.05)
    sleeper = int(pidfile.read_text())
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, (out, err)
    assert "cancelled" in err
    assert "Traceback" not in err
    assert "::endgroup::" in out
    deadline = time.monotonic() + 5
    while _alive(sleeper):
        assert time.monotonic() < deadline, "setup's background process survived"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper (PID 1 here may not reap orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# --- end to end: the real pipeline (needs `qaagent run-all`) -------------------------


def test_passing_run_writes_outputs_summary_and_junit(action: Action, api: ApiServer) -> None:
    action.inputs["junit-path"] = "reports/junit.xml"
    action.inputs["evidence-dir"] = "evidence"
    result = action.run()
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    outputs = action.outputs()
    assert outputs["conclusion"] == "success"
    assert outputs["total"] == "1"
    assert outputs["passed"] == "1"
    assert outputs["failed"] == "0"
    assert outputs["errors"] == "0"
    assert outputs["flaky"] == "0"
    assert float(outputs["duration"]) >= 0
    assert outputs["junit-path"] == "reports/junit.xml"
    assert outputs["run-id"]
    assert outputs["evidence-path"].startswith("evidence/")
    assert (action.workspace / outputs["evidence-path"] / "manifest.json").is_file()
    assert (action.workspace / "reports" / "junit.xml").is_file()
    assert "smoke" in action.summary.read_text(encoding="utf-8")
    assert any(line.startswith("::notice title=qaagent::") for line in result.stdout.splitlines())
    assert result.stdout.count(TOKEN) == 1
    assert TOKEN not in result.stderr
    assert not api.requests  # no check-name, no comment: no API call
    for path in (action.workspace / outputs["evidence-path"]).rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_failing_suite_in_a_subfolder_fails_the_step(action: Action) -> None:
    project = action.workspace / "services" / "shop"
    project.mkdir(parents=True)
    (project / ".qaagent.yaml").write_text(
        PROFILE.replace("print('ok')", "raise SystemExit(1)"), encoding="utf-8"
    )
    action.inputs["working-directory"] = "services/shop"
    action.inputs["junit-path"] = "junit.xml"
    result = action.run()
    assert result.returncode == 1, (result.stdout, result.stderr)
    outputs = action.outputs()
    assert outputs["conclusion"] == "failure"
    assert outputs["junit-path"] == "services/shop/junit.xml"
    assert (project / "junit.xml").is_file()
    assert any(line.startswith("::error title=qaagent::") for line in result.stdout.splitlines())


def test_annotations_point_at_files_relative_to_the_workspace(action: Action) -> None:
    project = action.workspace / "services" / "shop"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_cart.py").write_text(
        "def test_total():\n    assert 2 + 3 == 6\n", encoding="utf-8"
    )
    (project / ".qaagent.yaml").write_text("tests:\n  unit: {path: tests}\n", encoding="utf-8")
    action.inputs["working-directory"] = "services/shop"
    result = action.run()
    assert result.returncode == 1, (result.stdout, result.stderr)
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error file=")]
    assert len(errors) == 1, result.stdout
    assert errors[0].startswith("::error file=services/shop/tests/test_cart.py,line=2,title=unit")
    # The job summary links the failure to its line at the pull request's head commit.
    link = f"https://github.com/octo/shop/blob/{HEAD_SHA}/services/shop/tests/test_cart.py#L2"  # the failing line
    assert link in action.summary.read_text(encoding="utf-8")


def test_setup_output_without_a_final_newline_cannot_swallow_the_resume_line(action: Action) -> None:
    action.inputs["setup"] = 'printf "installing deps"'
    result = action.run()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    stop = next(line for line in lines if line.startswith("::stop-commands::")).split("::")[2]
    assert "installing deps" in lines
    assert f"::{stop}::" in lines  # on a line of its own: commands work again
    assert lines.index("::endgroup::") > lines.index(f"::{stop}::")


@pytest.mark.slow
def test_output_of_a_process_setup_leaves_running_never_reaches_the_log_later(action: Action) -> None:
    # setup's output is waited for SETUP_KILL_GRACE (10 s); this line comes after that, while
    # the suites run and commands are back on.
    action.inputs["setup"] = '(sleep 10.5; echo "::error::LATE-FROM-SETUP") & echo started'
    (action.workspace / ".qaagent.yaml").write_text(
        PROFILE.replace("print('ok')", "import time; time.sleep(2); print('ok')"), encoding="utf-8"
    )
    result = action.run(timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    stop = next(line for line in lines if line.startswith("::stop-commands::")).split("::")[2]
    after_resume = lines[lines.index(f"::{stop}::") :]
    assert "::error::LATE-FROM-SETUP" not in after_resume


def test_setup_runs_first_and_suites_never_see_the_token(action: Action) -> None:
    action.inputs["setup"] = "echo ready > marker"
    check = (
        "import os, pathlib, sys; "
        "leaked = [k for k, v in os.environ.items() if 'ghs_SECRET' in v]; "
        "sys.exit(0 if pathlib.Path('marker').exists() and not leaked else 1)"
    )
    (action.workspace / ".qaagent.yaml").write_text(
        PROFILE.replace("\"print('ok')\"", json.dumps(check)), encoding="utf-8"
    )
    result = action.run()
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert action.outputs()["conclusion"] == "success"


def test_check_run_uses_the_token_and_the_pull_request_head_sha(action: Action, api: ApiServer) -> None:
    action.inputs["check-name"] = "qaagent"
    result = action.run()
    assert result.returncode == 0, (result.stdout, result.stderr)
    checks = [r for r in api.requests if "/check-runs" in r.path]
    assert checks, [r.path for r in api.requests]
    create = checks[0]
    assert create.method == "POST"
    assert create.path == "/repos/octo/shop/check-runs"
    assert create.body["name"] == "qaagent"
    assert create.body["head_sha"] == HEAD_SHA
    for request in api.requests:
        assert TOKEN in request.headers.get("Authorization", "")
    assert result.stdout.count(TOKEN) == 1


def test_suites_input_selects_suites(action: Action) -> None:
    (action.workspace / ".qaagent.yaml").write_text(
        PROFILE + "  broken:\n    runner: command\n    command: [python3, -c, 'raise SystemExit(3)']\n",
        encoding="utf-8",
    )
    action.inputs["suites"] = "smoke"
    result = action.run()
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert action.outputs()["total"] == "1"


# --- the argv handed to qaagent (in-process: build_invocation is pure) -----------------


def _load_entrypoint() -> Any:
    spec = importlib.util.spec_from_file_location("qaagent_action_entrypoint", ENTRYPOINT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_input_maps_to_its_run_all_flag(action: Action) -> None:
    (action.workspace / "services" / "shop").mkdir(parents=True)
    action.inputs.update({
        "working-directory": "services/shop", "profile": "../../.qaagent.yaml", "parallel": "YES",
        "max-workers": "3", "retries": "2", "suites": "unit, behave\ne2e", "shard": "2/4",
        "junit-path": "out/junit.xml", "evidence-dir": "evidence", "fail-on": "failed error FLAKY",
        "annotations": "no", "summary": "0", "check-name": "qaagent", "comment": "True",
    })  # fmt: skip
    invocation = _load_entrypoint().build_invocation(action.environment())
    assert invocation.workdir == (action.workspace / "services" / "shop").resolve()
    assert invocation.argv == [
        "run-all", "--profile", "../../.qaagent.yaml", "--parallel", "--max-workers", "3",
        "--retries", "2", "--suite", "unit", "--suite", "behave", "--suite", "e2e", "--shard", "2/4",
        "--junit", "out/junit.xml", "--evidence-dir", "evidence", "--fail-on", "failed,error,flaky",
        "--github", "on", "--no-annotations", "--no-summary", "--check-name", "qaagent", "--comment",
    ]  # fmt: skip
    assert TOKEN not in repr(invocation)


def test_defaults_map_to_the_shortest_command_line(action: Action) -> None:
    invocation = _load_entrypoint().build_invocation(action.environment())
    assert invocation.argv == ["run-all", "--profile", ".qaagent.yaml", "--github", "on"]
    assert invocation.setup == ""


def test_missing_variables_take_the_declared_defaults(action: Action) -> None:
    # A `docker://` step gets only the inputs it was given, not the declared defaults.
    env = {key: value for key, value in action.environment().items() if not key.startswith("INPUT_")}
    invocation = _load_entrypoint().build_invocation(env)
    assert invocation.argv == ["run-all", "--profile", ".qaagent.yaml", "--github", "on"]


def test_merge_mode_expands_bundle_patterns_in_order(action: Action) -> None:
    for shard in ("shard-2", "shard-1", "shard-3"):
        (action.workspace / "shards" / shard).mkdir(parents=True)
    action.inputs.update({"mode": "merge", "bundles": "shards/shard-*", "junit-path": "junit.xml"})
    invocation = _load_entrypoint().build_invocation(action.environment())
    assert invocation.argv == [
        "merge", "shards/shard-1", "shards/shard-2", "shards/shard-3", "--junit", "junit.xml",
        "--github", "on",
    ]  # fmt: skip


def test_merge_bundle_pattern_matching_nothing_is_an_input_error(action: Action) -> None:
    action.inputs.update({"mode": "merge", "bundles": "shards/*"})
    assert_input_error(action.run(), "bundles")


@pytest.mark.browser
@pytest.mark.slow
def test_setup_installs_a_playwright_project_before_its_suite(action: Action) -> None:
    """The Docker variant's recipe for Playwright: `setup` installs, then the suite runs."""
    skip_unless_ready(browser_problems())
    fixture = ROOT / "tests" / "fixtures" / "playwright-project"
    shutil.copytree(
        fixture,
        action.workspace / "e2e",
        ignore=shutil.ignore_patterns("node_modules", "test-results", "reports"),
    )
    (action.workspace / ".qaagent.yaml").write_text(
        "tests:\n  e2e: {runner: playwright, path: e2e, retry_count: 0, args: [--grep, greeting]}\n",
        encoding="utf-8",
    )
    action.inputs["setup"] = "cd e2e && npm ci --prefer-offline --no-audit --no-fund"
    result = action.run(timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "::group::setup" in result.stdout
    assert (action.workspace / "e2e" / "node_modules" / "@playwright" / "test").is_dir()
    assert "[e2e] setup: npm ci" not in result.stdout  # installed by `setup`, not by the runner
    outputs = action.outputs()
    assert outputs["conclusion"] == "success"
    assert int(outputs["passed"]) >= 1
