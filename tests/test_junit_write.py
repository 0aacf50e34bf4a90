"""The merged JUnit report: schema validity, flaky/rerun shape, hostile text, streaming."""

# ruff: noqa: S314 - the XML parsed here is our own output

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from conftest import SCHEMAS
from helpers import read_junit_files, suite

from qaagent.attempts import Rerun
from qaagent.junit.write import write_merged_junit
from qaagent.redact import Redactor
from qaagent.results import CaseStore, SuiteResult, TestCase
from qaagent.run_result import RunResult
from qaagent.text import clean_text, format_time, truncate

HOSTILE = "ESC\x1b[31mred\x1b[0m NUL\x00 BEL\x07 lone\ud800surrogate ]]> <tag> & \"q\" 'a' emoji😀 \ufffe end"
T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def qaagent_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(SCHEMAS / "junit-qaagent.xsd")


@pytest.fixture(scope="module")
def junit10_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(SCHEMAS / "junit-10.xsd")


def varied_run(start: float = T0, text: str = HOSTILE) -> RunResult:
    unit = [
        TestCase("unit", "tests.test_a", "test_pass", "passed", 0.1 + 0.2, file="tests/test_a.py", line=1),
        TestCase(
            "unit",
            "tests.test_a",
            "test_fail",
            "failed",
            1.0,
            file="tests/test_a.py",
            line=10,
            message=f"assert 1 == 2 {text}",
            type="AssertionError",
            details=f"Traceback {text}",
            stdout=f"out {text}",
            stderr=f"err {text}",
        ),
        TestCase(
            "unit",
            "tests.test_a",
            "test_flaky",
            "passed",
            0.5,
            attempts=3,
            flaky=True,
            reruns=(
                Rerun("failed", "first", "AssertionError", "tb1", "so1", "se1", 0.1),
                Rerun("error", "second", "", "tb2"),
            ),
        ),
        TestCase(
            "unit",
            "tests.test_a",
            "test_never",
            "failed",
            0.2,
            attempts=2,
            message="still broken",
            reruns=(Rerun("failed", "broken before", ""),),
        ),
        TestCase(
            "unit", "tests.test_a", "test_err", "error", -3.0, message="fixture", reruns=(Rerun("error"),)
        ),
        TestCase("unit", "tests.test_a", "test_skip", "skipped", float("nan"), message="not on linux"),
        TestCase(
            "unit", "tests.test_a", f"test_hostile[{text}]", "passed", 1e-9, file=f"odd/{text}.py", line=0
        ),
    ]
    crashed = [
        TestCase(
            "e2e", "e2e", "suite error", "error", 0.0, message="timed out after 60 s", details="log tail"
        )
    ]
    return RunResult(
        f"proj {text}",
        "20240101_000000Z",
        [
            suite("unit", unit, started_at=start, duration=1.5, command=("pytest", "-q", "unit")),
            suite(
                "e2e",
                crashed,
                error="timed out",
                started_at=start,
                duration=1.5,
                command=("pytest", "-q", "e2e"),
            ),
            suite("empty", [], started_at=start, duration=1.5, command=("pytest", "-q", "empty")),
        ],
        start,
        start + 7.25,
    )


def write(run: RunResult, tmp_path: Path, name: str = "junit.xml", max_output: int = 65536) -> Path:
    out = tmp_path / name
    write_merged_junit(run, out, redact=Redactor().redact, max_output=max_output)
    return out


def strip_extensions(path: Path) -> str:
    """The document as junit-10.xsd sees it: no testcase file/line, no testsuites skipped."""
    tree = ET.parse(path)
    root = tree.getroot()
    root.attrib.pop("skipped", None)
    for case in root.iter("testcase"):
        case.attrib.pop("file", None)
        case.attrib.pop("line", None)
    return ET.tostring(root, encoding="unicode")


def test_valid_against_both_schemas(
    tmp_path: Path, qaagent_schema: xmlschema.XMLSchema, junit10_schema: xmlschema.XMLSchema
) -> None:
    out = write(varied_run(), tmp_path)
    qaagent_schema.validate(str(out))
    junit10_schema.validate(strip_extensions(out))
    # the unstripped document really uses the extensions (so the junit-10 check is meaningful)
    assert not junit10_schema.is_valid(str(out))


