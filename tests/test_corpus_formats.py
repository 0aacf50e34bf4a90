"""Hostile and broken input for every result format (tests/corpus/<format>/; see its README).

Every stored file has an entry in EXPECTED: the cases read before the problem and
the one-line reason (or None: read as described). Large inputs — past the size
limit, nested a hundred thousand deep, one endless line, a 10 MB string — are
generated here, not stored. Each read must end within seconds, with a
`ResultFileError` at worst, and never another exception.
"""

from __future__ import annotations

import os
import subprocess
import time
import tracemalloc
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from qaagent.attempts import Attempt
from qaagent.errors import ResultFileError
from qaagent.formats import jsonstream, source, tap
from qaagent.formats.read import FORMATS, read_results
from qaagent.junit.write import write_merged_junit
from qaagent.redact import Redactor
from qaagent.results import CaseStore, SuiteResult, TestCase
from qaagent.run_result import RunResult

CORPUS = Path(__file__).parent / "corpus"
FOLDERS = {
    "trx": "trx",
    "nunit3": "nunit3",
    "xunit2": "xunit2",
    "gotest": "go-test-json",
    "tap": "tap",
    "cucumber": "cucumber-json",
    "mocha": "mocha-json",
}
#: how many seconds reading one corpus file may take (generous: the machine is shared)
SECONDS = 10.0

