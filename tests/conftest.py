"""Shared fixtures: a project built from a dict of files, qaagent run as a real subprocess,
a guard against tests leaking environment variables, and a process-leak check."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import zygote
from github_server import FakeClock, GitHubServer
from helpers import CHILD_PYTEST_ENV

from qaagent.github.context import GitHubContext

#: the history tests' fixtures (a throw-away PostgreSQL cluster, a store of each backend)
pytest_plugins = ["history_support"]

#: pytest keeps each test module's assertion rewrite in __pycache__ only when bytecode may be
#: written: where PYTHONDONTWRITEBYTECODE is set, every test process would rewrite all the test
#: modules at each run (about 5 s of CPU per process, measured). This process only (the variable
#: stays for the children); conftest.py is imported before the test modules.
sys.dont_write_bytecode = False

ROOT = Path(__file__).resolve().parent.parent
#: the schemas the merged report is validated against (the repository's own copies)
SCHEMAS = ROOT / "schemas"

ProjectFactory = Callable[[Mapping[str, str]], Path]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test on the real PostgreSQL server or in Chromium is `slow` (`make quick` leaves it out).

    Starting the throw-away cluster or the browser takes seconds, so such a test takes a second
    or more however little it checks; `make test` runs them all.
    """
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        on_postgresql = "postgresql" in params.values() or "pg_cluster" in getattr(item, "fixturenames", ())
        if on_postgresql or item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _children_load_no_plugins() -> Iterator[None]:
    """`CHILD_PYTEST_ENV` for every child of every test, also those qaagent starts in this process.

    Set when the first test starts: this process has loaded its own plugins by then (the
    project's property tests keep hypothesis's); only the children read the variable.
    """
    with pytest.MonkeyPatch.context() as patch:
        for key, value in CHILD_PYTEST_ENV.items():
            patch.setenv(key, value)
        yield


