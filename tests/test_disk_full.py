"""A run whose reports cannot all be written: the manifest says which are missing, exit 3 in one line.

A real `qaagent run-all` under a file-size limit (`RLIMIT_FSIZE`; Python ignores
SIGXFSZ, so a write past it is `EFBIG`, as a full disk is `ENOSPC`): the merged
JUnit and its `--junit` copy are too large to write, the small files (logs, records,
summary, manifest) are not. The suite's JUnit is hard-linked in, so the child
writes nothing large either.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import qaagent_environment
from helpers import latest_bundle, manifest_of

#: bytes any one file may have in the limited run
LIMIT = 256 * 1024
#: cases in the suite's JUnit
CASES = 1500


def big_junit(cases: int) -> str:
    """A JUnit file of `cases` passing cases, each with captured output (incompressible enough to matter)."""
    rows = [
        f'<testcase classname="tests.test_big" name="test_{i}" time="0.001">'
        f"<system-out>output of case {i} {'x' * 400}</system-out></testcase>"
        for i in range(cases)
    ]
    return f'<testsuite name="big" tests="{cases}">' + "".join(rows) + "</testsuite>\n"


def limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


@pytest.mark.slow
def test_reports_too_large_to_write_are_named_in_the_manifest(tmp_path: Path) -> None:
    source = tmp_path / "big.xml"
    # fewer than CaseStore.SPILL_AT cases: the run itself writes nothing large (its spill file is
    # a write too; a disk full while the suite runs is issue 12's output reader's part)
    source.write_text(big_junit(CASES), encoding="utf-8")
    assert source.stat().st_size > 2 * LIMIT
    project = tmp_path / "project"
    project.mkdir()
    feed = ["sh", "-c", 'exec ln -- "$0" "$QAAGENT_JUNIT_DIR"/big.xml', str(source)]
    (project / ".qaagent.yaml").write_text(
        f"project: {{name: full}}\ntests:\n  feed: {{runner: command, command: {json.dumps(feed)}}}\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "qaagent", "run-all"],
        cwd=project,
        env=qaagent_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=limit_file_size,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "could not write junit.xml" in last
    assert "the evidence bundle's manifest lists them as missing" in last
    assert "cannot write junit.xml" in done.stdout  # the warning while writing
    bundle = latest_bundle(project)
    manifest = manifest_of(bundle)
    assert manifest["status"] == "success"
    assert manifest["totals"]["total"] == CASES
    missing = {m["path"]: m["reason"] for m in manifest["missing"]}
    assert "junit.xml" in missing
    assert missing["junit.xml"]  # why, in the OS's words
    listed = {f["path"] for f in manifest["files"]}
    assert "junit.xml" not in listed
    assert not (bundle / "junit.xml").exists()
    assert not [p for p in bundle.iterdir() if p.name.endswith(".tmp")]  # no half-written file left
    assert not (project / "qaagent-junit.xml").exists()
    # what could be written is complete and listed; verify names what is not
    assert {"tests.jsonl.gz", "summary.md"} <= listed
    check = subprocess.run(
        [sys.executable, "-m", "qaagent", "verify", str(bundle)],
        env=qaagent_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode != 0
    assert "not written: junit.xml" in check.stdout + check.stderr
    assert (bundle / "manifest.json").stat().st_size < LIMIT