#: file -> (names of the cases read, in order; the reason, or None when the file reads without error)
EXPECTED: dict[str, tuple[list[str], str | None]] = {
    # TRX
    "trx/absurd-values.trx": (["forever"], None),
    "trx/billion-laughs.trx": ([], "refused: the DOCTYPE declares an entity ('lol'); TRX needs none"),
    "trx/control-characters.trx": (["esc nul bel"], None),
    "trx/external-entity.trx": ([], "refused: the DOCTYPE declares an entity ('secret'); TRX needs none"),
    "trx/hostile-names.trx": (
        ['n\r::error title=PWN::name-inject %0A ]]> <tag> & "q" emoji😀 \u2028::warning::x'],
        None,
    ),
    "trx/invalid-utf8.trx": (["caf\ufffd"], None),
    "trx/truncated.trx": (["first"], "the XML ends early (truncated?) at line 5, column 1"),
    "trx/wrong-root.trx": ([], "the root element is <testsuites>, not <TestRun>"),
    "trx/wrong-types.trx": (["odd outcome", "", "no outcome"], None),
    # NUnit 3
    "nunit3/absurd-values.xml": (["forever", "deep stack"], None),
    "nunit3/billion-laughs.xml": ([], "refused: the DOCTYPE declares an entity ('lol'); NUnit 3 needs none"),
    "nunit3/control-characters.xml": (["esc nul"], None),
    "nunit3/external-entity.xml": (
        [],
        "refused: the DOCTYPE declares an entity ('secret'); NUnit 3 needs none",
    ),
    "nunit3/hostile-names.xml": (["n\r::error title=PWN::name-inject %0A ]]> <tag> & emoji😀"], None),
    "nunit3/nunit2-root.xml": ([], "the root element is <test-results>, not <test-run> (NUnit 3)"),
    "nunit3/truncated.xml": (["first"], "the XML ends early (truncated?) at line 4, column 1"),
    "nunit3/wrong-types.xml": (["exploded", "negative", "no class"], None),
    # xUnit.net v2
    "xunit2/absurd-values.xml": (["forever", "far line"], None),
    "xunit2/billion-laughs.xml": (
        [],
        "refused: the DOCTYPE declares an entity ('lol'); xUnit.net needs none",
    ),
    "xunit2/control-characters.xml": (["esc nul"], None),
    "xunit2/external-dtd.xml": ([], "refused: the DOCTYPE names an external DTD (SYSTEM/PUBLIC)"),
    "xunit2/hostile-names.xml": (["n\r::error title=PWN::name-inject %0A ]]> <tag> & emoji😀"], None),
    "xunit2/truncated.xml": (["first"], "the XML ends early (truncated?) at line 3, column 1"),
    "xunit2/wrong-types.xml": (["sort of", "bad line", ""], None),
    # go test -json
    "gotest/absurd-values.jsonl": (["TestForever"], None),
    "gotest/control-characters.jsonl": (["TestEsc\x1b[31m\x00"], None),
    "gotest/hostile-names.jsonl": (
        [
            "ESC\x1b[31mred\x1b[0m NUL\x00 BEL\x07 lone\ufffd\ufffd\ufffdsurrogate ]]> <tag> & \"q\" 'a' emoji😀 \ufffe end \r::error title=PWN::name-inject %0A \u2028::warning::x"
        ],
        None,
    ),
    "gotest/invalid-utf8.jsonl": (["Caf\ufffd"], None),
    "gotest/plain-go-test.txt": ([], "contains no go test -json event (was it written by go test -json?)"),
    "gotest/truncated.jsonl": (["TestA"], "line 4 is not a JSON event"),
    "gotest/wrong-types.jsonl": (["TestC"], None),  # a JSON array line is text, as go's own plain lines
    # TAP
    "tap/absurd-values.tap": (
        ["forever", "far away"],
        "the TAP plan says 999999999999 tests but 2 were reported (truncated?)",
    ),
    "tap/control-characters.tap": (["esc\x1b[31m nul\x00 bel\x07"], None),
    "tap/hostile-names.tap": (
        [
            "ESC\x1b[31mred\x1b[0m NUL\x00 BEL\x07 lone\ufffd\ufffd\ufffdsurrogate ]]> <tag> & \"q\" 'a' emoji😀 \ufffe end ::error title=PWN::name-inject %0A  ::warning::x"
        ],
        None,
    ),
    "tap/invalid-utf8.tap": (["caf\ufffd"], None),
    "tap/not-tap.txt": ([], "contains no TAP test line (ok / not ok)"),
    "tap/truncated.tap": (["first", "second"], "the TAP plan says 3 tests but 2 were reported (truncated?)"),
    "tap/wrong-types.tap": (["odd yaml", "yaml is a list"], None),
    "tap/yaml-alias-bomb.tap": (["bomb"], None),
    "tap/yaml-python-tag.tap": (["tagged"], None),
    # Cucumber JSON
    "cucumber/absurd-values.json": (["forever"], None),
    "cucumber/control-characters.json": (["nul\x00 esc\x1b bel\x07"], None),
    "cucumber/hostile-names.json": (
        [
            "ESC\x1b[31mred\x1b[0m NUL\x00 BEL\x07 lone\ud800surrogate ]]> <tag> & \"q\" 'a' emoji😀 \ufffe end \r::error title=PWN::name-inject %0A \u2028::warning::x"
        ],
        None,
    ),
    "cucumber/not-an-array.json": ([], "is not a Cucumber JSON report (no JSON array of features)"),
    "cucumber/truncated.json": (["first"], "the JSON ends early (truncated?) in a string at character 229"),
    "cucumber/wrong-types.json": (["", "steps of wrong type"], None),
    # Mocha JSON
    "mocha/absurd-values.json": (["forever", "far"], None),
    "mocha/control-characters.json": (["nul\x00 esc\x1b[31m bel\x07"], None),
    "mocha/duplicate-keys.json": (["b"], None),
    "mocha/hostile-names.json": (
        [
            "ESC\x1b[31mred\x1b[0m NUL\x00 BEL\x07 lone\ud800surrogate ]]> <tag> & \"q\" 'a' emoji😀 \ufffe end \r::error title=PWN::name-inject %0A \u2028::warning::x"
        ],
        None,
    ),
    "mocha/not-an-object.json": ([], "is not a Mocha JSON report (no JSON object)"),
    "mocha/truncated.json": (["first"], "the JSON ends early (truncated?) in a string at character 143"),
    "mocha/wrong-types.json": (["", "err is text", "slow", "retries", "neg"], None),
}


def read(path: Path, fmt: str, root: Path) -> tuple[list[TestCase], str | None]:
    cases: list[TestCase] = []
    started = time.monotonic()
    try:
        for case in read_results(path, format=fmt, suite="s", base_dir=root, repo_root=root):
            cases.append(case)  # noqa: PERF402 - keeps the cases read before an error
    except ResultFileError as error:
        reason: str | None = str(error)
    else:
        reason = None
    assert time.monotonic() - started < SECONDS
    return cases, reason


def stored() -> list[str]:
    return sorted(f"{folder}/{path.name}" for folder in FOLDERS for path in (CORPUS / folder).iterdir())


def test_every_stored_input_has_an_expectation_and_every_format_a_folder() -> None:
    assert stored() == sorted(EXPECTED)
    assert set(FOLDERS.values()) == set(FORMATS) - {"junit"}  # JUnit's corpus is tests/corpus/junit


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_stored_input(name: str) -> None:
    folder, file = name.split("/")
    names, reason = EXPECTED[name]
    cases, error = read(CORPUS / folder / file, FOLDERS[folder], CORPUS / folder)
    assert [case.name for case in cases] == names
    if reason is None:
        assert error is None
    else:
        assert error == f"{file}: {reason}"


