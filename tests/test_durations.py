"""Recorded durations from a bundle, a JUnit file or a durations JSON file; anything else is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ProjectFactory, run_qaagent

from qaagent.durations import auto_source, from_bundle, load_durations
from qaagent.errors import UsageError

# cold: shards and merges are separate processes that must agree whatever their hash seeds (a zygote's children share one)
pytestmark = pytest.mark.cold_start

JUNIT = """<?xml version="1.0"?>
<testsuites>
  <testsuite name="unit" time="3.5">
    <testcase classname="tests.test_a" name="t1" file="tests/test_a.py" time="1.25"/>
    <testcase classname="tests.test_a" name="t2" file="tests/test_a.py" time="0.75"/>
    <testcase classname="tests.test_b" name="t3" file="tests/test_b.py" time="1"/>
  </testsuite>
  <testsuite name="behave" time="2">
    <testcase classname="alpha.Alpha numbers" name="s1" time="0.5"/>
  </testsuite>
</testsuites>
"""


def test_junit_gives_suite_and_file_times(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT, encoding="utf-8")
    durations = load_durations(path)
    assert durations.suite_total("unit") == 3.5
    assert dict(durations.suites["unit"].files) == {"tests/test_a.py": 2.0, "tests/test_b.py": 1.0}
    assert dict(durations.suites["behave"].classes) == {"alpha.Alpha numbers": 0.5}


def test_durations_json_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT, encoding="utf-8")
    out = tmp_path / "d.json"
    out.write_text(json.dumps(load_durations(path).as_json()), encoding="utf-8")
    again = load_durations(out)
    assert again.suites == load_durations(path).suites


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.txt", "just text"),
        ("other.json", '{"format": "something-else", "suites": {}}'),
        ("list.json", "[1, 2]"),
        ("page.xml", "<html><body/></html>"),
        ("broken.xml", "<testsuites><testsuite"),
        ("bomb.xml", '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><testsuites>&a;</testsuites>'),
    ],
)
def test_other_kinds_are_usage_errors(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError, match=r"durations"):
        load_durations(path)


def test_a_folder_must_be_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="evidence bundle"):
        load_durations(tmp_path)


@pytest.mark.slow
def test_bundle_of_a_real_run_and_auto_source(qa_project: ProjectFactory) -> None:
    root = qa_project(
        {
            ".qaagent.yaml": (
                "project: {name: d}\ntests:\n  unit: {runner: pytest, path: tests}\n"
                "  cmd: {runner: command, command: ['true']}\n"
            ),
            "tests/test_a.py": "import time\n\ndef test_a():\n    time.sleep(0.05)\n",
        }
    )
    assert run_qaagent("run-all", "--quiet", "--evidence-dir", "ev", cwd=root).returncode == 0
    (bundle,) = (root / "ev").iterdir()
    assert auto_source(root / "ev") == bundle
    durations = from_bundle(bundle)
    assert durations.suites["unit"].files["tests/test_a.py"] >= 0.05
    total = durations.suite_total("unit")
    assert total is not None
    assert total >= durations.suites["unit"].files["tests/test_a.py"]
    assert durations.suite_total("cmd") is not None
    written = run_qaagent("durations", str(bundle), cwd=root)
    assert written.returncode == 0
    assert json.loads(written.stdout)["format"] == "qaagent-durations"
    # a sharded bundle is never the automatic source (it holds part of the run)
    assert (
        run_qaagent("run-all", "--quiet", "--evidence-dir", "ev", "--shard", "1/2", cwd=root).returncode == 0
    )
    assert auto_source(root / "ev") == bundle


@pytest.mark.slow
def test_deeply_nested_json_is_a_usage_error(qa_project: ProjectFactory) -> None:
    deep = '{"format": "qaagent-durations", "suites": ' + "[" * 100_000 + "]" * 100_000 + "}"
    root = qa_project({".qaagent.yaml": "tests:\n  unit: {path: tests}\n", "deep.json": deep})
    (root / "tests").mkdir()
    result = run_qaagent("plan", "--shards", "2", "--durations-from", "deep.json", cwd=root)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "nested too deeply" in lines[0]
    bundle = root / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text(deep, encoding="utf-8")
    result = run_qaagent("plan", "--shards", "2", "--durations-from", "bundle", cwd=root)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_number_too_long_to_read_in_a_durations_file_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "durations.json"
    path.write_text('{"suites": {"unit": {"seconds": ' + "9" * 5_000 + "}}}", encoding="utf-8")
    with pytest.raises(UsageError, match=r"invalid JSON"):
        load_durations(path)
