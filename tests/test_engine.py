"""Engine guarantees not covered elsewhere: escaped daemons, huge lines, whole console lines,
the console summary, our own exceptions, the app's process tree, and the bundled demo."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    DEBIAN_CHROMIUM,
    ROOT,
    ProjectFactory,
    assert_no_process_left,
    browser_problems,
    free_port,
    health_app,
    run_qaagent,
    skip_unless_ready,
    unique_marker,
)
from helpers import copy_demo, manifest_of

from qaagent.console import Console
from qaagent.orchestrator import RunOrchestrator
from qaagent.plan import build_plan
from qaagent.profile_load import load_profile
from qaagent.runners.base import Runner
from qaagent.runners.registry import make_runner

PY = sys.executable


def command_suite(*argv: str) -> str:
    return "{runner: command, command: " + json.dumps([PY, *argv]) + "}"


DAEMONS = """
import subprocess, sys, time
marker = sys.argv[1]
# One daemon keeps our stdout (the pipe), one does not; both leave the process group.
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker], start_new_session=True)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker],
                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("daemons started", flush=True)
time.sleep(60)
"""


@pytest.mark.slow
def test_daemons_outside_the_process_group_neither_block_nor_outlive_the_run(
    qa_project: ProjectFactory,
) -> None:
    marker = unique_marker()
    root = qa_project(
        {
            "d.py": DAEMONS,
            ".qaagent.yaml": "run: {timeout: 2}\ntests:\n  d: " + command_suite("d.py", marker) + "\n",
        }
    )
    started = time.monotonic()
    result = run_qaagent("run-all", cwd=root)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert "timed out after 2 s" in result.stdout
    assert elapsed < 20, f"the run waited {elapsed:.0f} s for a daemon holding its pipe"
    assert "stopped 2 process(es) that suites left running outside their process group" in result.stdout
    assert_no_process_left(marker, wait=1)


@pytest.mark.slow
def test_output_without_newlines_is_bounded(qa_project: ProjectFactory) -> None:
    script = "import sys\nfor _ in range(80):\n    sys.stdout.write('y' * 1_000_000)\n"
    root = qa_project({"big.py": script, ".qaagent.yaml": "tests:\n  big: " + command_suite("big.py") + "\n"})
    result = run_qaagent("run-all", "--quiet", cwd=root)
    assert result.returncode == 0, result.stdout
    log = next((root / ".qaagent" / "evidence").glob("*/suites/big/attempt-1/output.log"))
    assert log.stat().st_size < 70 * 1024 * 1024  # capped at 64 MiB plus the markers
    assert b"[qaagent: 80000000 bytes of output in all]" in log.read_bytes()[-200:]


@pytest.mark.slow
def test_parallel_suites_never_mix_within_a_line(qa_project: ProjectFactory) -> None:
    script = "import sys\nfor i in range(3000):\n    print(sys.argv[1] * 300, flush=i % 7 == 0)\n"
    root = qa_project(
        {
            "talk.py": script,
            ".qaagent.yaml": (
                "run: {parallel: true}\ntests:\n"
                f"  a: {command_suite('talk.py', 'A')}\n  b: {command_suite('talk.py', 'B')}\n"
            ),
        }
    )
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 0
    lines = [line for line in result.stdout.splitlines() if re.match(r"\[[ab]\] [AB]", line)]
    assert len(lines) == 6000
    for line in lines:
        assert line in ("[a] " + "A" * 300, "[b] " + "B" * 300), line[:80]


SUMMARY_TESTS = """
def test_ok():
    pass

def test_bad():
    assert 1 == 2, "numbers differ"
