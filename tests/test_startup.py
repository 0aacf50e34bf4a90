"""What a run costs besides its suites: lazy imports, waiting without a poll sleep, no /proc scan.

The figures themselves live in benchmarks/run_all.py (docs/benchmarks.md); these tests
check the mechanisms that make them small, on real processes.
"""

from __future__ import annotations

import json
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
from qaagent.output import OutputReader
from qaagent.process import ProcessOutcome, run_process

#: the start itself is the subject here (what a cold process imports, collects, leaves open): its
#: qaagent processes are never forked from the zygote (tests/zygote.py), whichever helper starts them
pytestmark = pytest.mark.cold_start

#: modules a plain `qaagent run-all` (no GitHub feedback) must not import
HEAVY = (
    "requests",
    "urllib3",
    "qaagent.github.api",
    "qaagent.github.publish",
    "qaagent.history.commands",
    # the readers of formats no suite of the run uses, and the app's HTTP client
    "qaagent.formats.trx",
    "qaagent.formats.mocha",
    "qaagent.formats.tap",
    "urllib.request",
)

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
    assert cli._needs_history(["--help", "--version"])
    assert not cli._needs_history(["--version"])
    assert not cli._needs_history(["run-all", "--profile", "history"])


#: what the profile, the results or a store need: none of it for `--version`, `--help`, a usage error
PROFILE_MODULES = ("pydantic", "yaml", "sqlite3", "qaagent.profile", "qaagent.results", "qaagent.console")

_IMPORTED = """
import json, sys
from qaagent.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "imported": [m for m in %r if m in sys.modules]}))
"""


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--version"], 0),
        (["--help"], 0),
        (["history", "--help"], 0),
        (["history", "flaky", "--bogus"], 2),
        (["nosuchcommand"], 2),
        (["run-all", "--bogus"], 2),
        (["verify", "no-such-folder"], 2),
    ],
)
def test_commands_that_need_no_profile_import_no_model(tmp_path: Path, argv: list[str], code: int) -> None:
    import json  # noqa: PLC0415

    done = subprocess.run(
        [sys.executable, "-c", _IMPORTED % (PROFILE_MODULES,), *argv],
        cwd=tmp_path, capture_output=True, text=True, env=qaagent_environment(), timeout=60, check=False,
    )  # fmt: skip
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"code": code, "imported": []}, done.stderr


def test_the_import_probe_sees_the_models(tmp_path: Path) -> None:
    import json  # noqa: PLC0415

    done = subprocess.run(
        [sys.executable, "-c", _IMPORTED % (PROFILE_MODULES,), "validate"],
        cwd=tmp_path, capture_output=True, text=True, env=qaagent_environment(), timeout=60, check=False,
    )  # fmt: skip
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["code"] == 2  # no profile here
    assert {"pydantic", "qaagent.profile"} <= set(seen["imported"])


def _run_unlogged(argv: list[str], cwd: Path) -> ProcessOutcome:
    """One child through `run_process`, with no log and no console, under a ten-minute timeout."""
    return run_process(
        argv,
        cwd=cwd,
        env=dict(os.environ),
        timeout=600,
        log_path=None,
        console=None,
        prefix="t",
        cancel=threading.Event(),
    )


def test_a_child_is_waited_for_by_its_exit_not_by_a_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a poll interval of a minute, a polling loop would sleep a minute per child."""
    monkeypatch.setattr(process, "POLL", 60.0)
    started = time.monotonic()
    for _ in range(3):
        outcome = _run_unlogged(["true"], tmp_path)
        assert (outcome.returncode, outcome.timed_out, outcome.cancelled) == (0, False, False)
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("pidfd", [True, False])
def test_the_exit_wakes_the_wait_with_a_pidfd_or_with_the_fallback_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pidfd: bool
) -> None:
    # session 26: a pidfd (no thread per child) where the kernel has one, else a thread in wait()
    monkeypatch.setattr(process, "POLL", 60.0)
    if not pidfd:

        def refused(_pid: int, _flags: int = 0) -> int:
            raise OSError(38, "Function not implemented")

        monkeypatch.setattr(os, "pidfd_open", refused, raising=False)
    elif not hasattr(os, "pidfd_open"):
        pytest.skip("no os.pidfd_open on this platform")
    threads = threading.active_count()
    started = time.monotonic()
    outcome = _run_unlogged(["sh", "-c", "exit 3"], tmp_path)
    assert (outcome.returncode, outcome.timed_out, outcome.cancelled) == (3, False, False)
    assert time.monotonic() - started < 30
    assert threading.active_count() <= threads + (0 if pidfd else 1)  # the fallback's thread may linger


def test_a_child_without_output_costs_no_reader_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # session 27: the reader thread starts with the first byte of output, or at the exit when a
    # descendant still holds the pipe; a pipe that hangs up empty needs none (pidfd only)
    if not hasattr(os, "pidfd_open"):
        pytest.skip("no os.pidfd_open on this platform")
    started: list[str] = []
    start = OutputReader.start

    def counted(self: OutputReader) -> None:
        started.append(self.name)
        start(self)

    monkeypatch.setattr(OutputReader, "start", counted)
    for argv, code in ((["true"], 0), (["sh", "-c", "exec >/dev/null 2>&1; sleep 0.1"], 0), (["false"], 1)):
        outcome = _run_unlogged(argv, tmp_path)
        assert (outcome.returncode, outcome.tail, outcome.output_bytes) == (code, "", 0)
    assert started == []
    assert _run_unlogged(["printf", "no newline"], tmp_path).tail == "no newline"
    late = run_process(
        ["sh", "-c", "(sleep 0.3; echo late) & exit 0"],  # silent until its leader is gone
        cwd=tmp_path,
        env=dict(os.environ),
        timeout=600,
        log_path=tmp_path / "setup.log",
        console=None,
        prefix="t",
        cancel=threading.Event(),
        policy=process.SETUP,  # leftovers keep running and their output is read
    )
    assert late.tail == "late"
    assert (tmp_path / "setup.log").read_text(encoding="utf-8").endswith("late\n")
    assert len(started) == 2


RELEASES = """
import atexit, json, os, subprocess
from qaagent import watchdog
sent = []
atexit.register(lambda: print(json.dumps([sent, pids]), flush=True))  # runs after watchdog._stop
real = os.write
def spy(fd, data):
    if fd == watchdog._pipe:
        sent.append(bytes(data).decode())
    return real(fd, data)
