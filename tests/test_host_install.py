"""The host variant's own steps, run for real: the Python check, the install, the reuse, a run.

The `run:` scripts of host/action.yml are executed with bash as the runner executes a
composite action's steps, in a copy of the action's files (what the runner downloads to
`_actions/<owner>/<repo>/<ref>/`), with a temporary tool cache. The install builds a real
virtual environment from the hashed lock and a real wheel (PyPI is reached through pip);
the qaagent step then runs entrypoint.py with that environment on a small project.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from helpers import parse_outputs

ACTION_FILES = ("pyproject.toml", "README.md", "LICENSE", "requirements.txt", "entrypoint.py", "action.yml")


@pytest.fixture(scope="module")
def steps() -> dict[str, dict[str, Any]]:
    action = yaml.safe_load((ROOT / "host" / "action.yml").read_text(encoding="utf-8"))
    return {step["id"]: step for step in action["runs"]["steps"] if "run" in step}


def _checkout(dest: Path) -> Path:
    """The action's files as the runner downloads them (no .venv, no build/, no egg-info)."""
    dest.mkdir(parents=True)
    for name in ACTION_FILES:
        shutil.copy2(ROOT / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "qaagent", dest / "qaagent", ignore=ignore)
    shutil.copytree(ROOT / "host", dest / "host", ignore=ignore)
    return dest


