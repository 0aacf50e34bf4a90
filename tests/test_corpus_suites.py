"""Suite behaviours corpus: every way a suite can misbehave, in one real parallel `qaagent run-all`.

Hang, hang with a grandchild that ignores SIGTERM, a capped fork bomb (one
branch escaping into its own session), SIGKILL of itself, a segfault, 100 MB
of output, binary output, silence for the whole timeout, exit 0 without
JUnit, exit 1 with a passing JUnit. Each gets its documented result, the
good suite's result is intact, the bundle verifies, the run exits 1, and no
process is left (every child carries a unique marker on its command line).
"""

from __future__ import annotations

import json
import sys

import pytest
from conftest import ProjectFactory, assert_no_process_left, run_qaagent, unique_marker
from helpers import latest_bundle, manifest_of, records_of
from test_corpus_support import measured_run

PY = sys.executable
TIMEOUT = 3

SCRIPTS = {
    "good.py": """
        import os
        open(os.path.join(os.environ["QAAGENT_JUNIT_DIR"], "good.xml"), "w").write(
            '<testsuite name="good"><testcase classname="kept" name="collected" time="0.01"/></testsuite>'
        )
    """,
    "hang.py": "import time\nprint('hanging', flush=True)\ntime.sleep(300)\n",
    "hang_grandchild.py": """
        import subprocess, sys, time
        stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
        subprocess.Popen([sys.executable, "-c", stubborn, sys.argv[1]])
        print("grandchild started", flush=True)
        time.sleep(300)
    """,
    # A bounded fork tree (depth 4, fan-out 3: 120 processes at most, copy-on-write forks
    # that only sleep); RLIMIT_NPROC caps it further where the user is not root.
    "fork_bomb.py": """
        import os, resource, time
        soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        users = sum(1 for p in os.listdir("/proc") if p.isdigit())
        cap = users + 200
        if hard == resource.RLIM_INFINITY or cap < hard:
            resource.setrlimit(resource.RLIMIT_NPROC, (cap, hard))
        print("forking", flush=True)
        for depth in range(4):
            for branch in range(3):
                try:
                    if os.fork() == 0:
                        if depth == 0 and branch == 0:
                            os.setsid()  # one branch leaves the process group
                        break
                except OSError:
                    pass
            else:
                break
        time.sleep(300)
    """,
    "self_kill.py": "import os, signal\nprint('dying', flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n",
    "segfault.py": "import ctypes\nprint('reading address 0', flush=True)\nctypes.string_at(0)\n",
    "flood.py": """
        import sys
        block = ("y" * 1023 + "\\n").encode() * 1024
        for _ in range(100):
            sys.stdout.buffer.write(block)  # 100 MiB in all
    """,
    "binary.py": """
        import os, sys
        sys.stdout.buffer.write(bytes(range(256)) * 64 + os.urandom(64 * 1024) + b"\\x00\\x1b[2J\\xff\\xfe")
    """,
    "silent.py": "import time\ntime.sleep(300)\n",
    "no_junit.py": "print('all good, no report')\n",
    "exit1_passing_junit.py": """
        import os, sys
        open(os.path.join(os.environ["QAAGENT_JUNIT_DIR"], "r.xml"), "w").write(
            '<testsuite name="s"><testcase classname="c" name="claims_success" time="0.1"/></testsuite>'
        )
        sys.exit(1)
    """,
}

#: suite → (script, extra settings, {count: value}, text its synthetic result must hold)
SUITES: dict[str, tuple[str, str, dict[str, int], str | None]] = {
    "good": ("good.py", "", {"passed": 1}, None),
    "hang": ("hang.py", "", {"errors": 1}, f"timed out after {TIMEOUT} s"),
    "hang-grandchild": ("hang_grandchild.py", "", {"errors": 1}, f"timed out after {TIMEOUT} s"),
    "fork-bomb": ("fork_bomb.py", "", {"errors": 1}, f"timed out after {TIMEOUT} s"),
    "self-sigkill": ("self_kill.py", "", {"failed": 1}, "killed by signal 9 (SIGKILL)"),
    "segfault": ("segfault.py", "", {"failed": 1}, "killed by signal 11 (SIGSEGV)"),
    "output-100mb": ("flood.py", ", timeout: 120", {"passed": 1}, None),
    "binary-output": ("binary.py", "", {"passed": 1}, None),
    "silent": ("silent.py", "", {"errors": 1}, f"timed out after {TIMEOUT} s"),
    "exit0-no-junit": ("no_junit.py", "", {"passed": 1}, None),
    "exit1-passing-junit": (
        "exit1_passing_junit.py",
        "",
        {"passed": 1, "errors": 1},
        "exited with code 1 although its JUnit reports no failure",
    ),
}


def project_files(marker: str) -> dict[str, str]:
    lines = [f"run:\n  parallel: true\n  max_workers: {len(SUITES)}\n  timeout: {TIMEOUT}\ntests:"]
    for name, (script, extra, _, _) in SUITES.items():
        argv = json.dumps([PY, script, marker])
        lines.append(f"  {name}: {{runner: command, command: {argv}{extra}}}")
    return {**SCRIPTS, ".qaagent.yaml": "\n".join(lines) + "\n"}


@pytest.mark.slow
def test_every_misbehaving_suite_gets_its_documented_result(qa_project: ProjectFactory) -> None:
    marker = unique_marker()
    root = qa_project(project_files(marker))
    result = measured_run(["run-all", "--quiet"], cwd=root, timeout=120)
    print(f"suite behaviours: {result.seconds:.1f} s, peak RSS {result.peak_rss_mib:.0f} MiB")
    assert result.returncode == 1, result.output[-3000:]
    assert "Traceback" not in result.output
    manifest = manifest_of(root)
    assert [s["name"] for s in manifest["suites"]] == list(SUITES)
    by_name = {s["name"]: s for s in manifest["suites"]}
    records = records_of(root)
    for name, (_, _, counts, text) in SUITES.items():
        got = by_name[name]["counts"]
        for key, value in counts.items():
            assert got[key] == value, (name, got)
        assert sum(got[k] for k in ("passed", "failed", "errors")) == sum(counts.values()), (name, got)
        messages = " ".join(r["message"] for r in records if r["suite"] == name)
        if text is not None:
            assert text in messages, (name, messages)
    for name in ("hang", "hang-grandchild", "fork-bomb", "silent"):
        assert by_name[name]["timed_out"] is True, name
    flood_log = next(latest_bundle(root).glob("suites/output-100mb/attempt-1/output.log"))
    assert flood_log.stat().st_size >= 64 * 1024 * 1024  # kept up to the log limit, the rest drained
    junit = (root / "qaagent-junit.xml").read_text(encoding="utf-8")
    assert "grandchild started" in junit  # the tail of the log travels with the error
    verify = run_qaagent("verify", str(latest_bundle(root)), cwd=root)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert result.seconds < 45, f"{result.seconds:.1f} s"
    assert result.peak_rss_mib < 200, f"peak RSS {result.peak_rss_mib:.0f} MiB"
    assert_no_process_left(marker)
