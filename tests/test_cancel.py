"""Cancellation for real: signal a running qaagent, then check time, exit code, bundle and processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, ProjectFactory, assert_no_process_left, run_qaagent, unique_marker

PY = sys.executable

SLEEPER = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", sys.argv[1]])
print("sleeping", flush=True)
time.sleep(120)
"""


def long_project(qa_project: ProjectFactory, marker: str) -> Path:
    slow = json.dumps([PY, "sleeper.py", marker])
    fast = json.dumps([PY, "-c", "print('quick')"])
    return qa_project(
        {
            "sleeper.py": SLEEPER,
            ".qaagent.yaml": (
                "run:\n  parallel: true\n  max_workers: 2\n"
                f"tests:\n  fast: {{runner: command, command: {fast}}}\n"
                f"  slow: {{runner: command, command: {slow}}}\n"
                f"  slower: {{runner: command, command: {slow}}}\n"
                f"  never: {{runner: command, command: {fast}}}\n"
            ),
        }
    )


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_leaves_a_cancelled_bundle_that_verifies(
    qa_project: ProjectFactory, sig: signal.Signals
) -> None:
    marker = unique_marker()
    root = long_project(qa_project, marker)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [PY, "-m", "qaagent", "run-all"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until the long suites are really running
        if "[slower] sleeping" in line or "[slow] sleeping" in line:
            break
    time.sleep(0.3)
    sent = time.monotonic()
    proc.send_signal(sig)
    time.sleep(0.2)
    proc.send_signal(sig)  # a second signal must not interrupt the writing of the bundle
    rest, _ = proc.communicate(timeout=30)
    elapsed = time.monotonic() - sent
    assert proc.returncode == 130, rest
    assert elapsed < 5.0, f"took {elapsed:.1f} s from the first signal to exit"
    assert "still writing the evidence bundle" in rest
    bundle = max((root / ".qaagent" / "evidence").iterdir())
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["status"] == "cancelled"
    names = [s["name"] for s in manifest["suites"]]
    assert names == ["fast", "slow", "slower", "never"]
    by_name = {s["name"]: s for s in manifest["suites"]}
    assert by_name["fast"]["counts"]["passed"] == 1  # collected before the signal: kept
    assert by_name["never"]["counts"]["skipped"] == 1  # never started: still in the report
    assert "never" in manifest["not_run"]
    junit = (root / "qaagent-junit.xml").read_text()
    assert "cancelled while running" in junit
    assert run_qaagent("verify", str(bundle), cwd=root).returncode == 0
    assert_no_process_left(marker)
