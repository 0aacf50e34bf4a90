"""The reports of real `qaagent run-all` runs: determinism, both schemas, secrets, copied JUnit."""

from __future__ import annotations

import hashlib
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from conftest import SCHEMAS, ProjectFactory, run_qaagent
from helpers import bundle_texts, manifest_of

PY = sys.executable

UNIT = """
import pathlib

def test_ok():
    print("some output")

def test_flaky():
    marker = pathlib.Path(__file__).with_name("flaky.seen")
    if not marker.exists():
        marker.write_text("1")
        assert False, "first attempt fails"

def test_broken():
    assert 1 == 2
"""

FEATURE = """
Feature: numbers
  Scenario: one
    Given a number 1
    Then it is 1
"""

STEPS = """
from behave import given, then

@given("a number {n:d}")
def step_number(context, n):
    context.n = n

@then("it is {n:d}")
def step_is(context, n):
    assert context.n == n
"""


def project_files(parallel: bool) -> dict[str, str]:
    command = json.dumps([PY, "-c", "print('checked')"])
    return {
        "tests/test_things.py": UNIT,
        "features/n.feature": FEATURE,
        "features/steps/steps.py": STEPS,
        ".qaagent.yaml": (
            f"run: {{parallel: {str(parallel).lower()}, retry_count: 1}}\n"
            f"tests:\n  unit: {{path: tests}}\n  behave: {{path: features}}\n"
            f"  check: {{runner: command, command: {command}}}\n"
        ),
    }


def without_times(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r' (time|timestamp)="[^"]*"', "", text)
    # Durations inside captured output differ from run to run too (behave: "passed in 0.001s").
    return re.sub(r"\d+\.\d+s\b", "Ns", text)


@pytest.mark.slow
def test_parallel_and_sequential_runs_give_the_same_document(
    qa_project: ProjectFactory, tmp_path: Path
) -> None:
    documents = []
    for parallel in (True, False):
        root = qa_project(project_files(parallel))
        for seen in root.rglob("*.seen"):
            seen.unlink()
        result = run_qaagent("run-all", cwd=root)
        assert result.returncode == 1, result.stdout  # test_broken fails in both
        documents.append(without_times(root / "qaagent-junit.xml"))
    assert documents[0] == documents[1]
    assert "<flakyFailure" in documents[0]
    assert "<rerunFailure" in documents[0]
    assert 'name="command" value="' in documents[0]
    assert "$BUNDLE" in documents[0]  # run-specific paths are written the same way in every run


@pytest.mark.slow
def test_merged_report_of_a_real_run_with_retries_satisfies_both_schemas(qa_project: ProjectFactory) -> None:
    root = qa_project(project_files(parallel=True))
    run_qaagent("run-all", cwd=root)
    report = root / "qaagent-junit.xml"
    xmlschema.XMLSchema(SCHEMAS / "junit-qaagent.xsd").validate(str(report))
    tree = ET.parse(report)  # noqa: S314 - our own report, just written
    top = tree.getroot()
    top.attrib.pop("skipped", None)
    for case in top.iter("testcase"):
        case.attrib.pop("file", None)
        case.attrib.pop("line", None)
    xmlschema.XMLSchema(SCHEMAS / "junit-10.xsd").validate(ET.tostring(top, encoding="unicode"))


LEAKY_TESTS = """
import os

def test_leaks():
    print("token is", os.environ["MY_API_TOKEN"])
    print("Authorization: Bearer zzz-header-secret-123")
    assert os.environ["DB_PASSWORD"] == "no", os.environ["DB_PASSWORD"]
"""


@pytest.mark.slow
def test_secrets_printed_by_tests_are_nowhere_in_the_bundle(qa_project: ProjectFactory) -> None:
    root = qa_project({"tests/test_s.py": LEAKY_TESTS, ".qaagent.yaml": "tests:\n  unit: {path: tests}\n"})
    env = {"MY_API_TOKEN": "tok-supersecretvalue123", "DB_PASSWORD": "hunter2pass"}
    result = run_qaagent("run-all", cwd=root, env=env)
    assert result.returncode == 1
    secrets = (b"tok-supersecretvalue123", b"hunter2pass", b"zzz-header-secret-123")
    bundle = max((root / ".qaagent" / "evidence").iterdir())
    texts = {**bundle_texts(bundle), "qaagent-junit.xml": (root / "qaagent-junit.xml").read_bytes()}
    assert {"junit.xml", "tests.jsonl.gz", "report.html", "summary.md"} <= set(texts)
    leaks = [(name, secret) for name, text in texts.items() for secret in secrets if secret in text]
    assert leaks == []
    assert run_qaagent("verify", str(bundle), cwd=root).returncode == 0


@pytest.mark.slow
def test_junit_matched_by_a_glob_is_kept_once_in_the_bundle(qa_project: ProjectFactory) -> None:
    """A report read completely lives on in junit.xml (and its digest); a broken one is kept as it was."""
    good = '<testsuite name="s" tests="1"><testcase classname="c" name="t" time="0.1"/></testsuite>'
    broken = '<testsuite name="s"><testcase classname="c" name="cut short" time="0.1"/><testcase'
    script = (
        "import pathlib\npathlib.Path('reports').mkdir(exist_ok=True)\n"
        f"pathlib.Path('reports/a.xml').write_text({good!r})\n"
        f"pathlib.Path('reports/b.xml').write_text({broken!r})\n"
    )
    suite = "{runner: command, command: " + json.dumps([PY, "w.py"]) + ", junit: 'reports/*.xml'}"
    root = qa_project({"w.py": script, ".qaagent.yaml": f"tests:\n  s: {suite}\n"})
    assert run_qaagent("run-all", cwd=root).returncode == 1  # the broken report is a suite error
    bundle = max((root / ".qaagent" / "evidence").iterdir())
    manifest = manifest_of(bundle)
    listed = {entry["path"] for entry in manifest["files"]}
    assert "suites/s/attempt-1/junit/matched/001-a.xml" not in listed
    assert "suites/s/attempt-1/junit/matched/002-b.xml" in listed
    (read,) = manifest["suites"][0]["attempts"][0]["junit_read"]
    assert read == {
        "path": "suites/s/attempt-1/junit/matched/001-a.xml",
        "sha256": hashlib.sha256(good.encode()).hexdigest(),
        "size": len(good),
    }
    names = [c.get("name") for c in ET.parse(bundle / "junit.xml").getroot().iter("testcase")]  # noqa: S314 - our own report
    assert names[:2] == ["t", "cut short"]
    (root / "reports" / "a.xml").write_text("changed later")  # the working tree moves on
    assert run_qaagent("verify", str(bundle), cwd=root).returncode == 0