os.write = spy
pids = []
def gone():
    child = subprocess.Popen(["true"], start_new_session=True)
    watchdog.watch(child.pid)
    child.wait()
    watchdog.release(child.pid)
    pids.append(child.pid)
gone(); gone()
"""


def test_a_gone_group_is_forgotten_at_once() -> None:
    # session 27's review: a release held back until the next message let a qaagent SIGKILLed in
    # between make the watchdog kill whatever group had taken the number since (reproduced with
    # ns_last_pid): each release is its own message again
    done = subprocess.run(
        [sys.executable, "-c", RELEASES], capture_output=True, text=True, check=True, timeout=60
    )
    sent, (a, b) = json.loads(done.stdout.strip().splitlines()[-1])
    assert sent == [f"+{a}\n", f"-{a}\n", f"+{b}\n", f"-{b}\n"]


WATCHED_AT_EXIT = """
import subprocess, sys
from qaagent import watchdog
child = subprocess.Popen(["sleep", "30"], start_new_session=True)
watchdog.watch(child.pid)
if sys.argv[1] == "release":
    child.kill(); child.wait(); watchdog.release(child.pid)
print(child.pid, flush=True)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_normal_exit_leaves_no_listed_group_running() -> None:
    # session 26: the watchdog ends with `os._exit` (its own interpreter's shutdown was most of
    # qaagent's wait at exit); qaagent still waits for it, so a group listed at the exit is
    # stopped by the time qaagent has exited, and one released before is left to its owner
    for mode in ("keep", "release"):
        done = subprocess.run(
            [sys.executable, "-c", WATCHED_AT_EXIT, mode],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        pid = int(done.stdout.split()[0])
        try:
            state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rpartition(")")[2].split()[0]
        except OSError:
            state = "gone"
        assert state in ("gone", "Z"), (mode, state)


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


_OPEN_FILES = """
import gc, io, json, sys
from qaagent.cli import main
code = main(sys.argv[1:])
standard = {id(s) for s in (sys.stdin, sys.stdout, sys.stderr, sys.__stdin__, sys.__stdout__, sys.__stderr__)}
standard |= {id(getattr(s, "buffer", None)) for s in (sys.stdin, sys.stdout, sys.stderr)}
standard |= {id(getattr(getattr(s, "buffer", None), "raw", None)) for s in (sys.stdin, sys.stdout, sys.stderr)}
gc.collect()
left = [repr(o) for o in gc.get_objects() if isinstance(o, io.IOBase) and not o.closed and id(o) not in standard]
print(json.dumps({"code": code, "open": left}))
"""


@pytest.mark.parametrize("history", [True, False])
def test_every_file_is_closed_when_the_command_returns(qa_project: ProjectFactory, history: bool) -> None:
    """What `errors.before_exit` relies on: no file of the run waits for a collection's finalizer."""
    import json  # noqa: PLC0415

    script = "import pathlib; pathlib.Path('out.xml').write_text('<testsuite tests=\"1\"><testcase name=\"t\"/></testsuite>')"
    profile = (
        "project: {name: p}\ntests:\n"
        f"  one: {{runner: command, command: [{json.dumps(sys.executable)}, -c, {json.dumps(script)}], junit: out.xml}}\n"
        '  two: {runner: command, command: ["true"]}\n'
    )
    project = qa_project({".qaagent.yaml": profile})
    argv = ["run-all", "--quiet", *([] if history else ["--no-history"])]
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-c", _OPEN_FILES, *argv],
        cwd=project, capture_output=True, text=True, env=qaagent_environment(), timeout=120, check=False,
    )  # fmt: skip
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"code": 0, "open": []}, done.stderr
    assert "ResourceWarning" not in done.stderr


