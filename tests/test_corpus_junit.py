"""The broken/hostile JUnit corpus through a real `qaagent run-all`.

Every input becomes one `command` suite that copies (or creates) it in its
`QAAGENT_JUNIT_DIR`, next to a suite with a good report. Each broken input
must turn into a suite error carrying the reader's reason; the good suite's
result must be intact, the bundle must verify, no process may be left, and
the qaagent process must stay within a time and memory bound (peak RSS of
that child, from `os.wait4`). Big inputs are generated here, not stored.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ProjectFactory, assert_no_process_left, run_qaagent, unique_marker
from helpers import latest_bundle, manifest_of, records_of
from test_corpus_support import Measured, measured_run

CORPUS = Path(__file__).parent / "corpus" / "junit"
PY = sys.executable

#: stored input → the reason its suite error must carry (None: repaired and read normally)
STORED: dict[str, str | None] = {
    "bare-less-than.xml": "is not well-formed XML (not well-formed (invalid token) at line 3, column 36)",
    "billion-laughs.xml": "refused: the DOCTYPE declares an entity ('lol'); JUnit needs none",
    "blank.xml": "contains no XML element",
    "declaration-only.xml": "contains no XML element",
    "duplicate-attribute.xml": "is not well-formed XML (duplicate attribute at line 2, column 36)",
    "empty.xml": "is empty",
    "external-dtd-public.xml": "refused: the DOCTYPE names an external DTD (SYSTEM/PUBLIC)",
    "external-entity-system.xml": "refused: the DOCTYPE declares an entity ('secret'); JUnit needs none",
    "gzip-compressed.xml": "is not XML (not well-formed (invalid token) at line 1, column 1)",
    "html-entity.xml": "is not well-formed XML (undefined entity at line 2, column 3)",
    "json-report.xml": "is not XML (not well-formed (invalid token) at line 1, column 1)",
    "late-declaration.xml": "is not XML (XML or text declaration not at start of entity",
    "mismatched-tag.xml": "is not well-formed XML (mismatched tag at line 3, column 32)",
    "not-xml.txt": "is not XML (syntax error at line 1, column 1)",
    "parameter-entity.xml": "refused: the DOCTYPE declares an entity ('remote'); JUnit needs none",
    "small-internal-entity.xml": "refused: the DOCTYPE declares an entity ('who'); JUnit needs none",
    "stray-closing-tag.xml": "is not well-formed XML (not well-formed (invalid token) at line 7, column 2)",
    "truncated.xml": "the XML ends early (truncated?) at line 5, column 1",
    "two-roots.xml": "is not well-formed XML (junk after document element at line 2, column 1)",
    "unclosed-comment.xml": "the XML ends early (truncated?) at line 2, column 3",
    "unknown-encoding.xml": "declares an encoding that cannot be read (unknown encoding: no-such-codec)",
    "unquoted-attribute.xml": "is not XML (not well-formed (invalid token) at line 1, column 17)",
    "unterminated-cdata.xml": "the XML ends early (truncated?) at line 6, column 1",
    "wrong-root.xml": "the root element is <html>, not <testsuites> or <testsuite>",
    # repaired, documented in tests/corpus/README.md
    "behave-esc-byte.xml": None,
    "illegal-char-ref.xml": None,
    "invalid-utf8.xml": None,
    "nul-byte.xml": None,
    "plain-doctype.xml": None,
    "utf16-declared-utf8.xml": None,
}

#: generated input → the reason (made at test time: too big to store, or not a plain file)
GENERATED: dict[str, str] = {
    "deep-nesting": "elements are nested deeper than 256 levels",
    "million-attributes": "a single XML tag or comment at line 1 is larger than 4194304 bytes",
    "sparse-1g": f"is {1 << 30} bytes, more than the 268435456 byte limit",
    "symlink-outside": "refused: it points outside the project",
    "fifo": "is not a regular file",
    "directory": "is a directory, not a JUnit file",
}

FEED = """
import os, shutil, sys
mode, source = sys.argv[1], sys.argv[2]
out = os.path.join(os.environ["QAAGENT_JUNIT_DIR"], "report.xml")
if mode == "copy":
    shutil.copyfile(source, out)
elif mode == "sparse":
    with open(out, "wb") as handle:
        handle.truncate(1 << 30)  # 1 GiB of holes: nothing is written
elif mode == "symlink":
    os.symlink(source, out)
elif mode == "fifo":
    os.mkfifo(out)
elif mode == "directory":
    os.mkdir(out)
