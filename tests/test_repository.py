"""The repository stands on its own: no path of a particular machine, no folder beside the clone."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from conftest import ROOT, SCHEMAS

#: absolute paths of the machines the project was written on, and the lead's folder beside the
#: clone (split so that this file does not match itself)
FORBIDDEN = re.compile(
    "|".join(
        [
            "/" + "work/",
            "/" + "root/",
            r"\.\./" + "shared",
            "shared" + "/schemas",
            "[\"']" + "shared" + "[\"']\\s*/",  # a path built from a folder named like that
        ]
    )
)


def tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
    ).stdout.decode()
    return [name for name in listed.split("\0") if name]


def test_no_tracked_file_names_a_path_of_a_particular_machine() -> None:
    found = []
    for name in tracked_files():
        path = ROOT / name
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue  # binary
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if FORBIDDEN.search(line):
                found.append(f"{name}:{number}: {line.strip()[:120]}")
    assert not found, "\n".join(found)


def test_the_schemas_the_tests_read_are_in_the_repository() -> None:
    assert SCHEMAS == ROOT / "schemas"
    for name in ("junit-qaagent.xsd", "junit-10.xsd", "README.md"):
        assert (SCHEMAS / name).is_file(), name
    assert {"schemas/junit-qaagent.xsd", "schemas/junit-10.xsd"} <= set(tracked_files())


def test_the_pattern_finds_what_it_looks_for() -> None:
    quoted = '"' + "shared" + '"'
    machine = "SCHEMAS = Path('/" + "work/x/schemas')"
    beside = "ROOT.parent / " + quoted + " / 'schemas'"
    for line in (machine, beside):
        assert FORBIDDEN.search(line), line
    assert not FORBIDDEN.search('SCHEMAS = ROOT / "schemas"')
