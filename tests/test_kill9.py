"""`kill -9` of qaagent (an OOM kill): what it leaves behind must be safe to publish, and nothing runs on.

The README's workflows upload only a bundle whose run ended (`evidence-path` set), but a
partial bundle stays in the workspace and an older workflow may still upload it: its logs
must hold no raw secret (they are redacted as they are written). And the suites qaagent started must not outlive it (its watchdog stops their
process groups when qaagent's end closes the pipe it watches).
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import zygote
from conftest import ProjectFactory, assert_no_process_left, processes_with, start_qaagent, unique_marker

PY = sys.executable
SECRET = "sk-live-Zq8w&7/XpL0+aa"  # noqa: S105 - a made-up secret with characters that get encoded

SUITE = """
import base64, os, subprocess, sys, time, urllib.parse
secret = os.environ["MY_API_TOKEN"]
marker = sys.argv[1]
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", marker])
print("connecting with key=" + secret, flush=True)
print("url form " + urllib.parse.quote(secret, safe=""), flush=True)
print("basic " + base64.b64encode(("user:" + secret).encode()).decode(), flush=True)
for _ in range(2000):  # more than any write buffer holds
    print("padding " + "." * 100, flush=True)
open("started", "w").write(str(os.getpid()))
time.sleep(300)
"""


def _wait_for(path: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.stat().st_size > 0):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@contextlib.contextmanager
def killed_with_9(proc: zygote.Process) -> Iterator[None]:
    """Inside: wait for the moment; at its end qaagent gets SIGKILL (and is cleaned up whatever happens)."""
    try:
        yield
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.slow
def test_a_kill_9_leaves_no_raw_secret_and_no_suite_running(qa_project: ProjectFactory) -> None:
    marker = unique_marker()
    root = qa_project(
        {
            "suite.py": SUITE,
            ".qaagent.yaml": f"tests:\n  hang: {{runner: command, command: {json.dumps([PY, 'suite.py', marker])}}}\n",
        }
    )
    proc = start_qaagent("run-all", "--quiet", cwd=root, env={"MY_API_TOKEN": SECRET})
    with killed_with_9(proc):
        _wait_for(root / "started")
        log = next((root / ".qaagent" / "evidence").glob("*/suites/hang/attempt-1/output.log"))
        deadline = time.monotonic() + 10
        while log.stat().st_size < 100_000:  # the secret's lines are on disk by now
            assert time.monotonic() < deadline, log.read_text(errors="replace")[:2000]
            time.sleep(0.05)
    text = log.read_text(errors="replace")
    for form in (SECRET, quote(SECRET, safe=""), base64.b64encode(f"user:{SECRET}".encode()).decode()):
        assert form not in text, text
    assert "connecting with key=***" in text
    # the suite and the grandchild in its process group are stopped by the watchdog
    assert_no_process_left(marker, wait=10)
    assert not processes_with(marker)


ENDED_SUITE = """
import html, os, pathlib, zipfile
secret = os.environ["MY_API_TOKEN"]
report = pathlib.Path(os.environ["QAAGENT_JUNIT_DIR"]) / "r.xml"  # its own JUnit, in the bundle
report.write_text('<testsuite name="s"><testcase name="login"><failure message="key='
                  + html.escape(secret) + '"/></testcase></testsuite>')
out = pathlib.Path("out"); out.mkdir(exist_ok=True)
(out / "config.yaml").write_text("api_key: " + secret + "\\n")
with zipfile.ZipFile(out / "trace.zip", "w", zipfile.ZIP_STORED) as z:  # stored: the secret in the bytes
    z.writestr("trace.network", "Authorization: Bearer " + secret)
"""


@pytest.mark.slow
def test_a_kill_9_after_a_suite_ended_leaves_its_artifacts_redacted(qa_project: ProjectFactory) -> None:
    # issue 12 review: files copied into the bundle were redacted only at the run's end, so a
    # run killed while a later suite ran left them raw for the `!cancelled()` upload
    marker = unique_marker()
    root = qa_project(
        {
            "ended.py": ENDED_SUITE,
            "hang.py": f"import time\nopen('hanging', 'w').write('yes')\ntime.sleep(300)  # {marker}\n",
            ".qaagent.yaml": (
                "run: {suite_order: [first, second]}\n"
                f"tests:\n  first:\n    runner: command\n    command: {json.dumps([PY, 'ended.py'])}\n"
                '    artifacts: ["out/*"]\n'
                f"  second: {{runner: command, command: {json.dumps([PY, 'hang.py', marker])}}}\n"
            ),
        }
    )
    proc = start_qaagent("run-all", "--quiet", "--sequential", cwd=root, env={"MY_API_TOKEN": SECRET})
    with killed_with_9(proc):
        _wait_for(root / "hanging")
        time.sleep(0.5)
    bundle = next((root / ".qaagent" / "evidence").iterdir())
    kept = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    escaped = html.escape(SECRET).encode()
    raw = [
        rel
        for rel in kept
        if SECRET.encode() in (bundle / rel).read_bytes() or escaped in (bundle / rel).read_bytes()
    ]
    assert raw == [], raw
    assert next(bundle.rglob("junit/r.xml")).read_text(encoding="utf-8").count("key=***") == 1
    config = next(bundle.rglob("out/config.yaml"))
    assert config.read_text(encoding="utf-8") == "api_key: ***\n"
    assert not list(bundle.rglob("out/trace.zip"))  # no scan can redact it, and the profile does not keep it
    assert_no_process_left(marker, wait=10)
