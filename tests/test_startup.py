"""What a run costs besides its suites: lazy imports, waiting without a poll sleep, no /proc scan.

The figures themselves live in benchmarks/run_all.py (docs/benchmarks.md); these tests
check the mechanisms that make them small, on real processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import ProjectFactory, qaagent_environment

from qaagent import cli, orphans, process
from qaagent.process import run_process

#: modules a plain `qaagent run-all` (no GitHub feedback) must not import
HEAVY = ("requests", "urllib3", "qaagent.github.api", "qaagent.github.publish", "qaagent.history.commands")

PROBE = textwrap.dedent(
    """
    import json, sys
    from qaagent.cli import main
    code = main(sys.argv[1:])
    heavy = [name for name in {heavy!r} if name in sys.modules]
    print(json.dumps({{"code": code, "heavy": heavy}}))
    """
)


def run_probe(*args: str, cwd: Path, env: dict[str, str] | None = None) -> dict[str, object]:
    import json  # noqa: PLC0415

    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        cwd=cwd,
        env=qaagent_environment(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    last = done.stdout.strip().splitlines()[-1]
    result: dict[str, object] = json.loads(last)
    return result


@pytest.mark.slow
def test_run_all_without_github_feedback_imports_no_github_client(qa_project: ProjectFactory) -> None:
    profile = 'project: {name: p}\ntests:\n  one: {runner: command, command: ["true"]}\n'
    project = qa_project({".qaagent.yaml": profile})
    plain = run_probe("run-all", "--quiet", cwd=project)
    assert plain == {"code": 0, "heavy": []}
    # with GitHub feedback on, the client is there (the probe is not vacuous)
    github = run_probe("run-all", "--quiet", "--github", "on", cwd=project, env={"GITHUB_ACTIONS": "true"})
    assert github["code"] == 0
    assert "qaagent.github.publish" in github["heavy"]  # type: ignore[operator]


def test_other_commands_are_every_command_but_history() -> None:
    parser = cli.build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    assert set(commands.choices) - {"history"} == cli._OTHER_COMMANDS  # type: ignore[arg-type]
    assert cli._needs_history(["history", "flaky"])
    assert cli._needs_history(["--help"])
    assert not cli._needs_history(["run-all", "--profile", "history"])


def test_a_child_is_waited_for_by_its_exit_not_by_a_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a poll interval of a minute, a polling loop would sleep a minute per child."""
    monkeypatch.setattr(process, "POLL", 60.0)
    started = time.monotonic()
    for _ in range(3):
        outcome = run_process(
            ["true"],
            cwd=tmp_path,
            env=dict(os.environ),
            timeout=600,
            log_path=None,
            console=None,
            prefix="t",
            cancel=threading.Event(),
        )
        assert (outcome.returncode, outcome.timed_out, outcome.cancelled) == (0, False, False)
    assert time.monotonic() - started < 30


def test_no_children_means_no_proc_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    def scan(_self: Path) -> object:
        msg = "scanned /proc"
        raise AssertionError(msg)

    monkeypatch.setattr(orphans, "has_children", lambda: False)
    monkeypatch.setattr(Path, "iterdir", scan)
    assert orphans.children_of(os.getpid()) == {}
    assert orphans.stop_orphans() == []


_ADOPTED = """
import json, os, subprocess, sys, time
from pathlib import Path
from qaagent import orphans
assert orphans.become_subreaper()
direct = subprocess.Popen(["sleep", "30"])
# a daemon in a session of its own, whose parent exits: re-parented to us, the subreaper
subprocess.run(["sh", "-c", "setsid sleep 30 & echo $! > daemon.pid"], check=True)
daemon = int(Path("daemon.pid").read_text())
deadline = time.monotonic() + 10
while orphans._proc_stat(daemon)[1:2] != [str(os.getpid())] and time.monotonic() < deadline:
    time.sleep(0.01)
fast = orphans.children_of(os.getpid())
listed = orphans._listed_children(os.getpid())
orphans._listed_children = lambda pid: None  # what the scan of every process finds
scanned = orphans.children_of(os.getpid())
stopped = orphans.stop_orphans(grace=0.5)
print(json.dumps({"fast": sorted(fast), "listed": listed is not None, "scanned": sorted(scanned),
                  "direct": direct.pid, "daemon": daemon, "stopped": sorted(stopped)}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the subreaper and /proc are Linux's")
def test_the_kernels_child_list_finds_what_the_proc_scan_finds(tmp_path: Path) -> None:
    import json  # noqa: PLC0415

    done = subprocess.run(
        [sys.executable, "-c", _ADOPTED],
        cwd=tmp_path, capture_output=True, text=True, env=qaagent_environment(), timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["listed"]  # this kernel has /proc/PID/task/TID/children (Debian's does)
    assert seen["fast"] == seen["scanned"]
    assert {seen["direct"], seen["daemon"]} <= set(seen["fast"])
    assert {seen["direct"], seen["daemon"]} <= set(seen["stopped"])


def test_a_live_child_costs_no_scan_of_every_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # qaagent's watchdog is always a child: between suites the kernel's list is read instead
    child = subprocess.Popen(["sleep", "5"])
    try:
        if orphans._listed_children(os.getpid()) is None:
            pytest.skip("this kernel has no /proc/PID/task/TID/children")

        def scan(_self: Path) -> object:
            msg = "scanned /proc"
            raise AssertionError(msg)

        monkeypatch.setattr(Path, "iterdir", scan)
        assert child.pid in orphans.children_of(os.getpid())
    finally:
        child.kill()
        child.wait()


def test_has_children_sees_a_live_child_and_none_in_a_fresh_process() -> None:
    child = subprocess.Popen(["sleep", "5"])
    try:
        assert orphans.has_children()
        assert child.pid in orphans.children_of(os.getpid())
    finally:
        child.kill()
        child.wait()
    fresh = subprocess.run(
        [sys.executable, "-c", "from qaagent.orphans import has_children; print(has_children())"],
        capture_output=True,
        text=True,
        env=qaagent_environment(),
        check=True,
    )
    assert fresh.stdout.strip() == "False"