@pytest.fixture(autouse=True)
def _cold_start(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test marked `cold_start` starts its qaagent processes cold (tests/zygote.py)."""
    zygote.cold_test[0] = request.node.get_closest_marker("cold_start") is not None
    yield
    zygote.cold_test[0] = False


#: the zygotes' counts of this session, summed over the test processes (xdist workers)
_ZYGOTE_TOTALS: dict[str, Any] = {"warm": 0, "cold": {}, "failed": []}


def _add_zygote_counts(counts: Mapping[str, Any]) -> None:
    _ZYGOTE_TOTALS["warm"] += counts["warm"]
    for reason, count in counts["cold"].items():
        _ZYGOTE_TOTALS["cold"][reason] = _ZYGOTE_TOTALS["cold"].get(reason, 0) + count
    _ZYGOTE_TOTALS["failed"] += counts["failed"]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """An xdist worker ended: add its zygote's counts (sent in `pytest_sessionfinish`)."""
    counts = getattr(node, "workeroutput", {}).get("zygote")
    if counts is not None:
        _add_zygote_counts(counts)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """End this process's zygote; a worker sends its counts; the session fails on CI if a zygote failed.

    A zygote that could not be used means cold starts (correct, slower): never silent, and with
    `CI=true` the run fails, so a broken launcher is not hidden behind a green, slow suite.
    """
    zygote.shutdown()
    counts = {"warm": zygote.WARM[0], "cold": zygote.COLD_BY_RULE, "failed": zygote.FAILED}
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["zygote"] = counts
        return
    _add_zygote_counts(counts)
    if _ZYGOTE_TOTALS["failed"] and os.environ.get("CI") == "true" and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The qaagent processes of the session: forked warm, started cold by rule, cold because a zygote failed."""
    if getattr(terminalreporter.config, "workeroutput", None) is not None:
        return
    failed: list[str] = _ZYGOTE_TOTALS["failed"]
    if not (_ZYGOTE_TOTALS["warm"] or _ZYGOTE_TOTALS["cold"] or failed):
        return
    terminalreporter.write_line(
        f"qaagent processes: {_ZYGOTE_TOTALS['warm']} warm (zygote), {sum(_ZYGOTE_TOTALS['cold'].values())} "
        f"cold by rule, {len(failed)} cold because a zygote failed"
    )
    for reason, count in sorted(_ZYGOTE_TOTALS["cold"].items()):
        terminalreporter.write_line(f"  cold: {count} x {reason}")
    for why in sorted(set(failed)):
        terminalreporter.write_line(f"  zygote failure: {why}", red=True)


@pytest.fixture(autouse=True)
def _no_env_leaks() -> Iterator[None]:
    """Fail any test that changes os.environ and does not restore it (tox's guard)."""
    before = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    yield
    after = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    if before != after:
        changed = sorted(set(before.items()) ^ set(after.items()))
        for key in set(after) - set(before):
            del os.environ[key]
        os.environ.update(before)
        pytest.fail(f"test leaked environment changes: {[k for k, _ in changed]}")


@pytest.fixture
def qa_project(tmp_path: Path) -> ProjectFactory:
    """Build a project from {relative path: text}; texts are dedented."""

    def build(files: Mapping[str, str]) -> Path:
        root = tmp_path / "project"
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        root.mkdir(exist_ok=True)
        return root

    return build


def load_file_module(path: Path, name: str) -> ModuleType:
    """Import a Python file that is not in a package (entrypoint.py, a script) as module NAME."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def run_qaagent(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m qaagent ARGS` in `cwd`, as a user would run it (GitHub Actions variables removed).

    Forked from the test process's zygote (tests/zygote.py) unless it must start cold.
    """
    full_env = qaagent_environment(env)
    warm = zygote.run(("-m", "qaagent"), args, cwd=cwd, env=full_env, timeout=timeout)
    if warm is not None:
        return warm
    return subprocess.run(
        [sys.executable, "-m", "qaagent", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def qaagent_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without GitHub Actions' and qaagent's own variables, with
    `CHILD_PYTEST_ENV`, plus `env`."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "QAAGENT_"))}
    full_env["PYTHONPATH"] = str(ROOT)
    if TEST_CHROMIUM:
        full_env["QAAGENT_CHROMIUM"] = TEST_CHROMIUM  # the browser every Playwright run of a test uses
    full_env.update(CHILD_PYTEST_ENV)  # also where it is built before the first test (a module's constant)
    full_env.update(env or {})
    return full_env


def start_qaagent(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> zygote.Process:
    """`python -m qaagent ARGS` started in the background, stdout and stderr in one pipe
    (forked from the zygote unless it must start cold)."""
    full_env = qaagent_environment(env)
    warm = zygote.launch(("-m", "qaagent"), args, cwd=cwd, env=full_env, stderr_to_stdout=True)
    if warm is not None:
        return warm
    return subprocess.Popen(
        [sys.executable, "-m", "qaagent", *args],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def health_app(prelude: str = "") -> str:
    """The source of an app for `app.start_command`: runs `prelude`, then answers every GET
    with 200 on 127.0.0.1 at the port given as its last argument."""
    return (
        "import http.server, sys\n"
        + textwrap.dedent(prelude).strip()
        + """

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", int(sys.argv[-1])), Handler).serve_forever()
"""
    )


def unique_marker() -> str:
    """A string to put in children's command lines so leftovers can be found."""
    return f"qaagent-marker-{uuid.uuid4().hex}"


def processes_with(marker: str) -> list[int]:
    """PIDs whose command line contains `marker` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if marker.encode() in cmdline and "\nState:\tZ" not in status:
            found.append(int(entry.name))
    return found


def assert_no_process_left(marker: str, wait: float = 3.0) -> None:
    """Fail if a process carrying `marker` is still alive after `wait` seconds."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not processes_with(marker):
            return
        time.sleep(0.1)
    left = processes_with(marker)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
    assert not left, f"processes left running: {left}"


DEMO_MODULES = ROOT / "examples" / "demo" / "e2e" / "node_modules"

DEBIAN_CHROMIUM = "/usr/bin/chromium"
#: Debian's build of the browser Playwright itself runs headless by default: the same Chromium
#: without the full browser's UI layers (a run of the Playwright fixture: about 10 s of CPU
#: against 14 s in the full browser, measured; docs/benchmarks.md).
HEADLESS_SHELL = "/usr/bin/chromium-headless-shell"


def chosen_chromium() -> str | None:
    """The browser of the tests' Playwright runs: $QAAGENT_CHROMIUM, else the headless shell.

    On a laptop without the shell, Debian's full chromium (or, without either, none: the
    projects' configs fall back to Playwright's own). With `CI=true` and no $QAAGENT_CHROMIUM
    always the shell, so a CI machine without it fails its browser tests instead of quietly
    testing another browser. (`test_engine`'s demo run is the exception: it runs as `make demo`
    does, in the browser the demo finds itself.)
    """
    if os.environ.get("QAAGENT_CHROMIUM"):
        return os.environ["QAAGENT_CHROMIUM"]
    if Path(HEADLESS_SHELL).is_file() or os.environ.get("CI") == "true":
        return HEADLESS_SHELL
    return DEBIAN_CHROMIUM if Path(DEBIAN_CHROMIUM).is_file() else None


#: passed as QAAGENT_CHROMIUM to every child a test starts (qaagent_environment, the browser scripts)
TEST_CHROMIUM = chosen_chromium()


def browser_problems(*, tool: str = "npx", chromium: bool = True, browser: str | None = None) -> list[str]:
    """What is missing for a real-browser test: Node tooling, the demo's Playwright, Chromium
    (`browser`, default the tests' own)."""
    problems: list[str] = []
    if shutil.which(tool) is None:
        problems.append(f"{tool} (Node.js) is not on PATH")
    if not (DEMO_MODULES / "@playwright" / "test" / "package.json").is_file():
        problems.append("Playwright is not installed: run `npm ci` in examples/demo/e2e")
    browser = browser or TEST_CHROMIUM or DEBIAN_CHROMIUM
    if chromium and not Path(browser).is_file():
        package = "chromium-headless-shell" if browser == HEADLESS_SHELL else "chromium"
        problems.append(f"no Chromium at {browser}: apt-get install {package} (or set QAAGENT_CHROMIUM)")
    return problems


def skip_unless_ready(problems: list[str]) -> None:
    """Skip with the reason on a laptop; fail when CI=true (a green CI that skipped proves nothing)."""
    if not problems:
        return
    reason = "; ".join(problems)
    if os.environ.get("CI") == "true":
        pytest.fail(f"test cannot run on CI: {reason}")
    pytest.skip(reason)


# -- the fake GitHub API (tests/github_server.py) ------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    """A clock the API client sleeps on without waiting."""
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[GitHubServer]:
    """The fake GitHub API on 127.0.0.1, on the same fake clock as the test's client."""
    with GitHubServer(clock=clock) as srv:
        yield srv


def pr_context(server: GitHubServer, tmp_path: Path) -> GitHubContext:
    """The context of a pull-request run (PR 7 of o/r at head123) talking to `server`."""
    return GitHubContext(
        repository="o/r",
        sha="merge",
        head_sha="head123",
        pr_number=7,
        api_url=server.url,
        run_id="99",
        step_summary=str(tmp_path / "summary.md"),
    )
