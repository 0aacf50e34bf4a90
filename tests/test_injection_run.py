"""A whole run in GitHub Actions mode: no text from tests may issue a workflow command."""

from __future__ import annotations

import json
import re
import sys

from conftest import ProjectFactory, run_qaagent

PY = sys.executable

HOSTILE_TESTS = """
import pytest

def test_fail():
    print("::add-mask::secret")
    print("  ::set-output name=x::y")
    assert False, "::warning title=x::pwned via message"

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

#: the workflow commands qaagent itself writes
OURS = {"notice", "error", "warning", "group", "endgroup", "stop-commands", "add-mask"}


def test_nothing_a_test_prints_becomes_a_workflow_command(qa_project: ProjectFactory) -> None:
    junit = (
        '<testsuite name="s" tests="1"><testcase classname="c" name="t">'
        '<failure message="::warning title=x::pwned via message">::error::details</failure>'
        "</testcase></testsuite>"
    )
    writer = f"import os\nopen(os.environ['QAAGENT_JUNIT_DIR'] + '/r.xml', 'w').write({junit!r})\n"
    root = qa_project(
        {
            "tests/test_h.py": HOSTILE_TESTS,
            "skips/test_s.py": SKIPPING,
            "w.py": writer,
            ".qaagent.yaml": (
                "tests:\n  unit: {path: tests}\n  skips: {runner: pytest, path: skips}\n"
                f"  cmd: {{runner: command, command: {json.dumps([PY, 'w.py'])}}}\n"
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
    for raw in (result.stdout + result.stderr).splitlines():
        line = raw.lstrip()
        if stopped is not None:
            if line == f"::{stopped}::":
                stopped = None
            continue  # commands are off: the runner ignores these lines
        if not line.startswith("::"):
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
        assert "after a fake stop" not in line.split("::")[1], raw
    assert stopped is None
    # Both were shown to the reader, defused.
    assert ": :error file=README.md,line=1::pwned via skip reason" in result.stdout
    assert ": :warning title=x::pwned via message" in result.stdout
