"""Publishing results qaagent did not run: `runner: report`, `--files`, and what command suites read.

Real runs of `python -m qaagent` on small projects whose result files are the golden files
of tests/fixtures/formats (written by the real tools), plus files made here: JUnit, TRX,
TAP, go test -json; files of any age; globs with `!` excludes; a symlink out of the project.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from conftest import ProjectFactory, run_qaagent
from helpers import latest_bundle, manifest_of, records_of

from qaagent.errors import ProfileError
from qaagent.profile_load import parse_profile

FORMATS = Path(__file__).parent / "fixtures" / "formats"
PY = sys.executable
JUNIT = '<testsuite name="s" tests="{n}">{cases}</testsuite>\n'  # a small JUnit report of n tests


def junit(name: str, count: int, *, failing: int = 0) -> str:
    cases = "".join(
        f'<testcase classname="{name}" name="test_{i}"'
        + ("><failure message='boom'>trace</failure></testcase>" if i < failing else "/>")
        for i in range(count)
    )
    return JUNIT.format(n=count, cases=cases)


def age(path: Path, seconds: float) -> None:
    """Make `path` look written `seconds` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


# -- the profile ------------------------------------------------------------------------------------


def test_a_report_suite_takes_one_glob_or_a_list_and_a_format() -> None:
    profile = parse_profile(
        "tests:\n  a: {runner: report, files: 'r/*.xml'}\n"
        "  b: {runner: report, files: ['r/**/*.trx', '!r/old/*'], format: trx}\n"
    )
    assert profile.tests["a"].files == ("r/*.xml",)
    assert profile.tests["b"].result_globs == ("r/**/*.trx", "!r/old/*")
    assert profile.tests["b"].format == "trx"


