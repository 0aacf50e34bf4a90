"""The JUnit reader on real reports (golden fixtures) and on each mapping rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import read_junit_files

from qaagent.errors import JUnitError
from qaagent.formats import source
from qaagent.junit.read import iter_junit_cases
from qaagent.results import TestCase

FIXTURES = Path(__file__).parent / "fixtures" / "junit"
PROJECT = FIXTURES / "project"
#: where scripts/regen-junit-fixtures.sh ran the tools (absolute paths in reports name it)
GENERATED_IN = Path("/tmp/qaagent-junit-fixtures/project")


def summary(cases: list[TestCase]) -> list[tuple[str, str, str | None, int | None, bool, int]]:
    return [(c.name, c.status, c.file, c.line, c.flaky, c.attempts) for c in cases]


def read_one(path: Path, base_dir: Path, repo_root: Path | None = None) -> list[TestCase]:
    cases, errors = read_junit_files(
        [path], suite="suite", base_dir=base_dir, repo_root=repo_root or base_dir
    )
    assert errors == []
    return cases


def write(tmp_path: Path, text: str, name: str = "report.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- golden fixtures from the real tools --------------------------------------------------


def test_pytest_xunit1_lines_become_one_based() -> None:
    cases = read_one(FIXTURES / "pytest-xunit1.xml", PROJECT)
    # checks_sample.py: test_passes is defined on line 11, test_fails fails on 16, ...
    assert summary(cases) == [
        ("test_passes", "passed", "tests/checks_sample.py", 11, False, 1),
        ("test_fails", "failed", "tests/checks_sample.py", 16, False, 1),
        ("test_errors", "error", "tests/checks_sample.py", 8, False, 1),
        ("test_skipped", "skipped", "tests/checks_sample.py", 23, False, 1),
        ("test_in_class", "passed", "tests/checks_sample.py", 29, False, 1),
    ]
    source = (PROJECT / "tests" / "checks_sample.py").read_text().splitlines()
    failing, erroring = cases[1].line, cases[2].line
    assert failing is not None
    assert erroring is not None
    # the failing line, from the traceback's "tests/checks_sample.py:16: AssertionError"
    assert source[failing - 1].strip() == 'assert 1 + 1 == 3, "arithmetic is broken"'
    # test_errors fails in its fixture, in the same file ("tests/checks_sample.py:8: RuntimeError")
    assert source[erroring - 1].strip() == 'raise RuntimeError("fixture exploded")'
    # the others: the def line
    for case in [cases[0], *cases[3:]]:
        assert case.line is not None
        # pytest points at the first line of the definition, decorators included
        definition = source[case.line - 1 :]
        while definition[0].startswith("@"):
            definition = definition[1:]
        assert definition[0].lstrip().startswith(f"def {case.name}(")
    failed = cases[1]
    assert failed.classname == "tests.checks_sample"
    assert failed.message == "AssertionError: arithmetic is broken\nassert (1 + 1) == 3"
    assert failed.type == ""
    assert "tests/checks_sample.py:16: AssertionError" in failed.details
    assert cases[2].message == 'failed on setup with "RuntimeError: fixture exploded"'
    assert cases[3].message == "not today"
    assert cases[3].type == "pytest.skip"
    assert cases[4].classname == "tests.checks_sample.TestGroup"
    assert all(c.suite == "suite" for c in cases)


def test_pytest_xunit2_file_comes_from_the_classname() -> None:
    cases = read_one(FIXTURES / "pytest-xunit2.xml", PROJECT)
    assert summary(cases) == [
        ("test_passes", "passed", "tests/checks_sample.py", None, False, 1),
        # xunit2 writes no line; the traceback names the failing one
        ("test_fails", "failed", "tests/checks_sample.py", 16, False, 1),
        ("test_errors", "error", "tests/checks_sample.py", 8, False, 1),
        ("test_skipped", "skipped", "tests/checks_sample.py", None, False, 1),
        ("test_in_class", "passed", "tests/checks_sample.py", None, False, 1),
    ]


def test_pytest_xunit2_file_is_relative_to_the_repository_root() -> None:
    cases = read_one(FIXTURES / "pytest-xunit2.xml", PROJECT, repo_root=FIXTURES.parent.parent.parent)
    assert {c.file for c in cases} == {"tests/fixtures/junit/project/tests/checks_sample.py"}


def test_pytest_xunit2_without_the_module_on_disk_has_no_file(tmp_path: Path) -> None:
    cases = read_one(FIXTURES / "pytest-xunit2.xml", tmp_path)
    assert {c.file for c in cases} == {None}


def test_behave_location_comes_from_the_failure_text() -> None:
    cases = read_one(FIXTURES / "behave" / "TESTS-sample.xml", PROJECT)
    assert summary(cases) == [
        ("Adding works", "passed", None, None, False, 1),
        ("Adding is broken", "failed", "features/sample.feature", 11, False, 1),
    ]
    failed = cases[1]
    assert failed.classname == "sample.Sample arithmetic"
    assert failed.message == "expected 3, got 2"
    assert failed.type == "AssertionError"
    assert "Scenario: Adding is broken" in failed.stdout
    source = (PROJECT / "features" / "sample.feature").read_text().splitlines()
    assert source[10].strip() == "Then the result is 3"


def test_playwright_with_retries_is_flaky_and_has_reruns() -> None:
    cases = read_one(FIXTURES / "playwright-retries.xml", GENERATED_IN)
    assert summary(cases) == [
        ("page shows a heading", "passed", None, None, False, 1),
        ("heading is wrong", "failed", "e2e/sample.spec.ts", 10, False, 2),
        ("passes on retry", "passed", "e2e/sample.spec.ts", 15, True, 2),
        ("skipped on purpose", "skipped", None, None, False, 1),
    ]
    wrong, flaky = cases[1], cases[2]
    assert wrong.classname == "sample.spec.ts"
    assert wrong.type == "expect.toHaveText"
    assert [(r.status, r.type, r.duration) for r in wrong.reruns] == [("failed", "expect.toHaveText", 0.74)]
    assert "Retry #1" in wrong.details
    assert [(r.status, r.message, r.duration) for r in flaky.reruns] == [
        ("failed", "fails on the first attempt", 0.371)
    ]
    assert "Expected: 1" in flaky.reruns[0].details
    assert "[[ATTACHMENT|" in flaky.reruns[0].stdout
    assert flaky.duration == 0.479
    assert flaky.message == ""


def test_playwright_spec_path_from_the_test_dir(tmp_path: Path) -> None:
    """classname is relative to Playwright's testDir: base_dir=testDir finds passing tests' files."""
    project = tmp_path / "project"
    (project / "e2e").mkdir(parents=True)
    (project / "e2e" / "sample.spec.ts").write_text("// spec\n")
    cases, errors = read_junit_files(
        [FIXTURES / "playwright-plain.xml"], suite="e2e", base_dir=project / "e2e", repo_root=project
    )
    assert errors == []
    assert [(c.name, c.file) for c in cases] == [
        ("page shows a heading", "e2e/sample.spec.ts"),
        # the stack frame names /tmp/qaagent-junit-fixtures/..., outside this project: kept as given
        ("heading is wrong", str(GENERATED_IN / "e2e" / "sample.spec.ts")),
        ("passes on retry", "e2e/sample.spec.ts"),
        ("skipped on purpose", "e2e/sample.spec.ts"),
    ]


def test_playwright_without_retry_details_reports_the_final_outcome() -> None:
    cases = read_one(FIXTURES / "playwright-plain.xml", GENERATED_IN)
    assert summary(cases) == [
        ("page shows a heading", "passed", None, None, False, 1),
        ("heading is wrong", "failed", "e2e/sample.spec.ts", 10, False, 1),
        ("passes on retry", "passed", None, None, False, 1),
        ("skipped on purpose", "skipped", None, None, False, 1),
    ]


def test_jest_junit_file_attribute_and_line_from_the_stack() -> None:
    cases = read_one(FIXTURES / "jest-junit.xml", GENERATED_IN)
    assert summary(cases) == [
        ("arithmetic adds", "passed", "jest/sample.test.js", None, False, 1),
        ("arithmetic is broken", "failed", "jest/sample.test.js", 6, False, 1),
        ("arithmetic skipped", "skipped", "jest/sample.test.js", None, False, 1),
    ]
    assert "Expected: 3" in cases[1].details


def test_surefire_flaky_and_rerun_elements() -> None:
    cases = read_one(FIXTURES / "surefire-flaky.xml", PROJECT)
    assert summary(cases) == [
        ("addsItem", "passed", None, None, False, 1),
        ("checkoutIsFlaky", "passed", None, None, True, 3),
        ("refundFails", "failed", None, None, False, 3),
        ("", "passed", None, None, False, 1),  # no name: the identity stays empty
    ]
    flaky = cases[1]
    assert [(r.status, r.message, r.type, r.duration) for r in flaky.reruns] == [
        ("failed", "expected: <200> but was: <503>", "org.opentest4j.AssertionFailedError", 0.21),
        ("error", "Connection refused", "java.net.ConnectException", 0.05),
    ]
    assert flaky.reruns[0].details.startswith("org.opentest4j.AssertionFailedError")
    assert flaky.reruns[0].stdout == "attempt 1\n"
    assert flaky.reruns[1].stderr == "warning: retrying\n"
    refund = cases[2]
    assert refund.message == "refund rejected"
    assert [r.message for r in refund.reruns] == ["refund rejected", "refund rejected again"]
    assert cases[3].duration == 0.0  # time="NaN"


def test_behave_writes_one_file_per_feature_and_all_are_read() -> None:
    files = sorted((FIXTURES / "behave").glob("TESTS-*.xml"))
    cases, errors = read_junit_files(files + files, suite="behave", base_dir=PROJECT, repo_root=PROJECT)
    assert errors == []
    assert [c.name for c in cases] == ["Adding works", "Adding is broken"] * 2


# -- mapping rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.5", 1.5),
        (" 2 ", 2.0),
        ("-1", 0.0),
        ("NaN", 0.0),
        ("inf", 0.0),
        ("-inf", 0.0),
        ("1e400", 0.0),
        ("abc", 0.0),
        ("", 0.0),
        ("1,234.5", 0.0),
    ],
)
def test_odd_durations_become_zero(tmp_path: Path, value: str, expected: float) -> None:
    path = write(tmp_path, f'<testsuite><testcase classname="c" name="t" time="{value}"/></testsuite>')
    assert read_one(path, tmp_path)[0].duration == expected


def test_missing_time_is_zero(tmp_path: Path) -> None:
    path = write(tmp_path, '<testsuite><testcase classname="c" name="t"/></testsuite>')
    assert read_one(path, tmp_path)[0].duration == 0.0


def test_unnamed_cases_keep_the_identity_the_tool_gave(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '<testsuite name="S"><testcase/><testcase name=""/><testcase classname="" name="t"/>'
        '<testcase classname="" name=""><failure message="m"/></testcase></testsuite>',
    )
    cases = read_one(path, tmp_path)
    # a missing classname falls back to the suite's name; an empty one, or an empty name, stays empty
    assert [(c.classname, c.name) for c in cases] == [("S", ""), ("S", ""), ("", "t"), ("", "")]


def test_nested_suites_are_flattened_in_document_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """<testsuites>
          <testsuite name="outer">
            <testcase classname="a" name="1"/>
            <testsuite name="inner"><testcase name="2"/><testsuite name="deeper"><testcase name="3"/></testsuite></testsuite>
            <testcase name="4"/>
          </testsuite>
          <testsuite name="second"><testcase classname="b" name="5"/></testsuite>
        </testsuites>""",
    )
    cases = read_one(path, tmp_path)
    assert [(c.classname, c.name) for c in cases] == [
        ("a", "1"),
        ("inner", "2"),
        ("deeper", "3"),
        ("outer", "4"),
        ("b", "5"),
    ]


def test_output_only_from_the_testcase_level(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """<testsuite><system-out>suite out</system-out>
          <testcase classname="c" name="t"><system-out>one </system-out><system-out>two</system-out>
            <system-err>err</system-err></testcase>
          <system-err>suite err</system-err></testsuite>""",
    )
    case = read_one(path, tmp_path)[0]
    assert (case.stdout, case.stderr) == ("one two", "err")


def test_text_is_kept_raw(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '<testsuite><testcase classname="c" name="t"><failure message=" m &#9;">'
        "<![CDATA[\n  <b>raw</b> &amp; \n]]></failure></testcase></testsuite>",
    )
    case = read_one(path, tmp_path)[0]
    assert case.message == " m \t"
    assert case.details == "\n  <b>raw</b> &amp; \n"


def test_first_failure_decides_and_later_ones_are_appended(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '<testsuite><testcase classname="c" name="t"><skipped message="s"/>'
        '<failure message="call failed" type="AssertionError">call</failure>'
        '<error message="teardown">teardown trace</error></testcase></testsuite>',
    )
    case = read_one(path, tmp_path)[0]
    assert (case.status, case.message, case.type) == ("failed", "call failed", "AssertionError")
    assert case.details == "call\n\nteardown trace"


def test_error_element_gives_error_status(tmp_path: Path) -> None:
    path = write(
        tmp_path, '<testsuite><testcase name="t"><error message="boom" type="E"/></testcase></testsuite>'
    )
    case = read_one(path, tmp_path)[0]
    assert (case.status, case.message, case.type, case.details) == ("error", "boom", "E", "")


def test_huge_fields_are_truncated_with_a_marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source, "MAX_FIELD_BYTES", 100)
    body = "é" * 80  # 160 bytes
    path = write(
        tmp_path,
        f'<testsuite><testcase name="t"><failure message="{"m" * 150}">{body}</failure>'
        f"<system-out>{'o' * 1000}</system-out></testcase></testsuite>",
    )
    case = read_one(path, tmp_path)[0]
    assert case.details == "é" * 50 + "\n… [truncated 60 bytes]"
    assert case.message == "m" * 100 + "\n… [truncated 50 bytes]"
    assert case.stdout == "o" * 100 + "\n… [truncated 900 bytes]"


def test_default_field_limit_is_64_kib(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'<testsuite><testcase name="t"><system-err>{"x" * 70000}</system-err></testcase></testsuite>',
    )
    case = read_one(path, tmp_path)[0]
    assert case.stderr == "x" * 65536 + "\n… [truncated 4464 bytes]"


@pytest.mark.parametrize(
    ("attributes", "expected_line"),
    [
        # pytest xunit1 (exactly its attributes): 0-based
        ('classname="t.test_a" name="x" file="t/test_a.py" line="0" time="1"', 1),
        # PHPUnit adds class/assertions: 1-based as written
        ('name="x" class="A" classname="A" file="t/test_a.py" line="7" assertions="1" time="1"', 7),
        # file and line but other attributes: taken as 1-based
        ('name="x" file="t/test_a.py" line="7"', 7),
        ('name="x" file="t/test_a.py" line="-4"', None),
        ('name="x" file="t/test_a.py" line="seven"', None),
        ('name="x" file="t/test_a.py" line="0"', None),
    ],
)
def test_line_conventions(tmp_path: Path, attributes: str, expected_line: int | None) -> None:
    path = write(tmp_path, f"<testsuite><testcase {attributes}/></testsuite>")
    case = read_one(path, tmp_path)[0]
    assert (case.file, case.line) == ("t/test_a.py", expected_line)


def test_suite_named_pytest_means_zero_based(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '<testsuites><testsuite name="pytest"><testcase classname="a" name="x" file="a.py" line="4" '
        'time="0" url="http://x"/></testsuite></testsuites>',
    )
    assert read_one(path, tmp_path)[0].line == 5


def test_file_paths_relative_to_the_repository_root(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    base = repo / "services" / "api"
    base.mkdir(parents=True)
    outside = tmp_path / "elsewhere" / "x.py"
    path = write(
        tmp_path,
        f"""<testsuite>
          <testcase name="rel" file="tests/test_a.py"/>
          <testcase name="dotdot" file="../common/test_b.py"/>
          <testcase name="abs-inside" file="{repo}/lib/test_c.py"/>
          <testcase name="abs-outside" file="{outside}"/>
          <testcase name="escapes" file="../../../etc/passwd"/>
          <testcase name="windows" file="tests\\test_w.py"/>
        </testsuite>""",
    )
    cases, errors = read_junit_files([path], suite="s", base_dir=base, repo_root=repo)
    assert errors == []
    assert [(c.name, c.file) for c in cases] == [
        ("rel", "services/api/tests/test_a.py"),
        ("dotdot", "services/common/test_b.py"),
        ("abs-inside", "lib/test_c.py"),
        ("abs-outside", str(outside)),
        ("escapes", "../../../etc/passwd"),
        ("windows", "services/api/tests/test_w.py"),
    ]


def test_file_paths_are_not_resolved_through_symlinks(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "t.py").write_text("")
    (repo / "link").symlink_to(secret)
    path = write(repo, '<testsuite><testcase name="t" file="link/t.py"/></testsuite>')
    assert read_one(path, repo)[0].file == "link/t.py"


def test_cases_stream_before_the_file_ends(tmp_path: Path) -> None:
    body = "".join(f'<testcase classname="c" name="t{i}"/>' for i in range(5000))
    path = write(tmp_path, f"<testsuite>{body}</testsuite>")
    stream = iter_junit_cases(path, suite="s", base_dir=tmp_path, repo_root=tmp_path)
    assert next(stream).name == "t0"
    assert sum(1 for _ in stream) == 4999


def test_root_testsuite_and_xml_declaration_in_other_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin.xml"
    path.write_bytes(
        b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<testsuite><testcase name="caf\xe9"/></testsuite>'
    )
    assert read_one(path, tmp_path)[0].name == "café"


def test_iter_raises_a_junit_error_that_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "nope")
    with pytest.raises(JUnitError, match=r"^report\.xml: is not XML"):
        list(iter_junit_cases(path, suite="s", base_dir=tmp_path, repo_root=tmp_path))


def test_playwright_skip_reason_property_becomes_the_message(tmp_path: Path) -> None:
    report = tmp_path / "pw.xml"
    report.write_text(
        '<testsuites><testsuite name="items.spec.js">'
        '<testcase name="loads" classname="items.spec.js" time="0">'
        '<properties><property name="skip" value="no Chromium found: install one"></property></properties>'
        "<skipped></skipped></testcase>"
        '<testcase name="other" classname="items.spec.js" time="0">'
        '<properties><property name="owner" value="team"></property></properties></testcase>'
        "</testsuite></testsuites>",
        encoding="utf-8",
    )
    skipped, passed = iter_junit_cases(report, suite="e2e", base_dir=tmp_path, repo_root=tmp_path)
    assert skipped.status == "skipped"
    assert skipped.message == "no Chromium found: install one"
    assert passed.status == "passed"
    assert passed.message == ""
