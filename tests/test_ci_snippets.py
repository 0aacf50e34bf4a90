"""The README's `--shard auto` recipes for other CIs are valid configuration of those CIs.

Each ```yaml block of README.md whose first line names another CI's file
(``# .gitlab-ci.yml``, ``# .circleci/config.yml``, ``# .buildkite/pipeline.yml``)
is validated offline: GitLab's against GitLab's own schema, vendored in
`schemas/gitlab-ci.json` (origin and licence in schemas/README.md); CircleCI's
and Buildkite's against the schemas check-jsonschema bundles. The GitHub
recipe is a workflow like the others (`test_readme_workflows.py`).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, SCHEMAS
from test_readme_workflows import _tool

_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)
#: the first line of a snippet -> how check-jsonschema validates it
SNIPPETS = {
    "# .gitlab-ci.yml": ["--schemafile", str(SCHEMAS / "gitlab-ci.json")],
    "# .circleci/config.yml": ["--builtin-schema", "vendor.circle-ci"],
    "# .buildkite/pipeline.yml": ["--builtin-schema", "vendor.buildkite"],
}


def snippets() -> dict[str, str]:
    """The README's snippets for other CIs, by their first line."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for block in _BLOCK.findall(text):
        first = block.splitlines()[0].strip() if block.strip() else ""
        if first in SNIPPETS:
            found[first] = block
    return found


def test_the_readme_has_a_snippet_per_ci() -> None:
    assert sorted(snippets()) == sorted(SNIPPETS)


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_each_snippet_is_valid_for_its_ci(name: str, tmp_path: Path) -> None:
    block = snippets()[name]
    data = yaml.safe_load(block)
    assert isinstance(data, dict)
    assert "--shard auto" in block  # the recipe is about the CI's own parallel jobs
    assert "qaagent merge" in block
    # the CI's image has qaagent only after the recipe installs it: the suites' tools too
    assert "pip install -r requirements-test.txt" in block
    if name == "# .buildkite/pipeline.yml":  # the agent's own Python may refuse pip (PEP 668)
        for step in data["steps"]:
            if "command" in step:
                assert step["command"][0] == "python3 -m venv .qaagent-venv && . .qaagent-venv/bin/activate"
    target = tmp_path / Path(name.removeprefix("# ")).name
    target.write_text(block, encoding="utf-8")
    done = subprocess.run(
        [_tool("check-jsonschema"), *SNIPPETS[name], str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_vendored_schema_is_the_recorded_file() -> None:
    import hashlib  # noqa: PLC0415

    digest = hashlib.sha256((SCHEMAS / "gitlab-ci.json").read_bytes()).hexdigest()
    assert digest in (SCHEMAS / "README.md").read_text(encoding="utf-8")
    assert (SCHEMAS / "LICENSE.gitlab").is_file()


@pytest.mark.parametrize(
    ("name", "parallel"),
    [
        ("# .gitlab-ci.yml", ("tests", "parallel")),
        ("# .circleci/config.yml", ("jobs", "test", "parallelism")),
    ],
)
def test_the_snippets_run_parallel_jobs(name: str, parallel: tuple[str, ...]) -> None:
    node: object = yaml.safe_load(snippets()[name])
    for key in parallel:
        assert isinstance(node, dict)
        node = node[key]
    assert node == 4


#: how every README recipe installs qaagent: the tag's hashed lock, then qaagent --no-deps
_LOCK = re.compile(
    r"pip\"? install (?:--quiet )?--require-hashes "
    r"-r https://raw\.githubusercontent\.com/org/qaagent-action/(v\d+\.\d+\.\d+)/requirements\.txt$"
)
_PACKAGE = re.compile(
    r"pip\"? install (?:--quiet )?--no-deps --no-build-isolation "
    r"\"qaagent @ git\+https://github\.com/org/qaagent-action@(v\d+\.\d+\.\d+)\"$"
)


def test_every_readme_install_of_qaagent_is_pinned() -> None:
    # No recipe installs a moving tag or unhashed dependencies: each `pip install` that names
    # qaagent is the release tag's package, right after the same tag's hashed lock.
    lines = [line.strip().removeprefix("- ").removeprefix("run: ") for line in
             (ROOT / "README.md").read_text(encoding="utf-8").splitlines()]  # fmt: skip
    installs = [
        i for i, line in enumerate(lines) if "pip" in line and "qaagent" in line and "install" in line
    ]
    packages = [i for i in installs if "qaagent @" in lines[i] or "qaagent-action@" in lines[i]]
    assert len(packages) >= 8  # the GitHub plan job, GitLab, CircleCI, Buildkite ...
    for i in packages:
        package = _PACKAGE.search(lines[i])
        lock = _LOCK.search(lines[i - 1])
        assert package, lines[i]
        assert lock, lines[i - 1]
        assert package.group(1) == lock.group(1)
