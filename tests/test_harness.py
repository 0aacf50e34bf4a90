"""The test harness's own promise about children (tests/conftest.py, `CHILD_PYTEST_ENV`).

A child pytest loads no plugin by entry point, whichever way the test starts it: through
`qaagent_environment` or from this process's environment (qaagent run in this process); this
process keeps its own plugins, which the property tests use.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import qaagent_environment

PROBE = """\
def test_probe(pytestconfig):
    assert not pytestconfig.pluginmanager.has_plugin("hypothesispytest")
    assert not pytestconfig.pluginmanager.has_plugin("xdist")
"""


def test_this_process_keeps_its_plugins(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("hypothesispytest")


@pytest.mark.parametrize("route", ["qaagent_environment", "this process"])
def test_a_child_pytest_loads_no_plugin_of_the_venv(route: str, tmp_path: Path) -> None:
    (tmp_path / "test_probe.py").write_text(PROBE, encoding="utf-8")
    env = qaagent_environment() if route == "qaagent_environment" else dict(os.environ)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_probe.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