"""


@pytest.mark.slow
def test_console_summary_lists_suites_in_order_then_failures_then_totals(qa_project: ProjectFactory) -> None:
    root = qa_project(
        {
            "tests/test_s.py": SUMMARY_TESTS,
            ".qaagent.yaml": (
                "run: {suite_order: [unit, ok]}\n"
                f"tests:\n  ok: {command_suite('-c', 'pass')}\n  unit: {{path: tests}}\n"
            ),
        }
    )
    result = run_qaagent("run-all", "--quiet", cwd=root)
    assert result.returncode == 1
    tail = result.stdout[result.stdout.index("qaagent summary") :].splitlines()
    assert re.fullmatch(
        r"  FAIL  unit   1 passed, 1 failed, 0 errors, 0 skipped, 0 flaky  \(\d+\.\d s, 1 attempt\(s\)\)",
        tail[1],
    )
    assert re.fullmatch(
        r"  PASS  ok     1 passed, 0 failed, 0 errors, 0 skipped, 0 flaky  \(\d+\.\d s, 1 attempt\(s\)\)",
        tail[2],
    )
    assert tail[3:6] == [
        "",
        "failures (1):",
        "  FAIL  unit › test_bad  tests/test_s.py:5",  # the failing line, not the def line
    ]
    assert tail[6].strip() == "AssertionError: numbers differ"
    assert re.fullmatch(
        r"FAILURE: 3 tests, 2 passed, 1 failed, 0 errors, 0 skipped, 0 flaky in \d+\.\d s wall \(\d+\.\d s of suite time\)",
        tail[8],
    )
    assert tail[9] == f"merged JUnit: {root / 'qaagent-junit.xml'}"
    assert tail[10].startswith(f"evidence: {root / '.qaagent' / 'evidence'}")


def test_an_exception_of_our_own_is_an_error_for_that_suite_only(
    qa_project: ProjectFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok = command_suite("-c", "print('fine')")
    root = qa_project(
        {".qaagent.yaml": f"run: {{parallel: true}}\ntests:\n  a: {ok}\n  b: {ok}\n  c: {ok}\n"}
    )
    plan = build_plan(load_profile(root / ".qaagent.yaml"), repo_root=root)
    real = make_runner

    def flaky_factory(suite: Any, **kwargs: Any) -> Runner:
        if suite.name == "b":
            msg = "bug in a runner"
            raise RuntimeError(msg)
        return real(suite, **kwargs)

    monkeypatch.setattr("qaagent.orchestrator.make_runner", flaky_factory)
    out = tmp_path / "console.txt"
    with out.open("w") as stream:
        run = RunOrchestrator(
            plan,
            run_id="r",
            suite_dir=lambda name: tmp_path / "suites" / name,
            console=Console(stream),
            base_env=dict(os.environ),
        ).run()
    assert [s.name for s in run.suites] == ["a", "b", "c"]
    assert [s.status for s in run.suites] == ["passed", "error", "passed"]
    broken = next(iter(run.suites[1].cases))
    assert (
        "internal error in qaagent while running this suite: RuntimeError: bug in a runner" in broken.message
    )
    assert "Traceback" in broken.details


APP = health_app("""
    import subprocess
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", sys.argv[1]])
""")


def app_project(qa_project: ProjectFactory, marker: str, port: int, suite: str) -> Path:
    return qa_project(
        {
            "app.py": APP,
            ".qaagent.yaml": (
                f"tests:\n  s: {suite}\n"
                f"app:\n  base_url: http://127.0.0.1:{port}\n  health_endpoint: /health\n"
                f"  start_command: {json.dumps([PY, 'app.py', marker, str(port)])}\n"
            ),
        }
    )


@pytest.mark.slow
def test_a_healthy_app_and_its_children_are_gone_after_the_run(qa_project: ProjectFactory) -> None:
    marker, port = unique_marker(), free_port()
    probe = "import os, urllib.request; urllib.request.urlopen(os.environ['BASE_URL'] + '/x').read()"
    root = app_project(qa_project, marker, port, command_suite("-c", probe))
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 0, result.stdout
    assert f"[app] healthy at http://127.0.0.1:{port}/health" in result.stdout
    assert_no_process_left(marker)


@pytest.mark.slow
def test_a_cancelled_run_stops_the_app_and_its_children(qa_project: ProjectFactory) -> None:
    marker, port = unique_marker(), free_port()
    root = app_project(
        qa_project, marker, port, command_suite("-c", "import time; print('go', flush=True); time.sleep(60)")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [PY, "-m", "qaagent", "run-all"], cwd=root, env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "[s] go" in line:
            break
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert manifest_of(root)["status"] == "cancelled"
    assert_no_process_left(marker)


@pytest.mark.slow
def test_an_app_port_already_answering_is_refused(qa_project: ProjectFactory) -> None:
    import http.server  # noqa: PLC0415 - only here

    class Stale(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Stale)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        root = app_project(qa_project, unique_marker(), int(port), command_suite("-c", "pass"))
        result = run_qaagent("run-all", cwd=root)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    assert (
        f"something already answers at http://127.0.0.1:{port}/health before the app was started"
        in result.stdout
    )


@pytest.mark.slow
def test_a_junit_glob_that_matches_nothing_is_an_error(qa_project: ProjectFactory) -> None:
    suite = "{runner: command, command: " + json.dumps([PY, "-c", "pass"]) + ", junit: 'reports/*.xml'}"
    root = qa_project({".qaagent.yaml": f"tests:\n  s: {suite}\n"})
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 1
    assert "no JUnit file written by this attempt matches `junit: reports/*.xml`" in result.stdout


@pytest.mark.slow
def test_the_bundled_demo_passes(tmp_path: Path) -> None:
    """What `make demo` runs, on a copy of examples/demo (the e2e suite needs the browser).

    In the browser a user's `make demo` gets: $QAAGENT_CHROMIUM when this environment names
    one, else none, so the demo's browser.js falls back to Debian's /usr/bin/chromium (the
    other browser tests run in the headless shell: conftest.TEST_CHROMIUM).
    """
    named = os.environ.get("QAAGENT_CHROMIUM", "")
    skip_unless_ready(browser_problems(browser=named or DEBIAN_CHROMIUM))
    demo = copy_demo(tmp_path)
    result = run_qaagent(
        "run-all",
        "--profile",
        ".qaagent.yaml",
        "--parallel",
        "--max-workers",
        "3",
        cwd=demo,
        env={"QAAGENT_CHROMIUM": named},  # empty: browser.js treats it as unset
    )
    assert result.returncode == 0, result.stdout[-3000:]
    suites = {s["name"]: s["counts"] for s in manifest_of(demo)["suites"]}
    assert set(suites) == {"unit", "behave", "e2e"}
    assert all(c["passed"] > 0 and c["failed"] == c["errors"] == 0 for c in suites.values()), suites


@pytest.mark.slow
def test_the_demo_reports_e2e_as_skipped_with_the_reason_when_no_chromium_exists(tmp_path: Path) -> None:
    skip_unless_ready(browser_problems(chromium=False))
    demo = copy_demo(tmp_path)
    (tmp_path / "no-browsers").mkdir()
    env = {
        "QAAGENT_CHROMIUM": "",  # not the tests' browser: none at all
        "QAAGENT_SYSTEM_CHROMIUM": str(tmp_path / "none"),
        "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path / "no-browsers"),
    }
    result = run_qaagent("run-all", "--suite", "e2e", cwd=demo, env=env)
    assert result.returncode == 0, result.stdout[-3000:]
    lines = result.stdout.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("  SKIP  e2e"))
    assert "4 skipped" in lines[row]
    assert lines[row + 1].strip().startswith("no Chromium found: install one with `apt-get install chromium`")


@pytest.mark.slow
def test_junit_to_a_device_writes_into_it_and_never_replaces_it(
    qa_project: ProjectFactory, tmp_path: Path
) -> None:
    fifo = tmp_path / "junit.fifo"
    os.mkfifo(fifo)
    root = qa_project({".qaagent.yaml": "tests:\n  s: " + command_suite("-c", "pass") + "\n"})
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = run_qaagent("run-all", "--junit", str(fifo), cwd=root)
    reader.join(timeout=10)
    assert result.returncode == 0, result.stdout
    assert fifo.is_fifo()  # still the pipe, not a file renamed over it
    assert received
    assert received[0].startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    to_folder = run_qaagent("run-all", "--junit", str(tmp_path), cwd=root)
    assert to_folder.returncode == 0  # the report is in the bundle; the copy is only a warning
    assert f"cannot write the merged JUnit to {tmp_path}: it is a folder" in to_folder.stdout


LEAVES_A_DAEMON = """
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", sys.argv[1]],
                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
