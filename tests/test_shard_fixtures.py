"""A fixture project for the sharding and merge tests: several pytest and behave files.

Not a test module of its own (it has no tests); `test_shard.py` and
`test_merge.py` import it. The project has test files in subfolders (so
order across folders matters), a failing test, a test that is flaky (fails
on the first attempt of each run, passes on the retry), a failing behave
scenario and an indivisible `command` suite.
"""

from __future__ import annotations

import re
import subprocess
import textwrap
from pathlib import Path

from conftest import run_qaagent

FLAKY = """
import os, pathlib

def test_flaky():
    marker = pathlib.Path(__file__).parent / (".flaky-" + os.environ["QAAGENT_RUN_ID"])
    if not marker.exists():
        marker.write_text("x")
        assert False, "first attempt fails"
"""

STEPS = """
from behave import given, then

@given("a number {n:d}")
def given_number(context, n):
    context.n = n

@then("it is even")
def then_even(context):
    assert context.n % 2 == 0, f"{context.n} is odd"
"""

PROFILE = """
project: {name: shardy}
run: {parallel: true, max_workers: 2, timeout: 60, retry_count: 1}
tests:
  unit: {runner: pytest, path: tests}
  behave: {runner: behave, path: features}
  lint: {runner: command, command: ["python3", "-c", "print('lint ok')"]}
"""


def _feature(name: str, numbers: list[int]) -> str:
    lines = [f"Feature: {name} numbers"]
    for n in numbers:
        lines += [f"  Scenario: {name} {n} is even", f"    Given a number {n}", "    Then it is even"]
    return "\n".join(lines) + "\n"


def build_project(root: Path) -> Path:
    """Write the project into `root` (created) and return it."""
    files: dict[str, str] = {".qaagent.yaml": PROFILE, "features/steps/steps.py": STEPS}
    for i in range(1, 6):
        files[f"tests/test_mod{i}.py"] = f"def test_one():\n    pass\n\ndef test_two():\n    assert {i} > 0\n"
    files["tests/api/test_api.py"] = "def test_get():\n    pass\n\ndef test_broken():\n    assert 1 == 2\n"
    files["tests/api/z_test.py"] = "def test_z():\n    pass\n"
    files["tests/test_zflaky.py"] = FLAKY
    files["tests/helpers.py"] = "VALUE = 1\n"  # not a test module: never a unit
    files["features/alpha.feature"] = _feature("alpha", [2, 4])
    files["features/beta.feature"] = _feature("beta", [6, 7])
    files["features/nested/gamma.feature"] = _feature("gamma", [8])
    files["features/delta.feature"] = _feature("delta", [10, 12, 14])
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def git_commit(root: Path, message: str) -> None:
    """Commit everything in `root` (initialising the repository first if needed)."""
    if not (root / ".git").exists():
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        (root / ".gitignore").write_text("ev/\n.qaagent/\n*.xml\n.flaky-*\n", encoding="utf-8")
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(root),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            message,
        ],
        check=True,
    )


def run_shard(root: Path, evidence: str, shard: str | None = None, *extra: str) -> Path:
    """Run the project (one shard of it) into `root/evidence`; return the new bundle."""
    before = set((root / evidence).glob("*")) if (root / evidence).exists() else set()
    args = ["run-all", "--quiet", "--evidence-dir", evidence, "--junit", f"{evidence}.xml", *extra]
    if shard is not None:
        args += ["--shard", shard]
    result = run_qaagent(*args, cwd=root)
    assert result.returncode in (0, 1), result.stderr + result.stdout
    (bundle,) = set((root / evidence).glob("*")) - before
    return bundle


_VOLATILE = re.compile(r' (time|timestamp|hostname)="[^"]*"')
#: durations inside text, e.g. behave's "Took 0m0.001s" and "passed in 0.000s" in system-out
_TEXT_SECONDS = re.compile(r"\d+\.\d+s\b")


def normalized_junit(path: Path) -> str:
    """The merged JUnit without time, timestamp and hostname values, and with durations in text as Ns.

    Everything else must be equal, the suites' `command` properties included
    (a merged suite's command is the one an unsharded run runs).
    """
    return _TEXT_SECONDS.sub("Ns", _VOLATILE.sub("", path.read_text(encoding="utf-8")))
