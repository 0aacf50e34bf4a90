"""A whole run in GitHub Actions mode: no text from tests may issue a workflow command."""

from __future__ import annotations

import json
import re
import sys

import pytest
from conftest import ProjectFactory, free_port, health_app, run_qaagent

PY = sys.executable

HOSTILE_TESTS = """
import pytest

def test_fail():
    print("::add-mask::secret")
    print("  ::set-output name=x::y")
    assert False, "::warning title=x::pwned via message"

def test_legacy_form_v1name():
    assert False, "##[stop-commands]zzz"

def test_stop():
    print("::stop-commands::abc")
    print("::error::after a fake stop")
    assert False, "\\u2028::error::after a line separator"
"""

SKIPPING = """
import pytest

def test_skip():
    pytest.skip("::error file=README.md,line=1::pwned via skip reason")
"""

APP = health_app("""
    print("booting\\r::error title=APP::app-inject", flush=True)
    print("legacy ##[warning]APPV1", flush=True)
""")

#: the workflow commands qaagent itself writes
OURS = {"notice", "error", "warning", "group", "endgroup", "stop-commands", "add-mask"}


@pytest.mark.slow
def test_nothing_a_test_prints_becomes_a_workflow_command(qa_project: ProjectFactory) -> None:
    port = free_port()
    junit = (
        '<testsuite name="s" tests="2"><testcase classname="c" name="t">'
        '<failure message="::warning title=x::pwned via message">::error::details</failure>'
        '</testcase><testcase classname="c&#13;::error title=CLS::cls-inject" name="n&#13;::error title=PWN::name-inject">'
        "<failure message='m'>d</failure></testcase></testsuite>"
    )
    writer = f"import os\nopen(os.environ['QAAGENT_JUNIT_DIR'] + '/r.xml', 'w').write({junit!r})\n"
    root = qa_project(
        {
            "tests/test_h.py": HOSTILE_TESTS,
            "skips/test_s.py": SKIPPING,
            "w.py": writer,
            "app.py": APP,
            ".qaagent.yaml": (
                "tests:\n  unit: {path: tests}\n  skips: {runner: pytest, path: skips}\n"
                f"  cmd: {{runner: command, command: {json.dumps([PY, 'w.py'])}}}\n"
                f"app:\n  base_url: http://127.0.0.1:{port}\n  health_endpoint: /\n"
                f"  start_command: {json.dumps([PY, 'app.py', str(port)])}\n"
            ),
        }
    )
    out = root / "out"
    summary = root / "summary"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary)}
    result = run_qaagent("run-all", cwd=root, env=env)
    assert result.returncode == 1
    tokens: set[str] = set()
    stopped: str | None = None
    # Split the way the runner does: on every line break, CR included.
    for raw in re.split(r"\r\n|[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]", result.stdout + result.stderr):
        line = raw.lstrip()
        if stopped is not None:
            if line == f"::{stopped}::":
                stopped = None
            continue  # commands are off: the runner ignores these lines
        if not line.startswith("::"):
            # The runner's older form counts anywhere in a line (our annotations carry it as data).
            assert "##[" not in line, raw
            continue
        name = re.match(r"::([^ :]*)", line)
        assert name is not None
        command = name[1]
        if command == "stop-commands":
            stopped = line.split("::")[2]
            tokens.add(stopped)
            continue
        assert command in OURS, raw
        # Our annotations carry the hostile text as escaped data, never as their own properties.
        assert not line.startswith(("::error file=README.md", "::warning title=x", "::add-mask::secret")), raw
        # The planted commands never start a line (inside our own properties they are escaped).
        assert not line.startswith(("::error title=APP", "::error title=PWN", "::error title=CLS")), raw
        assert "after a fake stop" not in line.split("::")[1], raw
    assert stopped is None
    # Both were shown to the reader, defused.
    assert ": :error file=README.md,line=1::pwned via skip reason" in result.stdout
    assert ": :warning title=x::pwned via message" in result.stdout
    for marker in ("app-inject", "name-inject", "cls-inject"):
        assert marker in result.stdout  # shown, defused