"""

LOOKS_FOR_IT = """
import os, pathlib, sys
marker = sys.argv[1].encode()
alive = [p for p in pathlib.Path("/proc").iterdir() if p.name.isdigit() and p.name != str(os.getpid())
         and p.joinpath("cmdline").exists()
         and marker in p.joinpath("cmdline").read_bytes() and "State:\\tZ" not in p.joinpath("status").read_text()]
print("daemon still alive" if alive else "no daemon", flush=True)
sys.exit(1 if alive else 0)
"""


@pytest.mark.slow
def test_a_daemon_left_by_one_suite_is_gone_before_the_next_starts(qa_project: ProjectFactory) -> None:
    marker, port = unique_marker(), free_port()
    probe = "import os, urllib.request; urllib.request.urlopen(os.environ['BASE_URL'] + '/x').read()"
    root = qa_project(
        {
            "leave.py": LEAVES_A_DAEMON,
            "look.py": LOOKS_FOR_IT,
            "app.py": APP,
            ".qaagent.yaml": (
                "run: {parallel: false}\ntests:\n"
                f"  first: {command_suite('leave.py', marker)}\n"
                f"  second: {command_suite('look.py', marker)}\n"
                f"  app_still_up: {command_suite('-c', probe)}\n"
                f"app:\n  base_url: http://127.0.0.1:{port}\n  health_endpoint: /health\n"
                f"  start_command: {json.dumps([PY, 'app.py', unique_marker(), str(port)])}\n"
            ),
        }
    )
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 0, result.stdout
    assert "[second] no daemon" in result.stdout
    assert_no_process_left(marker)


def test_a_python_tool_runner_says_when_its_module_or_command_is_missing(qa_project: ProjectFactory) -> None:
    from qaagent.runners.base import PythonToolRunner  # noqa: PLC0415 - the class under test

    class NoSuchTool(PythonToolRunner):
        kind = "pytest"
        module = "no_such_module_qaagent"

        def attempt(self, *_args: object) -> Any:  # never reached: preflight fails first
            raise AssertionError

    root = qa_project(
        {
            "tests/test_x.py": "def test_x():\n    pass\n",
            ".qaagent.yaml": "tests:\n  unit: {path: tests}\n  other: {runner: pytest, path: tests, command: [no-such-pytest-qaagent]}\n",
        }
    )
    plan = build_plan(load_profile(root / ".qaagent.yaml"), repo_root=root)
    unit, other = plan.suites
    assert NoSuchTool(unit, repo_root=root, base_env=dict(os.environ)).preflight() == (
        f"no_such_module_qaagent is not installed for {sys.executable} (pip install no_such_module_qaagent)"
    )
    assert make_runner(other, repo_root=root, base_env=dict(os.environ)).preflight() == (
        "tool not found on PATH: no-such-pytest-qaagent"
    )
    assert make_runner(unit, repo_root=root, base_env=dict(os.environ)).preflight() is None