@pytest.mark.parametrize(
    ("written", "changed"),
    [
        ('time="7.250"', 'time="7.25"'),  # seconds always carry three decimals
        ('tests="8"', 'tests="eight"'),
        ('<property name="runner"', '<property name="surprise"'),
        ("<properties>", "<properties><property/>"),  # name and value are required
        ('line="10"', 'line="0"'),  # 1-based
        ('<testcase name="test_pass"', '<testcase name="test_pass" group="g"'),  # we never write it
        ('<flakyFailure message="first" type="AssertionError">', '<flakyFailure message="first">'),
    ],
)
def test_the_qaagent_schema_is_as_strict_as_the_writer(
    tmp_path: Path, qaagent_schema: xmlschema.XMLSchema, written: str, changed: str
) -> None:
    text = write(varied_run(), tmp_path).read_text(encoding="utf-8")
    assert written in text
    assert qaagent_schema.is_valid(text)
    assert not qaagent_schema.is_valid(text.replace(written, changed, 1))


def test_the_qaagent_schema_fixes_the_order_of_a_test_cases_children(
    tmp_path: Path, qaagent_schema: xmlschema.XMLSchema
) -> None:
    text = write(varied_run(), tmp_path).read_text(encoding="utf-8")
    start = text.index('<testcase name="test_fail"')
    end = text.index("</testcase>", start)
    case = text[start:end]
    failure = case[case.index("<failure") : case.index("</failure>") + len("</failure>")]
    moved = case.replace(failure, "") + failure  # the outcome after system-out and system-err
    assert qaagent_schema.is_valid(text)
    assert not qaagent_schema.is_valid(text[:start] + moved + text[end:])


def test_totals_order_and_properties(tmp_path: Path) -> None:
    root = ET.parse(write(varied_run(), tmp_path)).getroot()
    assert root.attrib == {
        "name": "proj " + clean_text(HOSTILE),
        "tests": "8",
        "failures": "2",
        "errors": "2",
        "skipped": "1",
        "time": "7.250",
    }
    assert [s.get("name") for s in root.iter("testsuite")] == ["unit", "e2e", "empty"]
    unit = root.find("testsuite[@name='unit']")
    assert unit is not None
    assert (unit.get("tests"), unit.get("failures"), unit.get("errors"), unit.get("skipped")) == (
        "7",
        "2",
        "1",
        "1",
    )
    assert unit.get("timestamp") == "2023-11-14T22:13:20"
    props = {p.get("name"): p.get("value") for p in unit.iter("property")}
    assert props == {
        "written_by": "qaagent",
        "runner": "pytest",
        "attempts": "1",
        "returncode": "0",
        "command": "pytest -q unit",
        "timed_out": "false",
    }
    e2e = root.find("testsuite[@name='e2e']")
    assert e2e is not None
    assert {p.get("name"): p.get("value") for p in e2e.iter("property")}["error"] == "timed out"
    assert [c.get("name") for c in unit.iter("testcase")][:6] == [
        "test_pass",
        "test_fail",
        "test_flaky",
        "test_never",
        "test_err",
        "test_skip",
    ]


def test_flaky_and_rerun_elements(tmp_path: Path) -> None:
    root = ET.parse(write(varied_run(), tmp_path)).getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    flaky = cases["test_flaky"]
    assert [child.tag for child in flaky] == ["flakyFailure", "flakyError"]
    first, second = list(flaky)
    assert first.attrib == {"message": "first", "type": "AssertionError"}
    assert [(c.tag, c.text) for c in first] == [
        ("stackTrace", "tb1"),
        ("system-out", "so1"),
        ("system-err", "se1"),
    ]
    assert second.attrib == {"message": "second", "type": "error"}
    never = cases["test_never"]
    assert [child.tag for child in never] == ["failure", "rerunFailure"]
    assert never[1].attrib == {"message": "broken before", "type": "failure"}
    err = cases["test_err"]
    assert [child.tag for child in err] == ["error", "rerunError"]
    assert err[1].get("type") == "error"
    skip = cases["test_skip"]
    assert [(c.tag, c.get("message")) for c in skip] == [("skipped", "not on linux")]
    assert list(cases["test_pass"]) == []


