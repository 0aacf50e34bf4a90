"""entrypoint.py: the action's inputs checked in-process, then run as the runner runs a Docker action.

Input errors must stop the action before anything runs, with one line naming the input and
an `::error::` annotation (exit 2): `qaagent.action` builds the options without running
anything, so those cases run in this process. The end-to-end tests run entrypoint.py as a
subprocess with every INPUT_* set, on a tiny fixture project, against the fake GitHub API.
"""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
import zygote
from conftest import browser_problems, skip_unless_ready
from github_server import GitHubServer
from helpers import COMMAND_PROFILE, ENTRYPOINT, HEAD_SHA, ROOT, TOKEN, ActionWorld

from qaagent.action import action_run
from qaagent.command_options import FeedbackOptions, MergeOptions, RunOptions
from qaagent.errors import UsageError
from qaagent.options import AUTO_SHARD, Shard

PROFILE = COMMAND_PROFILE


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def _load_entrypoint() -> ModuleType:
    spec = importlib.util.spec_from_file_location("qaagent_action_entrypoint", ENTRYPOINT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ENTRY = _load_entrypoint()


class Action(ActionWorld):
    """The action's world, with entrypoint.py run in this process or as the runner runs it."""

    def check(self) -> Result:
        """entrypoint.main in this process: for input errors, which stop before anything runs."""
        out, err = io.StringIO(), io.StringIO()
        code = ENTRY.main(self.environment(), out=out, err=err)
        return Result(code, out.getvalue(), err.getvalue())

    def start(self) -> zygote.Process:
        """entrypoint.py started as the runner starts it (forked from the zygote unless it must start cold)."""
        warm = zygote.launch(
            (str(ENTRYPOINT),), (), cwd=self.workspace, env=self.environment(), stdin_devnull=True
        )
        if warm is not None:
            return warm
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
        warm = zygote.run(
            (str(ENTRYPOINT),),
            (),
            cwd=self.workspace,
            env=self.environment(),
            timeout=timeout,
            stdin_devnull=True,
        )
        if warm is not None:
            return Result(warm.returncode, warm.stdout, warm.stderr)
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


@pytest.fixture
def api() -> Iterator[GitHubServer]:
    with GitHubServer(token=TOKEN) as server:
        yield server


@pytest.fixture
def action(tmp_path: Path, api: GitHubServer) -> Action:
    return Action(tmp_path, api.url)


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


# --- input errors: nothing runs (in-process) --------------------------------------------


@pytest.mark.parametrize("name", ["annotations", "summary", "comment", "parallel"])
def test_bad_boolean_is_an_input_error(action: Action, name: str) -> None:
    action.inputs[name] = "sometimes"
    assert_input_error(action.check(), name)


@pytest.mark.parametrize("word", ["TRUE", "Yes", "no", "0", "1", "False"])
def test_booleans_accept_any_case_before_the_pipeline(action: Action, word: str) -> None:
    # A valid boolean gets past input checking; a bad shard proves it was read afterwards.
    action.inputs["annotations"] = word
    action.inputs["parallel"] = word
    action.inputs["shard"] = "5/4"
    assert_input_error(action.check(), "shard")


@pytest.mark.parametrize("value", ["many", "0", "-1", "2.5", "257", "²", "٣", "+3", " 3 4"])
def test_bad_max_workers_is_an_input_error(action: Action, value: str) -> None:
    action.inputs["max-workers"] = value
    assert_input_error(action.check(), "max-workers")


@pytest.mark.parametrize(("name", "value"), [("retries", "-1"), ("retries", "x"), ("shard", "0/3"),
                                             ("shard", "2"), ("fail-on", "failed,sometimes"),
                                             ("mode", "deploy")])  # fmt: skip
def test_other_bad_values_are_input_errors(action: Action, name: str, value: str) -> None:
    action.inputs[name] = value
    assert_input_error(action.check(), name)


@pytest.mark.parametrize("name", ["working-directory", "profile", "junit-path", "evidence-dir"])
def test_dotdot_escape_from_the_workspace_is_an_input_error(action: Action, name: str) -> None:
    action.inputs[name] = "../outside"
    assert_input_error(action.check(), name)


@pytest.mark.parametrize("name", ["working-directory", "profile", "junit-path", "evidence-dir"])
def test_absolute_path_outside_the_workspace_is_an_input_error(
    action: Action, tmp_path: Path, name: str
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    action.inputs[name] = str(outside)
    assert_input_error(action.check(), name)


@pytest.mark.parametrize("name", ["working-directory", "profile", "junit-path", "evidence-dir"])
def test_symlink_out_of_the_workspace_is_an_input_error(action: Action, tmp_path: Path, name: str) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (action.workspace / "link").symlink_to(outside, target_is_directory=True)
    action.inputs[name] = "link" if name == "working-directory" else "link/file"
    assert_input_error(action.check(), name)


def test_nested_dotdot_that_stays_inside_is_accepted_as_a_path(action: Action) -> None:
    (action.workspace / "sub").mkdir()
    action.inputs["working-directory"] = "sub/../sub"
    action.inputs["profile"] = "../.qaagent.yaml"
    action.inputs["retries"] = "lots"  # stops after the paths were accepted
    assert_input_error(action.check(), "retries")


def test_nonexistent_working_directory_is_an_input_error(action: Action) -> None:
    action.inputs["working-directory"] = "no/such/dir"
    assert_input_error(action.check(), "working-directory")


def test_merge_mode_needs_bundles(action: Action) -> None:
    action.inputs["mode"] = "merge"
    assert_input_error(action.check(), "bundles")


def test_missing_workspace_is_an_error_not_a_traceback(action: Action) -> None:
    del action.env["GITHUB_WORKSPACE"]
    result = action.check()
    assert result.returncode == 2
    assert "GITHUB_WORKSPACE" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_token_is_masked_before_anything_else(action: Action) -> None:
    action.inputs["max-workers"] = "many"
    result = action.run()  # the real process, as the runner starts it
    assert result.stdout.splitlines()[0] == f"::add-mask::{TOKEN}"


# --- setup ---------------------------------------------------------------------------


@pytest.mark.slow
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


@pytest.mark.slow
def test_setup_uses_pipefail(action: Action) -> None:
    action.inputs["setup"] = "false | cat"
    result = action.run()
    assert result.returncode == 2
    assert "setup" in result.stderr


@pytest.mark.slow
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


@pytest.mark.slow
def test_passing_run_writes_outputs_summary_and_junit(action: Action, api: GitHubServer) -> None:
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


#: what a suite (or setup) does to find the token: its own environment, and the environ of
#: every ancestor process up to PID 1 (the entrypoint is PID 1 in the Docker action)
READ_ANCESTORS = """
import os, pathlib, sys
secrets = [pathlib.Path(sys.argv[1]).read_bytes(), b"runner-runtime-credential"]
pids, pid = [1], os.getppid()
while pid > 1:
    pids.append(pid)
    pid = int(pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
found = [k for k, v in os.environ.items() if k.startswith("ACTIONS_") or any(s in v.encode() for s in secrets)]
for pid in pids:
    try:
        data = pathlib.Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        continue
    found += [f"/proc/{pid}/environ" for s in secrets if s in data]
print("FOUND", found, "IN", len(pids), "PROCESSES")
sys.exit(1 if found else 0)
"""


@pytest.mark.slow
@pytest.mark.cold_start  # its subject is the kernel's environment block of each ancestor (tests/zygote.py)
def test_no_child_finds_the_token_or_the_runner_credentials_in_any_environ(action: Action) -> None:
    (action.workspace / "read_environ.py").write_text(READ_ANCESTORS, encoding="utf-8")
    secret = action.workspace.parent / "token.txt"  # the probe's copy of the token (not in any environ)
    secret.write_text(TOKEN, encoding="utf-8")
    action.inputs["setup"] = f"{sys.executable} read_environ.py {secret} > setup-result.txt"
    command = json.dumps([sys.executable, "read_environ.py", str(secret)])
    (action.workspace / ".qaagent.yaml").write_text(
        f"tests:\n  probe: {{runner: command, command: {command}}}\n", encoding="utf-8"
    )
    for name in (
        "ACTIONS_RUNTIME_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "ACTIONS_RUNTIME_URL",
        "ACTIONS_CACHE_URL",
        "ACTIONS_RESULTS_URL",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
    ):
        action.env[name] = "runner-runtime-credential"
    result = action.run()
    setup = (action.workspace / "setup-result.txt").read_text(encoding="utf-8")
    assert "FOUND [] IN" in setup, setup
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert action.outputs()["conclusion"] == "success"


@pytest.mark.slow
def test_check_run_uses_the_token_and_the_pull_request_head_sha(action: Action, api: GitHubServer) -> None:
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
        assert request.headers.get("authorization") == f"Bearer {TOKEN}"
    assert result.stdout.count(TOKEN) == 1


@pytest.mark.slow
def test_suites_input_selects_suites(action: Action) -> None:
    (action.workspace / ".qaagent.yaml").write_text(
        PROFILE + "  broken:\n    runner: command\n    command: [python3, -c, 'raise SystemExit(3)']\n",
        encoding="utf-8",
    )
    action.inputs["suites"] = "smoke"
    result = action.run()
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert action.outputs()["total"] == "1"


# --- the options the inputs become (in-process: qaagent.action is pure) ----------------


def test_every_input_maps_to_its_run_all_option(action: Action) -> None:
    shop = action.workspace / "services" / "shop"
    shop.mkdir(parents=True)
    action.inputs.update({
        "working-directory": "services/shop", "profile": "../../.qaagent.yaml", "parallel": "YES",
        "max-workers": "3", "retries": "2", "suites": "unit, behave\ne2e unit", "shard": "2/4",
        "junit-path": "out/junit.xml", "evidence-dir": "evidence", "fail-on": "failed error FLAKY",
        "annotations": "no", "summary": "0", "check-name": "qaagent", "comment": "True", "setup": " make deps ",
    })  # fmt: skip
    run = action_run(action.environment())
    assert run.workdir == shop.resolve()
    assert run.options == RunOptions(
        profile=Path("../../.qaagent.yaml"),  # as given: qaagent runs in the working directory
        parallel=True,
        max_workers=3,
        retries=2,
        suites=("unit", "behave", "e2e"),
        shard=Shard(2, 4),
        junit=shop.resolve() / "out" / "junit.xml",
        evidence_dir=shop.resolve() / "evidence",
        fail_on=("failed", "error", "flaky"),
        feedback=FeedbackOptions(
            github=True, check_name="qaagent", comment_mode="always", annotations=False, summary_mode="off"
        ),
    )
    assert run.setup == "make deps"
    assert run.token == TOKEN
    assert TOKEN not in repr(run)


def test_defaults_leave_the_profile_in_force(action: Action) -> None:
    run = action_run(action.environment())
    assert run.options == RunOptions(profile=Path(".qaagent.yaml"), feedback=FeedbackOptions(github=True))
    assert run.setup == ""


def test_missing_variables_take_the_declared_defaults(action: Action) -> None:
    # A `docker://` step gets only the inputs it was given, not the declared defaults.
    env = {key: value for key, value in action.environment().items() if not key.startswith("INPUT_")}
    assert action_run(env).options == RunOptions(feedback=FeedbackOptions(github=True))


def test_merge_mode_expands_bundle_patterns_in_order(action: Action) -> None:
    for shard in ("shard-2", "shard-1", "shard-3"):
        (action.workspace / "shards" / shard).mkdir(parents=True)
    action.inputs.update({"mode": "merge", "bundles": "shards/shard-*", "junit-path": "junit.xml"})
    run = action_run(action.environment())
    assert run.options == MergeOptions(
        bundles=(Path("shards/shard-1"), Path("shards/shard-2"), Path("shards/shard-3")),
        junit=action.workspace.resolve() / "junit.xml",
        feedback=FeedbackOptions(github=True),
        profile=action.workspace.resolve() / ".qaagent.yaml",  # its `history:` records the merge
    )


def test_merge_bundle_pattern_matching_nothing_is_an_input_error(action: Action) -> None:
    action.inputs.update({"mode": "merge", "bundles": "shards/*"})
    assert_input_error(action.check(), "bundles")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("max-workers", "257", "input 'max-workers': expected a whole number from 1 to 256, got '257'"),
        ("retries", "21", "input 'retries': expected a whole number from 0 to 20, got '21'"),
        ("shard", "3/2", "input 'shard': invalid shard '3/2': expected I/N with 1 <= I <= N <= 256"),
        (
            "fail-on",
            "failed,sometimes",
            "input 'fail-on': expected a list of failed, error, flaky, new-failures, got 'sometimes'",
        ),
        ("comment", "perhaps", "input 'comment': expected true or false (or yes/no/1/0), got 'perhaps'"),
        ("evidence-dir", "ev\n/etc", "input 'evidence-dir' contains a control character"),
    ],
)
def test_the_message_names_the_input_and_what_it_takes(
    action: Action, name: str, value: str, expected: str
) -> None:
    action.inputs[name] = value
    with pytest.raises(UsageError) as raised:
        action_run(action.environment())
    assert expected in raised.value.message


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


def test_the_shard_input_takes_auto(action: Action) -> None:
    action.inputs["shard"] = "auto"
    options = action_run(action.environment()).options
    assert isinstance(options, RunOptions)
    assert options.shard == AUTO_SHARD
    action.inputs["shard"] = "automatic"
    assert_input_error(action.check(), "shard")


def test_a_qaagent_that_cannot_be_imported_is_one_defused_error_line(tmp_path: Path) -> None:
    """Even before qaagent's own defuser exists, the entrypoint's error line cannot forge a command."""
    shutil.copy(ENTRYPOINT, tmp_path / "entrypoint.py")
    fake = tmp_path / "qaagent"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        'raise ImportError("broken ##[error]forged\\n::error::also forged")\n', encoding="utf-8"
    )
    done = subprocess.run(
        [sys.executable, "-S", str(tmp_path / "entrypoint.py")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 3
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        "qaagent: error: cannot import qaagent (broken ## [error]forged : :error: :also"
    )
    assert "##[" not in done.stderr + done.stdout
    assert not any(line.startswith("::") for line in (done.stderr + done.stdout).splitlines())