@pytest.mark.parametrize(
    ("suite", "expected"),
    [
        ("{runner: report}", "uses the report runner and needs `files:`"),
        ("{runner: report, files: 'r/*', command: [x]}", "`command` does not apply"),
        ("{runner: report, files: 'r/*', args: [x]}", "`args` does not apply"),
        ("{runner: report, files: 'r/*', retry_count: 1}", "`retry_count` does not apply"),
        ("{runner: report, files: 'r/*', split: auto}", "`split` does not apply"),
        ("{runner: report, files: '!r/*'}", "at least one glob that is not an exclude"),
        ("{runner: report, files: 'r/*', format: junit5}", "unknown result format 'junit5'"),
        ("{runner: pytest, path: t, files: 'r/*'}", "`files` and `format` are for command and report suites"),
        ("{runner: command, command: [x], files: a, junit: b}", "either `files` or its old name `junit`"),
    ],
)
def test_report_and_result_file_mistakes_are_profile_errors(suite: str, expected: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile(f"tests:\n  s: {suite}\n")
    assert expected in str(caught.value)
    assert "(line 2)" in str(caught.value)


# -- a report suite, run for real ----------------------------------------------------------------


@pytest.fixture
def published(qa_project: ProjectFactory) -> Path:
    """A project whose earlier steps left reports of several formats, days old."""
    root = qa_project(
        {
            ".qaagent.yaml": """
            tests:
              published:
                runner: report
                files: ["reports/**/*", "!reports/**/*.log"]
            """
        }
    )
    reports = root / "reports"
    (reports / "dotnet").mkdir(parents=True)
    shutil.copy(FORMATS / "dotnet" / "mstest.trx", reports / "dotnet" / "mstest.trx")
    shutil.copy(FORMATS / "node" / "node-test.tap", reports / "node.tap")
    (reports / "unit.xml").write_text(junit("tests.test_unit", 3, failing=1), encoding="utf-8")
    (reports / "run.log").write_text("not a report", encoding="utf-8")
    for path in reports.rglob("*"):
        if path.is_file():
            age(path, 3 * 24 * 3600)  # of any age: written days before this run
    return root


@pytest.mark.slow
def test_a_report_suite_reads_files_of_any_age_and_any_format(published: Path) -> None:
    result = run_qaagent("run-all", cwd=published)
    assert result.returncode == 1, result.stdout + result.stderr  # the JUnit and TRX hold failures
    assert "Traceback" not in result.stderr
    manifest = manifest_of(published)
    (suite,) = manifest["suites"]
    assert suite["runner"] == "report"
    assert suite["command"] == []
    assert len(suite["attempts"]) == 1
    records = records_of(published)
    classes = {r["classname"] for r in records}
    assert "tests.test_unit" in classes  # JUnit
    assert ("Calc.Tests.CalcTests", "FailsOnPurpose", "failed") in {
        (r["classname"], r["name"], r["status"]) for r in records
    }  # TRX
    assert any(r["message"].startswith("not ok") or r["status"] == "failed" for r in records)
    assert sum(r["suite"] == "published" for r in records) == suite["counts"]["total"]
    assert suite["counts"]["failed"] >= 1
    # The files were copied into the bundle and, read completely, folded into junit.xml: the
    # attempt's junit_read keeps each copy's checksum; the log names the originals; the
    # excluded log file was neither read nor copied.
    bundle = latest_bundle(published)
    results = bundle / "suites" / "published" / "attempt-1" / "results"
    assert not any(results.iterdir())  # each result once in the bundle (issue 13)
    (attempt,) = suite["attempts"]
    folded = {r["path"]: r for r in attempt["junit_read"]}
    assert sorted(folded) == [
        f"suites/published/attempt-1/results/{name}"
        for name in ("001-mstest.trx", "002-node.tap", "003-unit.xml")
    ]
    unit_xml = (published / "reports" / "unit.xml").read_bytes()
    assert (
        folded["suites/published/attempt-1/results/003-unit.xml"]["sha256"]
        == hashlib.sha256(unit_xml).hexdigest()
    )
    log = (bundle / "suites" / "published" / "attempt-1" / "output.log").read_text(encoding="utf-8")
    assert "qaagent: 3 result file(s) read:" in log
    assert "reports/dotnet/mstest.trx" in log
    assert "run.log" not in log
    verify = run_qaagent("verify", str(bundle), cwd=published)
    assert verify.returncode == 0, verify.stdout
    # The merged report has the suite as any other.
    merged = (published / "qaagent-junit.xml").read_text(encoding="utf-8")
    assert '<testsuite name="published"' in merged
    assert 'name="runner" value="report"' in merged


@pytest.mark.slow
def test_a_match_outside_the_project_is_refused_with_a_warning_naming_it(
    published: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.xml"
    outside.write_text(junit("secret", 2, failing=2), encoding="utf-8")
    (published / "reports" / "evil.xml").symlink_to(outside)
    result = run_qaagent("run-all", cwd=published)
    assert (
        "[published] warning: 1 of 4 file(s) matching `files: reports/**/*, !reports/**/*.log` not read"
        in (result.stdout)
    )
    assert f"reports/evil.xml (outside the project: it resolves to {outside}" in result.stdout
    records = records_of(published)
    assert not any(r["classname"] == "secret" for r in records)
    (attempt,) = manifest_of(published)["suites"][0]["attempts"]
    assert attempt["ignored_count"] == 1
    assert attempt["ignored_files"][0]["path"] == "reports/evil.xml"
    assert attempt["ignored_files"][0]["reason"].startswith("outside the project")


@pytest.mark.slow
def test_a_report_suite_that_matches_nothing_is_an_error(qa_project: ProjectFactory) -> None:
    root = qa_project({".qaagent.yaml": "tests:\n  r: {runner: report, files: 'reprots/*.xml'}\n"})
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 1
    assert "no result file matches `files: reprots/*.xml` in" in result.stdout
    (suite,) = manifest_of(root)["suites"]
    assert suite["status"] == "error"


@pytest.mark.slow
def test_files_publishes_without_a_profile(qa_project: ProjectFactory) -> None:
    root = qa_project({"out/go.jsonl": (FORMATS / "go" / "go-test.jsonl").read_text(encoding="utf-8")})
    result = run_qaagent("run-all", "--files", "out/*.jsonl", cwd=root)
    assert result.returncode == 1, result.stdout + result.stderr  # the go fixture has failures
    manifest = manifest_of(root)
    assert [s["name"] for s in manifest["suites"]] == ["results"]
    assert manifest["profile"]["path"] is None
    assert manifest["settings"]["suites"]["results"]["files"] == ["out/*.jsonl"]
    records = records_of(root)
    assert any(r["name"] == "TestAddFails" and r["status"] == "failed" for r in records)
    # the bundle of a published run goes into the test history like any other
    store = root / "history.sqlite"
    imported = run_qaagent("history", "import", str(latest_bundle(root)), "--store", str(store), cwd=root)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert f"({len(records)} result(s))" in imported.stdout
    # --format names it; a wrong one makes each file an error that names it
    wrong = run_qaagent("run-all", "--files", "out/*.jsonl", "--format", "trx", cwd=root)
    assert wrong.returncode == 1
    # the copy in the bundle is read; the line names the user's file
    assert "unreadable result file out/go.jsonl: " in wrong.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--files", "a/*", "--profile", "p.yaml"], "give either --profile or --files"),
        (["--files", "!a/*"], "--files needs globs of result files"),
        (["--format", "tap"], "--format (input 'format') names the format of --files"),
        (["--files", "a/*", "--format", "junit5"], "expected one of junit, trx"),
    ],
)
def test_files_flag_mistakes_are_usage_errors(tmp_path: Path, args: list[str], expected: str) -> None:
    (tmp_path / ".qaagent.yaml").write_text("tests:\n  s: {runner: command, command: [true]}\n")
    result = run_qaagent("run-all", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_report_suite_is_read_by_shard_1_only(qa_project: ProjectFactory) -> None:
    tests = {f"tests/test_{i}.py": "def test_a():\n    pass\n" for i in range(4)}
    root = qa_project(
        {
            **tests,
            ".qaagent.yaml": """
            tests:
              unit: {runner: pytest, path: tests}
              published: {runner: report, files: "reports/*.xml"}
            """,
        }
    )
    for total in (2, 3):
        result = run_qaagent("plan", "--shards", str(total), "--json", cwd=root)
        assert result.returncode == 0, result.stderr
        shards = json.loads(result.stdout)["shards"]
        where = [s["shard"] for s in shards for u in s["units"] if u["suite"] == "published"]
        assert where == [f"1/{total}"]


# -- command suites: any format, and files written before the attempt ---------------------------


@pytest.mark.slow
def test_a_command_suite_reads_the_format_it_names(qa_project: ProjectFactory) -> None:
    tap = (FORMATS / "node" / "node-test.tap").read_text(encoding="utf-8")
    write = f"import pathlib; pathlib.Path('out').mkdir(exist_ok=True); pathlib.Path('out/r.tap').write_text({tap!r})"
    suite = {"runner": "command", "command": [PY, "-c", write], "files": "out/*.tap", "format": "tap"}
    root = qa_project({".qaagent.yaml": "tests:\n  node: " + json.dumps(suite) + "\n"})
    run_qaagent("run-all", cwd=root)
    records = records_of(root)
    assert len(records) > 3
    assert {r["suite"] for r in records} == {"node"}
    assert any(r["status"] == "failed" for r in records)


STALE_WRITER = """
import pathlib, sys
# This attempt writes 3 of the 10 reports; the other 7 are an earlier run's leftovers.
for i in range(3):
    pathlib.Path(f"reports/part-{i}.xml").write_text(sys.argv[1].replace("NAME", f"part{i}"))
"""


@pytest.mark.slow
def test_stale_files_of_a_command_suite_are_counted_not_silently_dropped(qa_project: ProjectFactory) -> None:
    """The issue's 400,000-test run at a small scale: 3 of 10 files fresh, 7 left over."""
    report = junit("NAME", 4)
    suite = {"runner": "command", "command": [PY, "writer.py", report], "junit": "reports/*.xml"}
    root = qa_project(
        {"writer.py": STALE_WRITER, ".qaagent.yaml": "tests:\n  big: " + json.dumps(suite) + "\n"}
    )
    (root / "reports").mkdir()
    for i in range(10):
        path = root / "reports" / f"part-{i}.xml"
        path.write_text(junit(f"old{i}", 4), encoding="utf-8")
        age(path, 3600)
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 0, result.stdout
    manifest = manifest_of(root)
    (suite_entry,) = manifest["suites"]
    assert suite_entry["counts"]["total"] == 12  # 3 fresh files x 4 tests
    (attempt,) = suite_entry["attempts"]
    assert attempt["ignored_count"] == 7
    assert {i["reason"] for i in attempt["ignored_files"]} == {"written before this attempt started"}
    assert sorted(i["path"] for i in attempt["ignored_files"]) == [
        f"reports/part-{i}.xml" for i in range(3, 10)
    ]
    line = (
        "[big] warning: 7 of 10 file(s) matching `junit: reports/*.xml` not read: written before this "
        "attempt started (to publish results written earlier, use `runner: report`)"
    )
    assert line in result.stdout
    log = (latest_bundle(root) / "suites" / "big" / "attempt-1" / "output.log").read_text(encoding="utf-8")
    assert "qaagent: 7 of 10 file(s) matching `junit: reports/*.xml` not read" in log
    assert "reports/part-9.xml (written before this attempt started)" in log


@pytest.mark.slow
def test_a_command_suite_whose_every_match_is_stale_is_an_error_pointing_to_report(
    qa_project: ProjectFactory,
) -> None:
    suite = {"runner": "command", "command": [PY, "-c", "pass"], "files": "reports/*.xml"}
    root = qa_project({".qaagent.yaml": "tests:\n  old: " + json.dumps(suite) + "\n"})
    (root / "reports").mkdir()
    for i in range(2):
        path = root / "reports" / f"r{i}.xml"
        path.write_text(junit("x", 1), encoding="utf-8")
        age(path, 600)
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 1
    expected = (
        "all 2 file(s) matching `files: reports/*.xml` were written before this attempt started: a "
        "command suite reads only what its command writes (publish earlier results with `runner: report`)"
    )
    assert expected in result.stdout
    (entry,) = manifest_of(root)["suites"]
    assert entry["error"] == expected
    # the error alone: no passing exit-code case beside it (was "1 passed, 1 errors")
    assert (entry["counts"]["total"], entry["counts"]["passed"], entry["counts"]["errors"]) == (1, 0, 1)


@pytest.mark.slow
def test_a_glob_that_matches_qaagents_own_outputs_leaves_them_out(qa_project: ProjectFactory) -> None:
    # the merged report (reports.junit, in the project) and the evidence folder (here a visible one)
    root = qa_project({"build/a.xml": junit("a", 1)})
    for _ in range(3):  # three runs in a row: the first run's merged report must not count again
        result = run_qaagent(
            "run-all", "--files", "**/*.xml", "--no-history", "--evidence-dir", "evidence", cwd=root
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS: 1 tests" in result.stdout, result.stdout
    assert (root / "qaagent-junit.xml").is_file()
    assert list((root / "evidence").rglob("*.xml"))  # the bundle's copy of build/a.xml, matched too
    newest = max((root / "evidence").rglob("manifest.json"), key=lambda p: p.stat().st_mtime_ns)
    (attempt,) = manifest_of(newest.parent)["suites"][0]["attempts"]
    reasons = {item["path"]: item["reason"] for item in attempt["ignored_files"]}
    assert reasons["qaagent-junit.xml"].startswith("qaagent's own output: the merged report")
    assert any(
        path.startswith("evidence/") and reason.startswith("qaagent's own output: a run bundle")
        for path, reason in reasons.items()
    )
    # the user's own report beside the bundles is theirs: read (was "1 qaagent's own output: not read")
    shutil.copy(root / "build" / "a.xml", root / "evidence" / "mine.xml")
    mine = run_qaagent(
        "run-all", "--files", "evidence/*.xml", "--no-history", "--evidence-dir", "evidence", cwd=root
    )
    assert mine.returncode == 0, mine.stdout + mine.stderr
    assert "SUCCESS: 1 tests" in mine.stdout, mine.stdout
    (root / "evidence" / "mine.xml").unlink()
    # a profile's report suite: the same
    profile = "reports: {evidence_dir: evidence}\ntests:\n  publish: {runner: report, files: '**/*.xml'}\n"
    (root / ".qaagent.yaml").write_text(profile, encoding="utf-8")
    for _ in range(2):
        again = run_qaagent("run-all", "--no-history", cwd=root)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "SUCCESS: 1 tests" in again.stdout, again.stdout


#: a broken file of each format, and what the format's reader says of it
BROKEN = {
    "junit": ("m.xml", '<testsuite name="s"><testcase name="a"'),
    "trx": ("m.trx", '<TestRun xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010"><Results>'),
    "nunit3": ("m-nunit.xml", '<test-run id="0"><test-suite'),
    "xunit2": ("m-xunit.xml", "<assemblies><assembly"),
    "go-test-json": ("m.jsonl", "not a JSON event\n"),
    "tap": ("m.tap", "TAP version 13\n1..3\nok 1 - a\n"),
    "cucumber-json": ("m-cucumber.json", '[{"name": "f", "elements": ['),
    "mocha-json": ("m-mocha.json", '{"stats": {"tests": 1}, "tests": ['),
}


@pytest.mark.slow
def test_a_reader_error_names_the_users_file_not_its_copy_in_the_bundle(qa_project: ProjectFactory) -> None:
    """Every reader, a report suite and a command suite: the one line names `r/m.xml` as matched."""
    suites: dict[str, dict[str, object]] = {
        fmt: {"runner": "report", "files": f"r/{name}", "format": fmt} for fmt, (name, _) in BROKEN.items()
    }
    suites["auto"] = {"runner": "report", "files": "r/m.trx"}  # the format told from the content
    write = "import pathlib; pathlib.Path('out').mkdir(exist_ok=True); pathlib.Path('out/c.xml').write_text('<testsuite')"
    suites["cmd"] = {"runner": "command", "command": [PY, "-c", write], "files": "out/c.xml"}
    files = {f"r/{name}": text for name, text in BROKEN.values()}
    root = qa_project(
        {
            ".qaagent.yaml": "tests:\n" + "".join(f"  {n}: {json.dumps(s)}\n" for n, s in suites.items()),
            **files,
        }
    )
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 1, result.stdout + result.stderr
    shown = [line.strip() for line in result.stdout.splitlines() if "unreadable" in line]
    for fmt, (name, _) in BROKEN.items():
        kind = "JUnit" if fmt == "junit" else "result file"
        assert any(line.startswith(f"unreadable {kind} r/{name}: ") for line in shown), (fmt, shown)
    assert "unreadable result file r/m.trx: the XML ends early" in shown[-2]  # auto: told from the content
    assert shown[-1].startswith("unreadable result file out/c.xml: ")  # a command suite's match, copied
    assert not any("evidence" in line or "001-" in line for line in shown)
    errors = {s["name"]: s["error"] for s in manifest_of(root)["suites"]}
    assert errors["trx"].startswith("unreadable result file r/m.trx: ")
    assert errors["cmd"].startswith("unreadable result file out/c.xml: ")


@pytest.mark.slow
def test_a_matched_name_with_control_characters_is_shown_escaped_on_one_line(
    qa_project: ProjectFactory,
) -> None:
    """Outside Actions too: a line break in a matched file's name cannot split or forge a console line."""
    root = qa_project({".qaagent.yaml": "tests:\n  r: {runner: report, files: 'r/*.xml'}\n"})
    (root / "r").mkdir()
    (root / "r" / "ok.xml").write_text(junit("t", 1), encoding="utf-8")
    (root / "r" / "a\nFAIL forged\u2028b.xml").write_text(junit("t", 1), encoding="utf-8")
    result = run_qaagent("run-all", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert not any(line.startswith("FAIL forged") for line in lines)
    assert any(line.startswith("[r]   r/a\\x0aFAIL forged\\u2028b.xml (unsafe name") for line in lines)
    log = next((latest_bundle(root) / "suites").rglob("output.log")).read_text(encoding="utf-8")
    assert "r/a\\x0aFAIL forged\\u2028b.xml (unsafe name" in log
    assert "a\nFAIL" not in log
