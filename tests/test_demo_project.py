"""The bundled demo project (examples/demo) works on its own, without qaagent.

`make demo` runs qaagent on it; these tests make sure that when that fails, the
fault is qaagent's: the app starts and stops, its unit and behave suites pass
(and fail when they should), the profile validates, and the e2e suite's
Playwright version is pinned. Running the Playwright suite itself needs Chromium
and belongs to the engine's browser tests.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from qaagent.profile_load import load_profile

if TYPE_CHECKING:
    from collections.abc import Iterator

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
STARTUP_SECONDS = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BASE_URL", "DEMO_PORT", "PYTEST_ADDOPTS")}
    env.update(extra)
    return env


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - 127.0.0.1 only
        status: int = response.status
        return status, response.read()


def _start(argv: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """Start the demo server and wait until /health answers."""
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            argv,
            cwd=DEMO,
            env=_env(DEMO_PORT=str(port)),
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
        )
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the demo server exited with {proc.returncode}: {log.read_text()}")
        try:
            if _get(f"http://127.0.0.1:{port}/health")[0] == 200:
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    proc.wait()
    pytest.fail(f"the demo server did not answer /health within {STARTUP_SECONDS} s: {log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One demo server for the module; `-S` keeps site-packages out, so it proves stdlib only."""
    port = _free_port()
    log = tmp_path_factory.mktemp("demo-server") / "server.log"
    proc = _start([sys.executable, "-S", "-m", "app.server"], port, log)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


def _junit_counts(path: Path) -> dict[str, int]:
    root = ET.parse(path).getroot()  # noqa: S314 - written by the tool we just ran
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    return {
        key: sum(int(suite.get(key, "0")) for suite in suites)
        for key in ("tests", "failures", "errors", "skipped")
    }


def test_health_and_json_api(base_url: str) -> None:
    assert _get(f"{base_url}/health") == (200, b'{"status": "ok"}')
    status, body = _get(f"{base_url}/api/items")
    assert status == 200
    assert {"apple", "banana", "cherry"} <= {item["name"] for item in json.loads(body)}

    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("POST", "/api/items", body=b'{"name": "test pear"}')
        created = conn.getresponse()
        assert created.status == 201
        assert json.loads(created.read())["name"] == "test pear"
        conn.close()
        conn.request("POST", "/api/items", body=b'{"name": 7}')
        refused = conn.getresponse()
        assert refused.status == 400
        assert "must be a string" in json.loads(refused.read())["error"]
    finally:
        conn.close()


def test_form_round_trip_redirects_and_lists_the_item(base_url: str) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request(
            "POST",
            "/items",
            body=b"name=form+%3Cfig%3E",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status == 303
    assert response.getheader("Location") == "/"
    status, page = _get(f"{base_url}/")
    assert status == 200
    assert b'<li data-testid="item">form &lt;fig&gt;</li>' in page
    assert b'<input id="name" name="name"' in page


def test_unknown_path_is_404_json(base_url: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        _get(f"{base_url}/nope")
    assert info.value.code == 404
    assert json.loads(info.value.read())["error"] == "no such page: /nope"


def test_script_form_starts_and_sigterm_stops_cleanly(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    proc = _start([sys.executable, "app/server.py"], _free_port(), log)
    assert _stop(proc) == 0
    text = log.read_text()
    assert "GET /health" in text
    assert "demo server: stopped" in text
    assert "Traceback" not in text


def test_bad_port_is_one_line_without_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.server"],
        cwd=DEMO,
        env=_env(DEMO_PORT="eighty"),
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr.strip() == "demo server: DEMO_PORT must be a port number (0-65535), got 'eighty'"


@pytest.mark.slow
def test_unit_suite_passes(tmp_path: Path) -> None:
    junit = tmp_path / "unit.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", "tests/unit"],
        cwd=DEMO,
        env=_env(PYTHONDONTWRITEBYTECODE="1"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    counts = _junit_counts(junit)
    assert counts["tests"] >= 10
    assert counts["failures"] == counts["errors"] == counts["skipped"] == 0


def test_behave_suite_passes_against_the_app(base_url: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "behave",
            "--junit",
            f"--junit-directory={tmp_path}",
            "-f",
            "plain",
            "features",
        ],
        cwd=DEMO,
        env=_env(BASE_URL=base_url, PYTHONDONTWRITEBYTECODE="1"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    reports = list(tmp_path.glob("*.xml"))
    assert len(reports) == 1
    assert _junit_counts(reports[0]) == {"tests": 3, "failures": 0, "errors": 0, "skipped": 0}


def test_behave_suite_fails_when_the_app_is_down() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "behave", "-f", "plain", "--no-capture", "features"],
        cwd=DEMO,
        env=_env(BASE_URL=f"http://127.0.0.1:{_free_port()}", PYTHONDONTWRITEBYTECODE="1"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "cannot reach the demo app" in result.stdout + result.stderr


def test_profile_validates_and_matches_the_app() -> None:
    loaded = load_profile(DEMO / ".qaagent.yaml")
    profile = loaded.profile
    assert profile.ordered_suites == ["unit", "behave", "e2e"]
    assert [profile.runner_of(name) for name in profile.ordered_suites] == ["pytest", "behave", "playwright"]
    assert profile.run.parallel is True
    assert profile.run.retry_count == 1
    assert profile.run.timeout == 300
    for name in profile.ordered_suites:
        path = profile.tests[name].test_path
        assert path is not None
        assert (DEMO / path).is_dir(), path
    assert profile.app is not None
    assert profile.app.base_url == "http://127.0.0.1:8765"
    assert profile.app.start_command == ("python3", "-m", "app.server")
    assert profile.app.health_endpoint == "/health"
    assert "DEFAULT_PORT = 8765" in (DEMO / "app" / "server.py").read_text()


def test_e2e_project_pins_playwright_in_its_lock_file() -> None:
    package = json.loads((DEMO / "e2e" / "package.json").read_text())
    pinned = package["devDependencies"]["@playwright/test"]
    assert pinned[0].isdigit(), f"@playwright/test must be an exact version, not {pinned!r}"
    lock = json.loads((DEMO / "e2e" / "package-lock.json").read_text())
    assert lock["lockfileVersion"] >= 2
    assert lock["packages"]["node_modules/@playwright/test"]["version"] == pinned
    assert lock["packages"]["node_modules/playwright"]["version"] == pinned
    assert f"**{pinned}**" in (DEMO / "e2e" / "README.md").read_text()
    config = (DEMO / "e2e" / "playwright.config.js").read_text() + (DEMO / "e2e" / "browser.js").read_text()
    for needle in ("process.env.BASE_URL", "QAAGENT_CHROMIUM", "/usr/bin/chromium", "only-on-failure"):
        assert needle in config, needle
