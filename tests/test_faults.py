"""Faults with real child processes: the run completes, other suites stay intact, nothing is left."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from conftest import ProjectFactory, assert_no_process_left, run_qaagent, unique_marker
from helpers import manifest_of

PY = sys.executable


def profile(suites: dict[str, str], *, extra: str = "", timeout: float = 30) -> str:
    body = "\n".join(f"  {name}: {spec}" for name, spec in suites.items())
    return f"project: {{name: faults}}\nrun:\n  timeout: {timeout}\n{extra}tests:\n{body}\n"


def command(script: str, *args: str) -> str:
    argv = [PY, script, *args]
    return "{runner: command, command: " + json.dumps(argv) + "}"


def suite_entry(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in manifest["suites"] if s["name"] == name)


OK_SCRIPT = "print('fine')\n"

HANG_WITH_GRANDCHILD = """
import subprocess, sys, time
marker = sys.argv[1]
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", marker])
print("started a grandchild", flush=True)
time.sleep(300)
"""


@pytest.mark.slow
def test_hanging_suite_with_grandchild_is_killed_and_reported(qa_project: ProjectFactory) -> None:
    marker = unique_marker()
    root = qa_project(
        {
            "hang.py": HANG_WITH_GRANDCHILD,
            "ok.py": OK_SCRIPT,
            ".qaagent.yaml": profile(
                {"hang": command("hang.py", marker), "ok": command("ok.py")},
                extra="  parallel: true\n",
                timeout=2,
            ),
        }
    )
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "timed out after 2 s" in result.stdout
    manifest = manifest_of(root)
    hang = suite_entry(manifest, "hang")
    assert hang["timed_out"] is True
    assert hang["counts"]["errors"] == 1
    assert suite_entry(manifest, "ok")["counts"]["passed"] == 1
    junit = (root / "qaagent-junit.xml").read_text()
    assert "timed out after 2 s" in junit
    assert "started a grandchild" in junit  # the tail of its log
    assert_no_process_left(marker)


SELF_KILL = "import os, signal\nprint('about to die', flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n"
FLOOD = "import sys\nline = 'x' * 1023 + '\\n'\nfor _ in range(50 * 1024):\n    sys.stdout.write(line)\n"
BAD_UTF8 = "import sys\nsys.stdout.buffer.write(b'bad \\xff\\xfe bytes\\n\\x1b[31mred\\x1b[0m\\n')\n"
MALFORMED = (
    "import os\nopen(os.environ['QAAGENT_JUNIT_DIR'] + '/r.xml', 'w').write('<testsuite><testcase name=')\n"
)


@pytest.mark.slow
def test_signal_flood_bad_utf8_missing_tool_and_malformed_junit(qa_project: ProjectFactory) -> None:
    root = qa_project(
        {
            "selfkill.py": SELF_KILL,
            "flood.py": FLOOD,
            "badutf8.py": BAD_UTF8,
            "malformed.py": MALFORMED,
            "ok.py": OK_SCRIPT,
            ".qaagent.yaml": profile(
                {
                    "selfkill": command("selfkill.py"),
                    "flood": command("flood.py"),
                    "badutf8": command("badutf8.py"),
                    "missing": '{runner: command, command: ["no-such-tool-qaagent", "--x"]}',
                    "malformed": command("malformed.py"),
                    "ok": command("ok.py"),
                },
                extra="  parallel: true\n  max_workers: 3\n",
            ),
        }
    )
    result = run_qaagent("run-all", "--quiet", cwd=root)
    assert result.returncode == 1
    manifest = manifest_of(root)
    assert [s["name"] for s in manifest["suites"]] == [
        "selfkill",
        "flood",
        "badutf8",
        "missing",
        "malformed",
        "ok",
    ]
    selfkill = suite_entry(manifest, "selfkill")
    assert selfkill["counts"]["failed"] == 1
    junit = (root / "qaagent-junit.xml").read_text()
    assert "was killed by signal 9 (SIGKILL)" in junit
    assert suite_entry(manifest, "flood")["counts"]["passed"] == 1
    flood_log = next((root / ".qaagent" / "evidence").glob("*/suites/flood/attempt-1/output.log"))
    assert flood_log.stat().st_size >= 50 * 1024 * 1024
    assert suite_entry(manifest, "badutf8")["counts"]["passed"] == 1
    missing = suite_entry(manifest, "missing")
    assert missing["counts"]["errors"] == 1
    assert "no-such-tool-qaagent" in junit
    malformed = suite_entry(manifest, "malformed")
    assert malformed["counts"]["errors"] >= 1
    assert "junit/r.xml: the XML ends early" in junit
    assert suite_entry(manifest, "ok")["counts"]["passed"] == 1
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_missing_test_path_is_an_error_not_a_skip(qa_project: ProjectFactory) -> None:
    root = qa_project({".qaagent.yaml": "tests:\n  unit: {path: tests/typo}\n"})
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 1
    assert "test path does not exist: tests/typo" in result.stdout
    assert suite_entry(manifest_of(root), "unit")["counts"]["errors"] == 1


APP_EXITS = "import sys\nprint('config missing', flush=True)\nsys.exit(3)\n"
APP_NEVER_HEALTHY = "import sys, time\nprint(sys.argv[1], flush=True)\ntime.sleep(300)\n"


def app_profile(start: list[str], startup_timeout: float) -> str:
    return (
        "tests:\n  ok: " + command("ok.py") + "\n"
        "app:\n  base_url: http://127.0.0.1:9\n  health_endpoint: /health\n"
        f"  startup_timeout: {startup_timeout}\n  start_command: {json.dumps(start)}\n"
    )


@pytest.mark.slow
def test_app_that_exits_at_once_is_reported_and_suites_still_run(qa_project: ProjectFactory) -> None:
    root = qa_project(
        {"app.py": APP_EXITS, "ok.py": OK_SCRIPT, ".qaagent.yaml": app_profile([PY, "app.py"], 10)}
    )
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 1
    manifest = manifest_of(root)
    assert [s["name"] for s in manifest["suites"]] == ["app", "ok"]
    assert suite_entry(manifest, "ok")["counts"]["passed"] == 1
    junit = (root / "qaagent-junit.xml").read_text()
    assert "app exited with code 3 before it became healthy" in junit
    assert "config missing" in junit


@pytest.mark.slow
def test_app_that_never_becomes_healthy_is_stopped(qa_project: ProjectFactory) -> None:
    marker = unique_marker()
    root = qa_project(
        {
            "app.py": APP_NEVER_HEALTHY,
            "ok.py": OK_SCRIPT,
            ".qaagent.yaml": app_profile([PY, "app.py", marker], 1.5),
        }
    )
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 1
    assert "did not become healthy at http://127.0.0.1:9/health within 1.5 s" in result.stdout
    assert suite_entry(manifest_of(root), "ok")["counts"]["passed"] == 1
    assert_no_process_left(marker)


@pytest.mark.slow
def test_exit_code_wins_over_passing_junit(qa_project: ProjectFactory) -> None:
    script = (
        "import os, sys\n"
        "open(os.environ['QAAGENT_JUNIT_DIR'] + '/r.xml', 'w').write("
        '\'<testsuite name="s" tests="1"><testcase classname="c" name="t" time="0.1"/></testsuite>\')\n'
        "sys.exit(1)\n"
    )
    root = qa_project({"s.py": script, ".qaagent.yaml": profile({"s": command("s.py")})})
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 1
    junit = (root / "qaagent-junit.xml").read_text()
    assert "exited with code 1 although its JUnit reports no failure" in junit
    counts = suite_entry(manifest_of(root), "s")["counts"]
    assert counts["passed"] == 1
    assert counts["errors"] == 1
