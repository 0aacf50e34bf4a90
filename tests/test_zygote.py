"""The tests' warm start (tests/zygote.py): a forked child starts as a cold process does.

Each test runs tests/zygote_probe.py both ways, in the same environment, and compares what
the program sees when its code starts (argv, path, environment, descriptors, signals, streams,
collector, qaagent's module state) and how it ends (exit status, atexit, threads).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zygote
from conftest import processes_with, qaagent_environment

TESTS = Path(__file__).resolve().parent
PROBE = ("-m", "zygote_probe")

#: what differs by design between any two processes (and is not the start's): their own ids
DIFFERENT = ("group",)


def cold(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *PROBE, *args],
        cwd=TESTS,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def warm(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    before = zygote.WARM[0]
    done = zygote.run(PROBE, args, cwd=TESTS, env=env, timeout=60, stdin_devnull=True)
    assert done is not None, (zygote.FAILED, zygote.COLD_BY_RULE)
    assert zygote.WARM[0] == before + 1
    return done


def state(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    first = done.stdout.splitlines()[0]
    found: dict[str, object] = json.loads(first)
    return found


@pytest.fixture(autouse=True)
def _the_launcher_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are of the launcher: they fork also when `QAAGENT_TEST_COLD=1` is set."""
    monkeypatch.setattr(zygote, "ALL_COLD", False)


@pytest.fixture
def env() -> dict[str, str]:
    """The qaagent helpers' environment, with a variable of this test and a time zone of its own."""
    return qaagent_environment({"ZYGOTE_PROBE": "only-this-test", "TZ": "Asia/Kolkata"})


def test_a_warm_child_starts_in_the_state_a_cold_one_starts_in(env: dict[str, str]) -> None:
    cold_state, warm_state = state(cold([], env)), state(warm([], env))
    for key in DIFFERENT:
        cold_state.pop(key)
        warm_state.pop(key)
    assert warm_state == cold_state
    assert warm_state["environ"]["ZYGOTE_PROBE"] == "only-this-test"  # type: ignore[index]
    assert warm_state["time"] == [["IST", "IST"], -19800]


def test_a_warm_child_is_in_the_test_process_group_as_a_cold_one_is(env: dict[str, str]) -> None:
    assert state(warm([], env))["group"] == state(cold([], env))["group"] == [os.getpgrp(), os.getsid(0)]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ([], 0),
        (["exit", "3"], 3),
        (["raise"], 1),
        (["interrupt"], -signal.SIGINT),
        (["kill"], -signal.SIGKILL),
    ],
)
def test_a_warm_child_ends_with_the_status_and_output_of_a_cold_one(
    env: dict[str, str], args: list[str], code: int
) -> None:
    cold_done, warm_done = cold(args, env), warm(args, env)
    assert warm_done.returncode == cold_done.returncode == code
    assert warm_done.stderr.splitlines()[-1:] == cold_done.stderr.splitlines()[-1:]
    assert ("Traceback" in warm_done.stderr) == ("Traceback" in cold_done.stderr)


def test_a_warm_child_runs_its_atexit_handlers_and_waits_for_its_threads(
    env: dict[str, str], tmp_path: Path
) -> None:
    for how, run in (("cold", cold), ("warm", warm)):
        target = tmp_path / how
        assert run(["after", str(target)], env).returncode == 0
        assert target.read_text(encoding="utf-8").split() == ["thread", "atexit"], how


def test_warm_children_do_not_share_random_state(env: dict[str, str]) -> None:
    """The zygote's generators are reseeded in each child (`os.fork`'s at-fork hooks), as two
    cold processes draw differently."""
    drawn = {warm(["random"], env).stdout.splitlines()[1] for _ in range(3)}
    assert len(drawn) == 3


def test_only_a_module_or_a_script_is_forked(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="-m MODULE or a script"):
        zygote.launch(("-c", "pass"), [], cwd=TESTS, env=env)


def test_the_zygote_is_not_a_parent_for_a_test_to_see(env: dict[str, str]) -> None:
    """A warm child's descriptors are its own: none of the zygote's sockets or pipes."""
    descriptors = state(warm([], env))["descriptors"]
    assert descriptors == {"0": "/dev/null", "1": "pipe", "2": "pipe"}


@contextlib.contextmanager
def failures_restored() -> Iterator[list[str]]:
    """The failures a test provokes on purpose are not the session's (they would fail CI)."""
    kept = list(zygote.FAILED)
    try:
        yield zygote.FAILED
    finally:
        zygote.FAILED[:] = kept


def test_a_dead_zygote_is_replaced_and_counted(env: dict[str, str]) -> None:
    warm([], env)
    start = zygote._start_environment(env)
    old = zygote._zygote_for(start)
    assert old is not None
    old.proc.kill()
    old.proc.wait()
    with failures_restored() as failed:
        warm([], env)
        assert any("a zygote ended" in why for why in failed)
    new = zygote._zygote_for(start)
    assert new is not None
    assert new.proc.pid != old.proc.pid


def test_an_unreachable_zygote_means_a_cold_start_counted(env: dict[str, str]) -> None:
    warm([], env)
    found = zygote._zygote_for(zygote._start_environment(env))
    assert found is not None
    path, found.path = found.path, str(Path(found.folder) / "no-such-socket")
    try:
        with failures_restored() as failed:
            assert zygote.launch(PROBE, [], cwd=TESTS, env=env) is None
            assert len(failed) == 1
            assert "did not start" in failed[0]
    finally:
        found.path = path


def test_a_closed_zygote_leaves_no_process_and_no_socket(env: dict[str, str]) -> None:
    own = zygote.Zygote(zygote._start_environment(env))
    marker = own.path
    assert processes_with(marker)
    own.close()
    deadline = time.monotonic() + 5
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes_with(marker)
    assert not Path(own.folder).exists()


def test_the_switch_and_the_marker_start_cold(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zygote, "ALL_COLD", True)
    assert zygote.launch(PROBE, [], cwd=TESTS, env=env) is None
    monkeypatch.setattr(zygote, "ALL_COLD", False)
    monkeypatch.setattr(zygote, "cold_test", [True])
    assert zygote.launch(PROBE, [], cwd=TESTS, env=env) is None


@pytest.mark.cold_start
def test_a_cold_start_test_starts_cold(env: dict[str, str]) -> None:
    assert zygote.cold_test == [True]
    assert zygote.launch(PROBE, [], cwd=TESTS, env=env) is None
    assert zygote.cold_reason(TESTS) == "a cold_start test"


def test_a_zygote_ends_with_its_test_process_even_when_that_is_killed(env: dict[str, str]) -> None:
    """A test process killed mid-session (its pipe closes with it) leaves no zygote behind."""
    start = zygote._start_environment(env)
    script = (
        "import json, os, sys, zygote\n"
        "own = zygote.Zygote(json.loads(sys.argv[1]))\n"
        "print(own.path, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(start)],
        cwd=TESTS,
        env={**env, "PYTHONPATH": f"{TESTS}{os.pathsep}{env['PYTHONPATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    marker = done.stdout.strip()
    assert marker
    deadline = time.monotonic() + 5
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes_with(marker)
    assert not Path(marker).exists()