def test_the_program_ends_with_frozen_collections_and_a_whole_bundle(qa_project: ProjectFactory) -> None:
    """`python -m qaagent` (the console script's `cli.run`): the bundle it leaves verifies."""
    profile = 'project: {name: p}\ntests:\n  one: {runner: command, command: ["true"]}\n'
    project = qa_project({".qaagent.yaml": profile})
    env = qaagent_environment()
    ran = subprocess.run(
        [sys.executable, "-m", "qaagent", "run-all", "--quiet"],
        cwd=project, capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    (bundle,) = (project / ".qaagent" / "evidence").iterdir()
    verified = subprocess.run(
        [sys.executable, "-m", "qaagent", "verify", str(bundle)],
        cwd=project, capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert (project / "qaagent-junit.xml").read_bytes() == (bundle / "junit.xml").read_bytes()


def test_before_exit_freezes_what_is_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc  # noqa: PLC0415

    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    monkeypatch.setattr(cli, "main", lambda: 3)
    assert cli.run() == 3
    assert frozen == [True, True]  # the start's objects (`resume_collection`), then all that is alive
    assert gc.isenabled()


_COLLECTIONS = """
import gc, json, sys
from qaagent import cli, errors, pipeline
seen = {"young": 0, "at_resume": None, "in_command": None}
gc.callbacks.append(lambda phase, info: phase == "start" and seen.__setitem__("young", seen["young"] + 1))
resume = errors.resume_collection
def resumed():
    if seen["at_resume"] is None:
        seen["at_resume"] = {"enabled": gc.isenabled(), "collections": seen["young"], "frozen": gc.get_freeze_count()}
    resume()
pipeline.resume_collection = resumed
cli.resume_collection = resumed
verify = cli.cmd_verify
def command(args, out):
    seen["in_command"] = gc.isenabled()
    return verify(args, out)
cli.cmd_verify = command
sys.argv = ["qaagent", *sys.argv[1:]]
code = cli.run()
seen.update(code=code, enabled=gc.isenabled(), frozen=gc.get_freeze_count() > seen["at_resume"]["frozen"])
print(json.dumps(seen))
"""


def test_the_program_collects_no_garbage_until_its_first_suite_starts(qa_project: ProjectFactory) -> None:
    """`errors.pause_collection`: off from `cli.run` until `pipeline.execute`, then frozen and back on."""
    import json  # noqa: PLC0415

    profile = 'project: {name: p}\ntests:\n  one: {runner: command, command: ["true"]}\n'
    project = qa_project({".qaagent.yaml": profile})
    done = subprocess.run(
        [sys.executable, "-c", _COLLECTIONS, "run-all", "--quiet"],
        cwd=project, capture_output=True, text=True, env=qaagent_environment(), timeout=120, check=False,
    )  # fmt: skip
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["code"] == 0, done.stderr
    assert seen["at_resume"]["enabled"] is False
    assert seen["at_resume"]["collections"] == 0  # none while the profile, plan and bundle were made
    assert seen["enabled"] is True
    assert seen["frozen"] is True  # what start-up built is in the permanent generation
    assert seen["young"] > 0  # the probe sees collections (it is not vacuous)
    assert seen["in_command"] is None  # run-all is not verify


def test_every_other_command_collects_from_its_start(tmp_path: Path) -> None:
    import json  # noqa: PLC0415

    done = subprocess.run(
        [sys.executable, "-c", _COLLECTIONS, "verify", str(tmp_path / "missing")],
        cwd=tmp_path, capture_output=True, text=True, env=qaagent_environment(), timeout=120, check=False,
    )  # fmt: skip
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["code"] == 2, done.stderr
    assert seen["in_command"] is True
    assert seen["enabled"] is True


def test_in_process_callers_keep_their_collector(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`cli.main` (what tests and embedders call) neither pauses nor freezes anything."""
    import gc  # noqa: PLC0415

    frozen = gc.get_freeze_count()
    assert cli.main(["verify", str(tmp_path / "missing")]) == 2
    capsys.readouterr()
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
    gc.disable()
    try:
        from qaagent import errors  # noqa: PLC0415

        errors.pause_collection()
        errors.resume_collection()
        assert not gc.isenabled()  # a collector someone else turned off stays off
    finally:
        gc.enable()


def test_a_formats_reader_is_imported_when_asked_for() -> None:
    probe = (
        "import sys\n"
        "from qaagent.formats import read\n"
        "before = 'qaagent.formats.trx' in sys.modules\n"
        "reader = read.reader('trx')\n"
        "print(before, 'qaagent.formats.trx' in sys.modules, reader.__module__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=qaagent_environment(),
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["False", "True", "qaagent.formats.trx"]
