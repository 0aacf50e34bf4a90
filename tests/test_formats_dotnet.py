"""TRX, NUnit 3 and xUnit.net v2: fixtures valid against schemas/, and what each reader maps.

The .NET tools do not install here, so the fixtures in tests/fixtures/formats/dotnet/ are
written to the formats' schemas and checked against them: NUnit's published schema
(schemas/nunit3/, copied unchanged from nunit/nunit), and for TRX and xUnit.net v2, whose
publishers offer no redistributable schema, the ones written for qaagent (schemas/README.md
says what was searched and what each covers).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import xmlschema

from qaagent.errors import ResultFileError
from qaagent.formats import nunit3, trx, xunit2
from qaagent.results import TestCase

ROOT = Path(__file__).resolve().parents[1]
DOTNET = ROOT / "tests" / "fixtures" / "formats" / "dotnet"
#: the fixtures' stack traces name /src/...: with that as the repository, files are relative to it
SRC = Path("/src")

#: NUnit's own result schema (it includes and redefines its two siblings in schemas/nunit3/)
NUNIT = "nunit3/TestResult.xsd"
CASES = [("trx.xsd", "mstest.trx"), (NUNIT, "nunit3.xml"), ("xunit2.xsd", "xunit2.xml")]


@pytest.mark.parametrize(("schema", "fixture"), CASES)
def test_fixtures_are_valid_against_the_schemas(schema: str, fixture: str) -> None:
    xmlschema.XMLSchema(ROOT / "schemas" / schema).validate(str(DOTNET / fixture))


def test_the_nunit_schema_is_the_publishers_unchanged() -> None:
    """schemas/nunit3/ is nunit/nunit's, with its licence: each file's digest is the one recorded."""
    readme = (ROOT / "schemas" / "README.md").read_text(encoding="utf-8")
    folder = ROOT / "schemas" / "nunit3"
    assert "Permission is hereby granted, free of charge" in (folder / "LICENSE.nunit").read_text(
        encoding="utf-8"
    )
    for name in ("TestResult.xsd", "TestDefinitions.xsd", "TestFilterDefinitions.xsd"):
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() in readme, name


@pytest.mark.parametrize(
    ("schema", "fixture", "old", "new"),
    [
        ("trx.xsd", "mstest.trx", 'outcome="Failed"', 'outcome="Broken"'),
        ("trx.xsd", "mstest.trx", 'duration="00:00:00.0250000"', 'duration="25ms"'),
        (NUNIT, "nunit3.xml", 'result="Skipped"', 'result="Ignored"'),
        (NUNIT, "nunit3.xml", ' seed="1804437563"', ""),
        (NUNIT, "nunit3.xml", ' asserts="4"', ""),
        ("xunit2.xsd", "xunit2.xml", 'result="Fail"', 'result="Failed"'),
        ("xunit2.xsd", "xunit2.xml", 'type="test-class-cleanup"', 'type="cleanup"'),
    ],
)
def test_the_schemas_reject_what_the_formats_do_not_allow(
    tmp_path: Path, schema: str, fixture: str, old: str, new: str
) -> None:
    text = (DOTNET / fixture).read_text(encoding="utf-8")
    assert old in text
    broken = tmp_path / fixture
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    assert not xmlschema.XMLSchema(ROOT / "schemas" / schema).is_valid(str(broken))


def summary(cases: list[TestCase]) -> list[tuple[str, str, str, str | None, int | None, str]]:
    return [(c.classname, c.name, c.status, c.file, c.line, c.message) for c in cases]


def test_trx() -> None:
    cases = list(trx.iter_cases(DOTNET / "mstest.trx", suite="net", base_dir=SRC, repo_root=SRC))
    cls = "Calc.Tests.CalcTests"
    assert summary(cases) == [
        (cls, "AddsNumbers", "passed", None, None, ""),
        (
            cls,
            "FailsOnPurpose",
            "failed",
            "Calc.Tests/CalcTests.cs",
            21,
            "Assert.AreEqual failed. Expected:<3>. Actual:<2>. arithmetic is broken",
        ),
        # MSTest's "Test method … threw exception:" line is skipped; the frame in the test's class wins
        (
            cls,
            "ThrowsNullReference",
            "failed",
            "Calc.Tests/CalcTests.cs",
            27,
            "System.NullReferenceException: Object reference not set to an instance of an object.",
        ),
        # the class comes from the definitions (written after the results), without ", Assembly, …"
        ("Calc.Tests.OtherTests", "SkippedOnPurpose", "skipped", None, None, "not today"),
        (cls, "TimesOut", "error", None, None, "Test 'TimesOut' exceeded execution timeout period."),
        # a data-driven test: its rows, not the aggregate
        (cls, "AddsRows (1,2,3)", "passed", None, None, ""),
        (
            cls,
            "AddsRows (2,2,5)",
            "failed",
            "Calc.Tests/CalcTests.cs",
            36,
            "Assert.AreEqual failed. Expected:<5>. Actual:<4>.",
        ),
        (
            "",
            "test run",
            "error",
            None,
            None,
            "The active test run was aborted. Reason: Test host process crashed : Stack overflow.",
        ),
    ]
    assert [c.duration for c in cases[:3]] == [0.0012345, 0.025, 0.003]
    assert cases[0].stdout == "hello from stdout"
    assert cases[1].stderr == "warning: about to fail"
    assert cases[1].details.startswith("Assert.AreEqual failed.")
    assert "CalcTests.cs:line 21" in cases[1].details
    assert all(c.suite == "net" and c.attempts == 1 and not c.flaky for c in cases)


def test_nunit3_console_attributes_read_the_same(tmp_path: Path) -> None:
    """nunit3-console adds engine-version, clr-version and runstate to <test-run>, which
    NUnit's framework schema (NUnitLite's output) does not describe: read the same."""
    text = (DOTNET / "nunit3.xml").read_text(encoding="utf-8")
    console = tmp_path / "TestResult.xml"
    extra = ' runstate="Runnable" engine-version="3.18.3.0" clr-version="8.0.11"'
    console.write_text(text.replace('<test-run id="0"', '<test-run id="0"' + extra, 1), "utf-8")
    assert not xmlschema.XMLSchema(ROOT / "schemas" / NUNIT).is_valid(str(console))

    def read(path: Path) -> list[TestCase]:
        return list(nunit3.iter_cases(path, suite="net", base_dir=SRC, repo_root=SRC))

    assert read(console) == read(DOTNET / "nunit3.xml")


def test_nunit3() -> None:
    cases = list(nunit3.iter_cases(DOTNET / "nunit3.xml", suite="net", base_dir=SRC, repo_root=SRC))
    cls = "Calc.Tests.CalcTests"
    assert summary(cases) == [
        (cls, "AddsNumbers", "passed", None, None, ""),
        (cls, "FailsOnPurpose", "failed", "Calc.Tests/CalcTests.cs", 21, "arithmetic is broken"),
        # label="Error": an exception, not an assertion
        (
            cls,
            "ThrowsNullReference",
            "error",
            "Calc.Tests/CalcTests.cs",
            27,
            "System.NullReferenceException : Object reference not set to an instance of an object.",
        ),
        (cls, "SkippedOnPurpose", "skipped", None, None, "not today"),
        # NUnit does not fail a run for a warning: passed, the warning as the message
        (cls, "WarnsOnly", "passed", None, None, "this call is deprecated"),
        (cls, "AddsRows(1,2,3)", "passed", None, None, ""),
        (cls, "AddsRows(2,2,5)", "failed", "Calc.Tests/CalcTests.cs", 36, "Expected: 5"),
    ]
    assert cases[0].stdout == "hello from stdout\n"
    assert cases[0].duration == 0.0012345
    assert "But was:  2" in cases[1].details


def test_nunit3_class_falls_back_to_the_fixture(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_text(
        '<test-run id="0"><test-suite type="TestFixture" fullname="Ns.Fixture" name="Fixture">'
        '<test-case name="T" result="Passed" duration="0.5"/></test-suite></test-run>'
    )
    [case] = nunit3.iter_cases(path, suite="s", base_dir=tmp_path, repo_root=tmp_path)
    assert (case.classname, case.name, case.status, case.duration) == ("Ns.Fixture", "T", "passed", 0.5)


def test_xunit2() -> None:
    cases = list(xunit2.iter_cases(DOTNET / "xunit2.xml", suite="net", base_dir=SRC, repo_root=SRC))
    cls = "Calc.Tests.CalcTests"
    assert summary(cases) == [
        # an environmental error outside any test: an error case named after what failed
        (
            "test-class-cleanup",
            "Calc.Tests.DbTests",
            "error",
            "Calc.Tests/DbFixture.cs",
            14,
            "System.InvalidOperationException : the database was already closed",
        ),
        (cls, f"{cls}.AddsNumbers", "passed", None, None, ""),
        (
            cls,
            f"{cls}.FailsOnPurpose",
            "failed",
            "Calc.Tests/CalcTests.cs",
            21,
            "Assert.Equal() Failure: Values differ",
        ),
        # source-file/source-line, when the runner wrote them, win over the stack trace
        (
            cls,
            f"{cls}.AddsRows(a: 2, b: 2, expected: 5)",
            "failed",
            "Calc.Tests/CalcTests.cs",
            33,
            "Assert.Equal() Failure: Values differ",
        ),
        (cls, f"{cls}.AddsRows(a: 1, b: 2, expected: 3)", "passed", None, None, ""),
        (cls, f"{cls}.SkippedOnPurpose", "skipped", None, None, "not today"),
        (cls, f"{cls}.ExplicitOnly", "skipped", None, None, "not run"),
    ]
    assert [c.type for c in cases[:3]] == ["System.InvalidOperationException", "", "Xunit.Sdk.EqualException"]
    assert cases[1].stdout == "hello from stdout"
    assert cases[1].duration == 0.0012345


def test_xunit2_single_assembly_root_and_class_from_the_collection(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_text(
        '<assembly name="a.dll"><collection name="Test collection for X">'
        '<test name="X.T" time="0.25" result="Pass"/></collection></assembly>'
    )
    [case] = xunit2.iter_cases(path, suite="s", base_dir=tmp_path, repo_root=tmp_path)
    assert (case.classname, case.name, case.duration) == ("Test collection for X", "X.T", 0.25)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("00:00:01.2500000", 1.25),
        ("1.02:03:04", 93784.0),
        ("00:00:00", 0.0),
        ("-00:00:01", 0.0),
        ("25ms", 0.0),
        ("", 0.0),
        ("9999999.00:00:00", 0.0),  # 27,000 years: absurd
    ],
)
def test_trx_durations(value: str, seconds: float) -> None:
    assert trx.timespan(value) == seconds


def test_trx_without_definitions_has_no_class_and_a_wrong_root_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.trx"
    path.write_text(
        '<TestRun xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010"><Results>'
        '<UnitTestResult testId="x" testName="T" duration="00:00:00.5"/></Results></TestRun>'
    )
    [case] = trx.iter_cases(path, suite="s", base_dir=tmp_path, repo_root=tmp_path)
    # no outcome attribute is how the logger writes an error
    assert (case.classname, case.name, case.status, case.duration) == ("", "T", "error", 0.5)
    other = tmp_path / "other.trx"
    other.write_text("<testsuites/>")
    with pytest.raises(
        ResultFileError, match=re.escape("other.trx: the root element is <testsuites>, not <TestRun>")
    ):
        list(trx.iter_cases(other, suite="s", base_dir=tmp_path, repo_root=tmp_path))
