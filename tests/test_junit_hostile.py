"""Hostile and broken JUnit input: every case ends in a clear JUnitError, never a crash or hang."""

from __future__ import annotations

import os
import subprocess
import tracemalloc
from pathlib import Path

import pytest
from helpers import read_junit_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qaagent.errors import JUnitError
from qaagent.formats import source
from qaagent.junit import parse
from qaagent.junit.read import iter_junit_cases
from qaagent.results import TestCase

CORPUS = Path(__file__).parent / "corpus" / "junit"


def read_all(path: Path, root: Path) -> tuple[list[TestCase], list[str]]:
    return read_junit_files([path], suite="s", base_dir=root, repo_root=root)


def refused(path: Path, root: Path) -> tuple[list[TestCase], str]:
    cases, errors = read_all(path, root)
    assert len(errors) == 1, errors
    assert "\n" not in errors[0]
    return cases, errors[0]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("billion-laughs.xml", "refused: the DOCTYPE declares an entity ('lol'); JUnit needs none"),
        (
            "external-entity-system.xml",
            "refused: the DOCTYPE declares an entity ('secret'); JUnit needs none",
        ),
        ("parameter-entity.xml", "refused: the DOCTYPE declares an entity ('remote'); JUnit needs none"),
        ("external-dtd-public.xml", "refused: the DOCTYPE names an external DTD (SYSTEM/PUBLIC)"),
        ("not-xml.txt", "is not XML (syntax error at line 1, column 1)"),
        ("wrong-root.xml", "the root element is <html>, not <testsuites> or <testsuite>"),
    ],
)
def test_corpus_files_are_refused_with_a_reason(name: str, reason: str) -> None:
    root = CORPUS.parent.parent.parent
    cases, error = refused(CORPUS / name, root)
    assert cases == []
    assert error == f"tests/corpus/junit/{name}: {reason}"


def test_a_plain_doctype_is_fine() -> None:
    cases, errors = read_all(CORPUS / "plain-doctype.xml", CORPUS)
    assert errors == []
    assert [c.name for c in cases] == ["ok"]


def test_truncated_file_keeps_the_cases_before_the_cut() -> None:
    cases, error = refused(CORPUS / "truncated.xml", CORPUS)
    assert [(c.name, c.status, c.message) for c in cases] == [
        ("first", "passed", ""),
        ("second", "failed", "boom"),
    ]
    assert error == "truncated.xml: the XML ends early (truncated?) at line 5, column 1"


def test_iter_yields_cases_then_raises_on_truncation() -> None:
    stream = iter_junit_cases(CORPUS / "truncated.xml", suite="s", base_dir=CORPUS, repo_root=CORPUS)
    assert next(stream).name == "first"
    assert next(stream).name == "second"
    with pytest.raises(JUnitError, match="truncated"):
        next(stream)


def test_invalid_utf8_is_repaired() -> None:
    cases, errors = read_all(CORPUS / "invalid-utf8.xml", CORPUS)
    assert errors == []
    assert [(c.name, c.status, c.message) for c in cases] == [
        ("before", "passed", ""),
        ("bad \ufffd\ufffd utf8", "failed", "caf\ufffd"),
        ("after", "passed", ""),
    ]
    assert cases[1].details == "latin-1 \ufffd in utf-8"


def test_behave_esc_byte_in_attributes_is_repaired() -> None:
    cases, errors = read_all(CORPUS / "behave-esc-byte.xml", CORPUS)
    assert errors == []
    [case] = cases
    assert (case.name, case.status, case.message) == ("Coloured output", "failed", "red")
    assert (case.file, case.line) == ("features/colours.feature", 7)
    assert "\x1b" not in case.details


def test_illegal_character_reference_is_repaired() -> None:
    cases, errors = read_all(CORPUS / "illegal-char-ref.xml", CORPUS)
    assert errors == []
    assert [c.name for c in cases] == ["ref "]


def test_repair_does_not_repeat_cases_already_yielded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source, "CHUNK_BYTES", 64)  # the first pass yields cases before the bad byte
    good = "".join(f'<testcase classname="c" name="t{i}"/>' for i in range(50))
    path = tmp_path / "r.xml"
    path.write_bytes(
        f"<testsuite>{good}".encode() + b'<testcase name="x\x1b"/>' + good.encode() + b"</testsuite>"
    )
    cases, errors = read_all(path, tmp_path)
    assert errors == []
    assert [c.name for c in cases] == [f"t{i}" for i in range(50)] + ["x"] + [f"t{i}" for i in range(50)]