def test_times_file_and_line(tmp_path: Path) -> None:
    root = ET.parse(write(varied_run(), tmp_path)).getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases["test_pass"].get("time") == "0.300"
    assert cases["test_err"].get("time") == "0.000"  # negative
    assert cases["test_skip"].get("time") == "0.000"  # NaN
    assert (cases["test_fail"].get("file"), cases["test_fail"].get("line")) == ("tests/test_a.py", "10")
    hostile = next(c for n, c in cases.items() if n and n.startswith("test_hostile"))
    assert hostile.get("line") is None  # 0 is not a 1-based line
    assert cases["test_flaky"].get("file") is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.1 + 0.2, "0.300"),
        (0, "0.000"),
        (-1, "0.000"),
        (1e-12, "0.000"),
        (1e20, "100000000000000000000.000"),
    ],
)
def test_format_time(seconds: float, text: str) -> None:
    assert format_time(seconds) == text
    assert re.fullmatch(r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?", text)


def test_hostile_text_is_visible_not_dropped(tmp_path: Path) -> None:
    out = write(varied_run(), tmp_path)
    raw = out.read_bytes()
    assert b"\x1b" not in raw
    assert b"\x00" not in raw
    raw.decode("utf-8")  # no lone surrogates could be encoded
    root = ET.parse(out).getroot()
    failure = root.find(".//testcase[@name='test_fail']/failure")
    assert failure is not None
    message = failure.get("message", "")
    assert "red" in message  # ANSI codes removed, the text kept
    assert "[31m" not in message
    assert "NUL\\x00" in message
    assert "BEL\\x07" in message
    assert "lone\\ud800surrogate" in message
    assert "\\ufffe" in message
    assert "]]> <tag> & \"q\" 'a' emoji😀" in message
    assert failure.text == "Traceback " + clean_text(HOSTILE)


def test_clean_text_examples() -> None:
    assert clean_text("plain") == "plain"
    assert clean_text("\x1b[1;32mok\x1b[0m") == "ok"
    assert clean_text("\x1b]8;;http://x\x07link\x1b]8;;\x07") == "link"
    assert clean_text("a\x00b\x0bc\x1bd") == "a\\x00b\\x0bc\\x1bd"
    assert clean_text("tab\tnl\ncr\r") == "tab\tnl\ncr\r"
    assert clean_text("\udcff") == "\\udcff"


def test_output_truncated_with_marker(tmp_path: Path) -> None:
    big = "x" * 50_000 + "é" * 10_000 + "TAIL"
    case = TestCase("s", "c", "n", "failed", stdout=big, stderr="short", details=big, message=big)
    run = RunResult("p", "r", [suite("s", [case])], T0, T0 + 1)
    root = ET.parse(write(run, tmp_path, max_output=1000)).getroot()
    testcase = root.find(".//testcase")
    assert testcase is not None
    out = testcase.findtext("system-out") or ""
    assert "qaagent: " in out
    assert "bytes truncated" in out
    assert out.startswith("x" * 400)
    assert out.endswith("TAIL")
    assert len(out.encode()) < 1200
    assert testcase.findtext("system-err") == "short"
    assert len(testcase.findtext("failure") or "") < 1200


def test_truncate_counts_bytes_not_characters() -> None:
    assert truncate("é" * 10, 100) == "é" * 10
    cut = truncate("é" * 100, 20)
    assert cut.startswith("é" * 5)
    assert "180 of 200 bytes truncated" in cut


def test_same_content_same_bytes_apart_from_times(tmp_path: Path) -> None:
    first = write(varied_run(start=T0), tmp_path, "a.xml").read_text(encoding="utf-8")
    second = write(varied_run(start=T0 + 3600), tmp_path, "b.xml").read_text(encoding="utf-8")
    assert first != second
    drop_times = re.compile(r' (time|timestamp)="[^"]*"')
    assert drop_times.sub("", first) == drop_times.sub("", second)
    assert write(varied_run(start=T0), tmp_path, "c.xml").read_text(encoding="utf-8") == first


def test_secrets_redacted(tmp_path: Path) -> None:
    case = TestCase(
        "s",
        "c",
        "n",
        "failed",
        message="token hunter2-secret leaked",
        stdout="GET /\nAuthorization: Bearer abc.def\nok",
    )
    run = RunResult("p", "r", [suite("s", [case])], T0, T0 + 1)
    out = tmp_path / "j.xml"
    write_merged_junit(run, out, redact=Redactor(["hunter2-secret"]).redact)
    text = out.read_text(encoding="utf-8")
    assert "hunter2" not in text
    assert "abc.def" not in text
    assert "token *** leaked" in text
    assert "Authorization: ***\nok" in text


def test_atomic_write_leaves_no_temp_and_keeps_old_on_failure(tmp_path: Path) -> None:
    out = write(varied_run(), tmp_path)
    before = out.read_bytes()

    class BoomError(Exception):
        pass

    def explode(case: TestCase) -> None:
        raise BoomError

    with pytest.raises(BoomError):
        write_merged_junit(varied_run(), out, redact=Redactor().redact, on_case=explode)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["junit.xml"]


@pytest.mark.slow
def test_many_cases_stream_in_order(tmp_path: Path, qaagent_schema: xmlschema.XMLSchema) -> None:
    cases = (TestCase("big", "c", f"t{i:05d}", "passed", 0.001) for i in range(CaseStore.SPILL_AT * 2 + 7))
    store = CaseStore(cases)
    run = RunResult("p", "r", [SuiteResult("big", "pytest", store)], T0, T0 + 1)
    out = write(run, tmp_path)
    qaagent_schema.validate(str(out))
    names = [c.get("name") for c in ET.parse(out).getroot().iter("testcase")]
    assert names == [f"t{i:05d}" for i in range(CaseStore.SPILL_AT * 2 + 7)]
    store.close()


def test_empty_run(tmp_path: Path, qaagent_schema: xmlschema.XMLSchema) -> None:
    out = write(RunResult("p", "r", [], T0, T0), tmp_path)
    qaagent_schema.validate(str(out))
    assert ET.parse(out).getroot().get("tests") == "0"


@pytest.mark.slow
def test_real_pytest_output_round_trip(
    tmp_path: Path, qaagent_schema: xmlschema.XMLSchema, junit10_schema: xmlschema.XMLSchema
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "test_sample.py").write_text(
        "import sys, pytest\n"
        "def test_ok():\n    print('hello \\x1b[32mgreen\\x1b[0m')\n"
        "def test_bad():\n    assert 1 == 2, 'nul \\x00 here'\n"
        "@pytest.mark.skip(reason='later')\n"
        "def test_skip():\n    pass\n"
        "@pytest.fixture\n"
        "def broken():\n    raise RuntimeError('fixture broke')\n"
        "def test_err(broken):\n    pass\n",
        encoding="utf-8",
    )
    report = project / "report.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
            "-o",
            "junit_family=xunit1",
        ],
        cwd=project,
        capture_output=True,
        check=False,
        timeout=60,
    )
    cases, problems = read_junit_files([report], suite="unit", base_dir=project, repo_root=tmp_path)
    assert problems == []
    run = RunResult("p", "r", [suite("unit", cases)], T0, T0 + 1)
    out = write(run, tmp_path)
    qaagent_schema.validate(str(out))
    junit10_schema.validate(strip_extensions(out))
    statuses = {c.get("name"): [child.tag for child in c] for c in ET.parse(out).getroot().iter("testcase")}
    assert statuses["test_bad"][0] == "failure"
    assert statuses["test_skip"][0] == "skipped"
    assert statuses["test_err"][0] == "error"
    bad = next(c for c in ET.parse(out).getroot().iter("testcase") if c.get("name") == "test_bad")
    assert bad.get("file") == "proj/test_sample.py"
    assert int(bad.get("line", "0")) >= 1