print("fed", mode, flush=True)
"""

GOOD = """
import os
open(os.path.join(os.environ["QAAGENT_JUNIT_DIR"], "good.xml"), "w").write(
    '<testsuite name="good"><testcase classname="kept" name="collected_before" time="0.01"/></testsuite>'
)
"""


def write_deep(path: Path, depth: int = 100_000) -> None:
    path.write_text("<testsuites>" + "<testsuite>" * depth + "</testsuite>" * depth + "</testsuites>")


def write_million_attributes(path: Path, count: int = 1_000_000) -> None:
    with path.open("w", encoding="ascii") as handle:
        handle.write('<testsuite name="s"><testcase classname="c" name="first"/><testcase')
        for start in range(0, count, 10_000):
            handle.write("".join(f' a{i}="{i}"' for i in range(start, start + 10_000)))
        handle.write("/></testsuite>\n")


def suite_spec(argv: list[str], marker: str) -> str:
    return "{runner: command, command: " + json.dumps([*argv, marker]) + "}"


def build(qa_project: ProjectFactory, suites: dict[str, list[str]], marker: str) -> Path:
    body = "".join(f"  {name}: {suite_spec(argv, marker)}\n" for name, argv in suites.items())
    profile = f"run:\n  parallel: true\n  max_workers: 4\n  timeout: 60\ntests:\n  good: {suite_spec([PY, 'good.py'], marker)}\n{body}"
    return qa_project({"feed.py": FEED, "good.py": GOOD, ".qaagent.yaml": profile})


def synthetic_messages(records: list[dict[str, Any]], suite: str) -> list[str]:
    return [r["message"] for r in records if r["suite"] == suite and r["status"] == "error"]


def check_run(root: Path, result: Measured, expected: dict[str, str | None]) -> None:
    """The shared checks: exit 1, the good suite intact, each input's reason, a bundle that verifies."""
    assert result.returncode == 1, result.output[-3000:]
    assert "Traceback" not in result.output
    manifest = manifest_of(root)
    assert [s["name"] for s in manifest["suites"]] == ["good", *expected]
    by_name = {s["name"]: s for s in manifest["suites"]}
    assert by_name["good"]["counts"]["passed"] == 1
    assert by_name["good"]["counts"]["errors"] == 0
    records = records_of(root)
    assert any(r["suite"] == "good" and r["status"] == "passed" for r in records)
    for name, reason in expected.items():
        messages = synthetic_messages(records, name)
        if reason is None:
            assert messages == [], (name, messages)
            counts = by_name[name]["counts"]
            assert counts["passed"] + counts["failed"] >= 1, name  # read normally after the repair
        else:
            assert len(messages) == 1, (name, messages)
            assert "unreadable JUnit" in messages[0], (name, messages)
            assert reason in messages[0], (name, messages)
    verify = run_qaagent("verify", str(latest_bundle(root)), cwd=root)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_corpus_folder_matches_the_expectations() -> None:
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(STORED)
    broken = [n for n, reason in STORED.items() if reason is not None] + list(GENERATED)
    assert len(broken) >= 25


@pytest.mark.slow
def test_stored_inputs_become_suite_errors_in_one_real_run(qa_project: ProjectFactory) -> None:
    marker = unique_marker()
    suites = {name: [PY, "feed.py", "copy", str(CORPUS / name)] for name in STORED}
    root = build(qa_project, suites, marker)
    result = measured_run(["run-all", "--quiet"], cwd=root, timeout=120)
    print(f"stored corpus: {result.seconds:.1f} s, peak RSS {result.peak_rss_mib:.0f} MiB")
    check_run(root, result, STORED)
    assert result.seconds < 60, f"{result.seconds:.1f} s"
    assert result.peak_rss_mib < 150, f"peak RSS {result.peak_rss_mib:.0f} MiB"
    assert_no_process_left(marker)


@pytest.mark.slow
def test_generated_inputs_become_suite_errors_in_bounded_time_and_memory(
    qa_project: ProjectFactory, tmp_path: Path
) -> None:
    marker = unique_marker()
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_deep(inputs / "deep.xml")
    write_million_attributes(inputs / "attrs.xml")
    outside = tmp_path / "outside-the-project.xml"
    outside.write_text('<testsuite><testcase classname="c" name="leaked"/></testsuite>')
    suites = {
        "deep-nesting": [PY, "feed.py", "copy", str(inputs / "deep.xml")],
        "million-attributes": [PY, "feed.py", "copy", str(inputs / "attrs.xml")],
        "sparse-1g": [PY, "feed.py", "sparse", "-"],
        "symlink-outside": [PY, "feed.py", "symlink", str(outside)],
        "fifo": [PY, "feed.py", "fifo", "-"],
        "directory": [PY, "feed.py", "directory", "-"],
    }
    root = build(qa_project, suites, marker)
    result = measured_run(["run-all", "--quiet"], cwd=root, timeout=120)
    print(f"generated inputs: {result.seconds:.1f} s, peak RSS {result.peak_rss_mib:.0f} MiB")
    check_run(root, result, dict(GENERATED))
    assert "leaked" not in (root / "qaagent-junit.xml").read_text(encoding="utf-8")
    assert result.seconds < 60, f"{result.seconds:.1f} s"
    assert result.peak_rss_mib < 150, f"peak RSS {result.peak_rss_mib:.0f} MiB"
    assert_no_process_left(marker)