def test_absurd_durations_and_lines_are_dropped() -> None:
    for name in EXPECTED:
        if "absurd" not in name:
            continue
        folder, file = name.split("/")
        cases, _ = read(CORPUS / folder / file, FOLDERS[folder], CORPUS / folder)
        assert cases, name
        assert all(case.duration <= source.MAX_SECONDS for case in cases), name
        assert all(case.line is None or 1 <= case.line <= 10_000_000 for case in cases), name


def test_wrong_types_never_become_anything_but_text_and_numbers() -> None:
    for name in EXPECTED:
        folder, file = name.split("/")
        cases, _ = read(CORPUS / folder / file, FOLDERS[folder], CORPUS / folder)
        for case in cases:
            assert all(
                isinstance(value, str) for value in (case.classname, case.name, case.message, case.details)
            )
            assert isinstance(case.duration, float)
            assert case.status in ("passed", "failed", "error", "skipped")


def test_yaml_alias_bomb_is_not_expanded_and_python_tags_are_not_run(tmp_path: Path) -> None:
    [bomb] = read(CORPUS / "tap" / "yaml-alias-bomb.tap", "tap", CORPUS / "tap")[0]
    assert bomb.message == "the real message"
    assert len(bomb.details) < 10_000
    [tagged] = read(CORPUS / "tap" / "yaml-python-tag.tap", "tap", CORPUS / "tap")[0]
    # the safe loader refuses the tag: the block is kept as text
    assert "!!python/object/apply" in tagged.details
    assert tagged.message.startswith("message: !!python/object/apply")


def test_hostile_names_survive_into_a_valid_merged_report(tmp_path: Path) -> None:
    cases = []
    for name in EXPECTED:
        if "hostile" in name or "control" in name:
            folder, file = name.split("/")
            cases += read(CORPUS / folder / file, FOLDERS[folder], CORPUS / folder)[0]
    assert len(cases) == 14
    attempt = Attempt(1, ("x",), 1, False, 1_700_000_000.0, 1.0)
    run = RunResult(
        "p", "r", [SuiteResult("s", "command", CaseStore(cases), [attempt])], 1_700_000_000.0, 1_700_000_001.0
    )
    out = tmp_path / "junit.xml"
    write_merged_junit(run, out, redact=Redactor().redact)
    root = ET.parse(out).getroot()  # noqa: S314 - our own output, checked to be well-formed
    written = [case.get("name") or "" for case in root.iter("testcase")]
    assert len(written) == 14
    # nothing is dropped silently: control characters become visible escapes
    assert any("NUL\\x00" in name for name in written)
    assert all("\x1b" not in name for name in written)


# -- generated inputs ----------------------------------------------------------------------