def test_unrepairable_after_repair_reports_both(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_bytes(b'<testsuite><testcase name="a\x1b"/><testcase name="b"></testsuite>')
    cases, error = refused(path, tmp_path)
    assert [c.name for c in cases] == ["a"]
    assert error.startswith("r.xml: is not well-formed XML (mismatched tag")
    assert "(first error: is not well-formed XML (not well-formed (invalid token)" in error


def test_file_over_the_size_limit_is_refused_without_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.xml"
    subprocess.run(["truncate", "-s", "300M", str(path)], check=True)  # sparse: no 300 MB write
    cases, error = refused(path, tmp_path)
    assert cases == []
    assert error == f"huge.xml: is {300 * 1024 * 1024} bytes, more than the 268435456 byte limit"


def test_size_limit_is_configurable_and_enforced_while_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.xml"
    path.write_text("<testsuite>" + '<testcase name="t"/>' * 1000 + "</testsuite>")
    monkeypatch.setattr(source, "MAX_FILE_BYTES", 10_000)
    monkeypatch.setattr(source, "CHUNK_BYTES", 1000)
    _, error = refused(path, tmp_path)
    assert "more than the 10000 byte limit" in error
    # a file that grows after the size check is still cut off while reading
    monkeypatch.setattr(source, "check_kind", lambda *_: None)
    cases, error = refused(path, tmp_path)
    assert error == "r.xml: is larger than the 10000 byte limit"
    assert 0 < len(cases) < 1000


def test_directory_missing_empty_and_fifo(tmp_path: Path) -> None:
    (tmp_path / "dir.xml").mkdir()
    (tmp_path / "empty.xml").write_bytes(b"")
    (tmp_path / "blank.xml").write_bytes(b"  \n")
    os.mkfifo(tmp_path / "fifo.xml")  # nobody writes: a blocking open would hang
    paths = [tmp_path / n for n in ("dir.xml", "missing.xml", "empty.xml", "blank.xml", "fifo.xml")]
    cases, errors = read_junit_files(paths, suite="s", base_dir=tmp_path, repo_root=tmp_path)
    assert cases == []
    assert errors == [
        "dir.xml: is a directory, not a JUnit file",
        "missing.xml: no such file",
        "empty.xml: is empty",
        "blank.xml: contains no XML element",
        "fifo.xml: is not a regular file",
    ]


def test_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    path = tmp_path / "r.xml"
    path.write_text("<testsuite/>")
    path.chmod(0)
    _, error = refused(path, tmp_path)
    assert error == "r.xml: cannot be opened (Permission denied)"


def test_symlink_pointing_outside_the_project_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    secret = tmp_path / "secret.xml"
    secret.write_text('<testsuite><testcase name="leak"/></testsuite>')
    (repo / "report.xml").symlink_to(secret)
    (repo / "inside.xml").write_text('<testsuite><testcase name="fine"/></testsuite>')
    (repo / "link-inside.xml").symlink_to(repo / "inside.xml")
    paths = [repo / "report.xml", repo / "link-inside.xml"]
    cases, errors = read_junit_files(paths, suite="s", base_dir=repo, repo_root=repo)
    assert [c.name for c in cases] == ["fine"]
    assert errors == [f"report.xml: refused: it points outside the project (to {secret})"]


def test_symlink_elsewhere_pointing_outside_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "r.xml").symlink_to("/etc/hostname")
    _, errors = read_junit_files([reports / "r.xml"], suite="s", base_dir=repo, repo_root=repo)
    assert len(errors) == 1
    assert "points outside the project" in errors[0]


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.xml"
    path.write_text("<testsuites>" + "<testsuite>" * 100_000 + "</testsuite>" * 100_000 + "</testsuites>")
    _, error = refused(path, tmp_path)
    assert error == "deep.xml: elements are nested deeper than 256 levels"


def test_deep_nesting_inside_a_testcase_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.xml"
    path.write_text('<testsuite><testcase name="t">' + "<x>" * 300 + "</x>" * 300 + "</testcase></testsuite>")
    _, error = refused(path, tmp_path)
    assert "nested deeper than 256 levels" in error


def test_huge_number_of_attributes_is_refused(tmp_path: Path) -> None:
    attributes = " ".join(f'a{i}="{i}"' for i in range(50_000))
    path = tmp_path / "attrs.xml"
    path.write_text(f'<testsuite><testcase name="ok"/><testcase {attributes}/></testsuite>')
    cases, error = refused(path, tmp_path)
    assert [c.name for c in cases] == ["ok"]
    assert error == "attrs.xml: <testcase> has 50000 attributes (limit 256)"


def test_many_children_and_reruns_stay_bounded(tmp_path: Path) -> None:
    reruns = '<rerunFailure message="again"><stackTrace>t</stackTrace></rerunFailure>' * 5000
    junk = "<property/>" * 50_000
    path = tmp_path / "r.xml"
    path.write_text(
        f'<testsuite><testcase name="t"><properties>{junk}</properties><failure/>{reruns}</testcase></testsuite>'
    )
    cases, errors = read_all(path, tmp_path)
    assert errors == []
    assert cases[0].status == "failed"
    assert len(cases[0].reruns) == parse.MAX_RERUNS


def test_undefined_entity_is_an_error_not_an_expansion(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_text('<testsuite><testcase name="&xxe;"/></testsuite>')
    _, error = refused(path, tmp_path)
    assert error == "r.xml: is not well-formed XML (undefined entity at line 1, column 12)"


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(max_size=400)
    | st.text(alphabet='<>/="& abtsuiecnx\x1b\xff\n', max_size=300).map(str.encode)
)
def test_arbitrary_bytes_never_escape_as_another_exception(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.xml"
    path.write_bytes(b"<testsuite>" + data)
    cases, errors = read_junit_files([path], suite="s", base_dir=tmp_path, repo_root=tmp_path)
    assert all(isinstance(case, TestCase) for case in cases)
    assert all(error.startswith("fuzz.xml: ") and "\n" not in error for error in errors)


def _big_report(path: Path, count: int) -> None:
    case = '<testcase classname="pkg.test_mod.TestClass" name="test_{0}" time="0.001"><system-out>out {0}</system-out></testcase>\n'
    with path.open("w", encoding="utf-8") as handle:
        handle.write('<?xml version="1.0"?>\n<testsuites><testsuite name="big">\n')
        for start in range(0, count, 1000):
            handle.write("".join(case.format(i) for i in range(start, min(start + 1000, count))))
        handle.write("</testsuite></testsuites>\n")


@pytest.mark.slow
def test_memory_stays_flat_on_100_000_cases(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    _big_report(path, 100_000)
    assert path.stat().st_size > 10_000_000
    tracemalloc.start()
    try:
        count = 0
        last = ""
        for case in iter_junit_cases(path, suite="s", base_dir=tmp_path, repo_root=tmp_path):
            count += 1
            last = case.stdout
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 100_000
    assert last == "out 99999"
    assert peak < 30 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