def _listing(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


class Runner:
    """Runs host/action.yml's steps the way the Actions runner runs a composite's `run:`."""

    def __init__(self, tmp_path: Path, checkout: Path) -> None:
        self.checkout = checkout
        self.temp = tmp_path / "runner-temp"
        self.temp.mkdir(exist_ok=True)
        self.tool_cache = tmp_path / "tool-cache"
        self.workspace = tmp_path / "workspace"
        self.workspace.mkdir(exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "LANG": "C.UTF-8",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_ACTION_PATH": str(checkout / "host"),
            "GITHUB_WORKSPACE": str(self.workspace),
            "RUNNER_TEMP": str(self.temp),
            "RUNNER_TOOL_CACHE": str(self.tool_cache),
            # the interpreter actions/setup-python would have put first on PATH
            "QAAGENT_HOST_PYTHON": sys.executable,
        }
        # pip's own settings on this machine (an index, certificates) stay in force
        self.env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_")})

    def run(self, step: dict[str, Any], env: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        output = self.temp / "github_output"
        output.write_text("", encoding="utf-8")
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=self.workspace, env={**self.env, **(env or {}), "GITHUB_OUTPUT": str(output)},
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        return (
            result.returncode,
            parse_outputs(output.read_text(encoding="utf-8")),
            result.stdout + result.stderr,
        )


PROFILE = """\
project:
  name: host-smoke
tests:
  smoke:
    runner: command
    command: ["python3", "-c", "print('the smoke suite ran')"]
"""


@pytest.mark.slow
def test_install_builds_a_cached_environment_reuses_it_and_runs_the_action(
    tmp_path: Path, steps: dict[str, dict[str, Any]]
) -> None:
    checkout = _checkout(tmp_path / "_actions" / "org" / "qaagent-action" / "v1")
    before = _listing(checkout)
    runner = Runner(tmp_path, checkout)

    status, where, log = runner.run(steps["where"])
    assert status == 0, log
    assert re.fullmatch(r"qaagent-host-\d+\.\d+\.\d+-py3\.\d+-\w+-\w+-[0-9a-f]{20}", where["key"]), where
    assert Path(where["dir"]).is_relative_to(runner.tool_cache)

    status, installed, log = runner.run(steps["install"])
    assert status == 0, log
    assert "installing qaagent" in log
    python = Path(installed["python"])
    assert python.is_relative_to(Path(where["dir"]))
    # qaagent itself comes from the wheel in the environment, not from the action's sources
    probe = subprocess.run(
        [str(python), "-P", "-c", "import qaagent, pydantic; print(qaagent.__file__); print(pydantic.VERSION)"],
        cwd=checkout, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    module, pydantic_version = probe.stdout.split()
    assert Path(module).is_relative_to(Path(where["dir"]))
    assert f"pydantic=={pydantic_version} " in (ROOT / "requirements.txt").read_text(encoding="utf-8")
    # nothing was written into the action's checkout (no build/, no *.egg-info)
    assert _listing(checkout) == before

    # The next run (same key, the folder restored by actions/cache or still there) installs nothing.
    interpreter = python.resolve().stat().st_mtime_ns, (Path(where["dir"]) / ".qaagent-complete").read_text()
    status, again, log = runner.run(steps["install"])
    assert status == 0, log
    assert "reusing qaagent" in log
    assert "installing" not in log
    assert again == installed
    assert (
        python.resolve().stat().st_mtime_ns,
        (Path(where["dir"]) / ".qaagent-complete").read_text(),
    ) == interpreter

    # The qaagent step, as host/action.yml runs it, with every input at its default.
    (runner.workspace / ".qaagent.yaml").write_text(PROFILE, encoding="utf-8")
    env = {}
    for name, value in steps["qaagent"]["env"].items():
        if value == "${{ steps.install.outputs.python }}":
            env[name] = installed["python"]
        else:
            input_name = re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", value)[1]  # type: ignore[index]
            default = yaml.safe_load((ROOT / "host" / "action.yml").read_text(encoding="utf-8"))["inputs"][
                input_name
            ]["default"]
            env[name] = "" if "${{" in default else default
    status, outputs, log = runner.run(steps["qaagent"], env={**env, "GITHUB_STEP_SUMMARY": os.devnull})
    assert status == 0, log
    assert outputs["conclusion"] == "success", outputs
    assert outputs["total"] == "1"
    assert "the smoke suite ran" in log
    assert _listing(checkout) == before


@pytest.mark.slow
def test_the_key_follows_what_is_installed(tmp_path: Path, steps: dict[str, dict[str, Any]]) -> None:
    checkout = _checkout(tmp_path / "action")
    runner = Runner(tmp_path, checkout)
    keys = []
    for change in (None, "qaagent/report/assets/report.css", "requirements.txt", None):
        if change is not None:
            with (checkout / change).open("a", encoding="utf-8") as handle:
                handle.write("\n")
        status, where, log = runner.run(steps["where"])
        assert status == 0, log
        keys.append(where["key"])
    assert len(set(keys[:3])) == 3, keys  # a changed file of qaagent or of the lock: a new key
    assert keys[3] == keys[2]  # nothing changed: the same key


def _fake_python(folder: Path, version: str) -> Path:
    """A `python3` that reports VERSION the way the check asks for it (exit 1: too old)."""
    folder.mkdir()
    fake = folder / "python3"
    fake.write_text(f"#!/bin/sh\necho {version}\nexit 1\n", encoding="utf-8")
    fake.chmod(0o755)
    return fake


def test_an_old_python_is_one_clear_error(tmp_path: Path, steps: dict[str, dict[str, Any]]) -> None:
    fake = _fake_python(tmp_path / "old-bin", "3.10.12")
    runner = Runner(tmp_path, _checkout(tmp_path / "action"))
    runner.env["PATH"] = f"{fake.parent}:{runner.env['PATH']}"
    del runner.env["QAAGENT_HOST_PYTHON"]
    for step in ("where", "install"):
        status, outputs, log = runner.run(steps[step])
        assert status == 2, log
        assert outputs == {}
        errors = [line for line in log.splitlines() if line.startswith("::error")]
        expected = (
            f"::error title=qaagent (host)::qaagent (host) needs Python 3.11 or newer; {fake} is 3.10.12;"
            " add actions/setup-python (python-version: '3.12') before this step"
        )
        assert errors == [expected], log
    assert not runner.tool_cache.exists()


def test_a_missing_python_is_one_clear_error(tmp_path: Path, steps: dict[str, dict[str, Any]]) -> None:
    runner = Runner(tmp_path, _checkout(tmp_path / "action"))
    runner.env["QAAGENT_HOST_PYTHON"] = "python3-not-installed-here"
    status, outputs, log = runner.run(steps["where"])
    assert status == 2
    assert outputs == {}
    assert log.startswith("::error title=qaagent (host)::python3-not-installed-here not found on PATH"), log
    assert log.count("\n") == 1


def test_a_python_path_cannot_issue_workflow_commands(
    tmp_path: Path, steps: dict[str, dict[str, Any]]
) -> None:
    fake = _fake_python(tmp_path / "bin%0A::warning::x", "3.9.0")
    runner = Runner(tmp_path, _checkout(tmp_path / "action"))
    runner.env["QAAGENT_HOST_PYTHON"] = str(fake)
    status, _, log = runner.run(steps["where"])
    assert status == 2
    assert log.count("::") == 2, log  # only the error command's own two
    assert "%" not in log