SAMPLES: dict[str, tuple[str, str, str]] = {
    # format -> (head, one test, tail) of a minimal valid document
    "trx": (
        '<TestRun xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010"><Results>',
        '<UnitTestResult testId="t" testName="t" outcome="Passed"/>',
        "</Results></TestRun>",
    ),
    "nunit3": ('<test-run id="0">', '<test-case name="t" result="Passed"/>', "</test-run>"),
    "xunit2": (
        '<assemblies><assembly name="a">',
        '<test name="t" result="Pass" time="0"/>',
        "</assembly></assemblies>",
    ),
    "go-test-json": (
        "",
        '{"Action":"pass","Package":"m","Test":"t","Elapsed":0}\n',
        '{"Action":"pass","Package":"m"}\n',
    ),
    "tap": ("", "ok - t\n", ""),
    "cucumber-json": (
        '[{"uri": "f.feature", "name": "F", "elements": [',
        '{"name": "t", "steps": []},',
        '{"name": "t"}]}]',
    ),
    "mocha-json": (
        '{"tests": [',
        '{"title": "t", "fullTitle": "t", "duration": 1, "err": {}},',
        '{"title": "t"}]}',
    ),
}


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_file_over_the_size_limit_is_refused_without_reading(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "huge.out"
    subprocess.run(["truncate", "-s", "300M", str(path)], check=True)  # sparse: nothing is written
    cases, error = read(path, fmt, tmp_path)
    assert cases == []
    assert error == f"huge.out: is {300 * 1024 * 1024} bytes, more than the 268435456 byte limit"


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_a_file_that_grows_past_the_limit_is_cut_off_while_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    head, test, tail = SAMPLES[fmt]
    path = tmp_path / "r.out"
    path.write_text(head + test * 5000 + tail)
    monkeypatch.setattr(source, "MAX_FILE_BYTES", 20_000)
    monkeypatch.setattr(source, "CHUNK_BYTES", 1000)
    monkeypatch.setattr(source, "check_kind", lambda *_: None)  # as if it grew after the check
    cases, error = read(path, fmt, tmp_path)
    assert error == "r.out: is larger than the 20000 byte limit"
    assert 0 < len(cases) < 5000


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_not_a_regular_file_nor_outside_the_project(tmp_path: Path, fmt: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "dir.out").mkdir()
    os.mkfifo(repo / "fifo.out")  # nobody writes: a blocking open would hang
    (repo / "link.out").symlink_to("/etc/hostname")
    errors = [read(repo / name, fmt, repo)[1] for name in ("dir.out", "fifo.out", "link.out", "empty.out")]
    assert errors[0] is not None
    assert errors[0].startswith("dir.out: is a directory, not a ")
    assert errors[1] == "fifo.out: is not a regular file"
    assert errors[2] is not None
    assert errors[2].startswith("link.out: refused: it points outside the project")
    assert errors[3] == "empty.out: no such file"


@pytest.mark.parametrize(("fmt", "count"), [("trx", 100_000), ("nunit3", 100_000), ("xunit2", 100_000)])
def test_xml_nested_deeper_than_the_limit(tmp_path: Path, fmt: str, count: int) -> None:
    head, _, tail = SAMPLES[fmt]
    path = tmp_path / "deep.xml"
    path.write_text(head + "<x>" * count + "</x>" * count + tail)
    assert read(path, fmt, tmp_path)[1] == "deep.xml: elements are nested deeper than 256 levels"


@pytest.mark.parametrize("depth", [100_000, 2_000_000])
@pytest.mark.parametrize("fmt", ["mocha-json", "cucumber-json"])
def test_json_nested_deeper_than_the_limit(tmp_path: Path, fmt: str, depth: int) -> None:
    head, test, tail = SAMPLES[fmt]
    path = tmp_path / "deep.json"
    path.write_text(head + test + "[" * depth + "]" * depth + tail)
    cases, error = read(path, fmt, tmp_path)
    assert [c.name for c in cases] == ["t"]
    assert error is not None
    # small enough for the C decoder: its recursion limit; larger: our depth limit
    assert "nested too deeply" in error or f"nested deeper than {jsonstream.MAX_DEPTH} levels" in error


def test_an_endless_line_is_skipped_and_said(tmp_path: Path) -> None:
    for fmt, text in (
        ("tap", "1..2\nok 1 - a\n# {}\nok 2 - b\n"),
        ("go-test-json", SAMPLES["go-test-json"][1] + "{}\n"),
    ):
        path = tmp_path / "r.out"
        path.write_text(text.replace("{}", "x" * (2 * source.MAX_LINE_BYTES)))
        cases, error = read(path, fmt, tmp_path)
        assert cases
        assert error is not None
        assert error.endswith(f"1 line(s) longer than {source.MAX_LINE_BYTES} bytes were skipped") or (
            "1 line(s) longer" in error
        )


def test_a_huge_yaml_block_is_kept_as_text_not_parsed(tmp_path: Path) -> None:
    path = tmp_path / "r.tap"
    path.write_text("1..1\nnot ok 1 - big\n  ---\n" + "  key: value\n" * 20_000 + "  ...\n")
    [case] = read(path, "tap", tmp_path)[0]
    assert case.status == "failed"
    assert len(case.details.encode()) <= source.MAX_FIELD_BYTES + 64
    assert tap.MAX_YAML_BYTES < 20_000 * 14


@pytest.mark.parametrize("fmt", ["mocha-json", "cucumber-json"])
def test_a_10_mb_string_is_capped_and_memory_stays_bounded(tmp_path: Path, fmt: str) -> None:
    big = "x" * (10 * 1024 * 1024)
    if fmt == "mocha-json":
        text = (
            '{"tests": [{"title": "t", "fullTitle": "t", "duration": 1, "err": {"message": "boom", "stack": "'
            + big
            + '"}}]}'
        )
    else:
        step = (
            '{"keyword": "Given ", "name": "s", "line": 2, "embeddings": [{"data": "'
            + big
            + '"}], "result": {"status": "failed", "error_message": "boom"}}'
        )
        text = '[{"uri": "f.feature", "name": "F", "elements": [{"name": "t", "steps": [' + step + "]}]}]"
    path = tmp_path / "big.json"
    path.write_text(text)
    tracemalloc.start()
    try:
        cases, error = read(path, fmt, tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error is None
    [case] = cases
    assert (case.name, case.status, case.message) == ("t", "failed", "boom")
    assert len(case.details.encode()) <= source.MAX_FIELD_BYTES + 64
    # the 10 MB value is never held whole (decoded strings would double it)
    assert peak < 12 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
