"""go test -json, TAP, Mocha and Cucumber JSON on the real tools' output, and the dispatcher.

Golden files from scripts/regen-format-fixtures.sh (tool versions in
tests/fixtures/formats/VERSIONS.txt); the tools ran in GENERATED_IN.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qaagent.errors import ResultFileError, UsageError
from qaagent.formats import cucumber, detect, gotest, mocha, tap
from qaagent.formats.read import FORMATS, read_results
from qaagent.results import TestCase

FIXTURES = Path(__file__).parent / "fixtures" / "formats"
PROJECT = FIXTURES / "project"
GENERATED_IN = Path("/tmp/qaagent-format-fixtures/project")

Row = tuple[str, str, str, str | None, int | None, str]


def rows(cases: list[TestCase]) -> list[Row]:
    return [(c.classname, c.name, c.status, c.file, c.line, c.message) for c in cases]


# -- go test -json ----------------------------------------------------------------------------

PKG = "example.com/qaagent/fixture"


def test_go_test_json() -> None:
    cases = list(
        gotest.iter_cases(
            FIXTURES / "go" / "go-test.jsonl", suite="go", base_dir=PROJECT / "go", repo_root=PROJECT / "go"
        )
    )
    crash = str(GENERATED_IN / "go" / "crash" / "crash_test.go")  # the panic's frame: outside this repo root
    # go test runs packages in parallel: their order in the file is not fixed, a package's own order is
    assert sorted(rows(cases)) == sorted(
        expected := [
            (
                f"{PKG}/crash",
                "TestPanics",
                "failed",
                crash,
                7,
                "panic: assignment to entry in nil map [recovered]",
            ),
            (f"{PKG}/calc", "TestAddPasses", "passed", None, None, ""),
            (f"{PKG}/calc", "TestAddFails", "failed", "calc/calc_test.go", 18, "Add(1, 1) = 2, want 3"),
            (f"{PKG}/calc", "TestSkipped", "skipped", "calc/calc_test.go", 23, "not on this platform"),
            (f"{PKG}/calc", "TestTable/1+2", "passed", None, None, ""),
            (f"{PKG}/calc", "TestTable/2+2", "failed", "calc/calc_test.go", 31, "got 4, want 5"),
            (f"{PKG}/calc", "TestTable", "failed", None, None, "1 subtest(s) failed"),
            (f"{PKG}/calc", "TestFlaky", "passed", None, None, ""),
        ]
    )
    calc = [row for row in rows(cases) if row[0] == f"{PKG}/calc"]
    assert calc == [row for row in expected if row[0] == f"{PKG}/calc"]
    by_name = {c.name: c for c in cases}
    failed = by_name["TestAddFails"]
    assert "some output from the test" in failed.details
    assert "--- FAIL: TestAddFails" in failed.details
    assert by_name["TestAddPasses"].stdout == ""  # a passing test's output without go test's own lines
    with_root = list(
        gotest.iter_cases(
            FIXTURES / "go" / "go-test.jsonl",
            suite="go",
            base_dir=GENERATED_IN / "go",
            repo_root=GENERATED_IN,
        )
    )
    assert {c.file for c in with_root if c.name == "TestPanics"} == {"go/crash/crash_test.go"}


def test_gotestsum_jsonfile_lists_every_run() -> None:
    cases = list(
        gotest.iter_cases(
            FIXTURES / "go" / "gotestsum.jsonl", suite="go", base_dir=PROJECT / "go", repo_root=PROJECT / "go"
        )
    )
    assert [(c.name, c.status) for c in cases if c.name in ("TestAddFails", "TestFlaky")] == [
        ("TestAddFails", "failed"),
        ("TestFlaky", "failed"),
        ("TestAddFails", "failed"),
        ("TestFlaky", "passed"),
        ("TestAddFails", "failed"),
    ]


def test_go_package_failures_timeouts_and_build_failures(tmp_path: Path) -> None:
    events = [
        # TestMain exits 1 without a failing test
        '{"Action":"output","Package":"m/a","Output":"setup failed: no database\\n"}',
        '{"Action":"fail","Package":"m/a","Elapsed":0.01}',
        # a test still running when its package is killed by -timeout
        '{"Action":"run","Package":"m/b","Test":"TestSlow"}',
        '{"Action":"output","Package":"m/b","Test":"TestSlow","Output":"panic: test timed out after 1s\\n"}',
        '{"Action":"fail","Package":"m/b","Elapsed":1.01}',
        # Go 1.24: build output and a failed build
        '{"ImportPath":"m/c [m/c.test]","Action":"build-output","Output":"c/c_test.go:5:2: undefined: nope\\n"}',
        '{"ImportPath":"m/c [m/c.test]","Action":"build-fail"}',
        '{"Action":"start","Package":"m/c"}',
        '{"Action":"fail","Package":"m/c","Elapsed":0,"FailedBuild":"m/c [m/c.test]"}',
        "plain text go test printed",
    ]
    path = tmp_path / "go.jsonl"
    path.write_text("\n".join(events) + "\n")
    cases = list(gotest.iter_cases(path, suite="go", base_dir=tmp_path, repo_root=tmp_path))
    assert [(c.classname, c.name, c.status, c.message) for c in cases] == [
        ("m/a", "(package)", "error", "setup failed: no database"),
        (
            "m/b",
            "TestSlow",
            "error",
            "the test did not finish before its package ended (a timeout or a crash?)",
        ),
        ("m/c", "(package)", "error", "build failed: c/c_test.go:5:2: undefined: nope"),
    ]
    assert "panic: test timed out" in cases[1].details


def test_go_plain_text_build_blocks_without_a_fail_line(tmp_path: Path) -> None:
    # Go < 1.24 with 2>&1: a package without test files that does not compile prints only its
    # ``# pkg`` block; a package that compiles with warnings prints one and passes
    lines = [
        "# m/lib",
        'lib/lib.go:2:23: cannot use "s" (untyped string constant) as int value in return statement',
        "# m/warn",
        "warn/warn.go:3: a cgo warning",
        '{"Action":"run","Package":"m/warn","Test":"TestW"}',
        '{"Action":"pass","Package":"m/warn","Test":"TestW","Elapsed":0}',
        '{"Action":"pass","Package":"m/warn","Elapsed":0}',
    ]
    path = tmp_path / "go.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert detect.sniff(path.read_bytes()) == "go-test-json"
    cases = list(gotest.iter_cases(path, suite="go", base_dir=tmp_path, repo_root=tmp_path))
    assert [(c.classname, c.name, c.status, c.message) for c in cases] == [
        ("m/warn", "TestW", "passed", ""),
        (
            "m/lib",
            "(package)",
            "error",
            'build failed: lib/lib.go:2:23: cannot use "s" (untyped string constant) as int value in return statement',
        ),
    ]
    # only plain text go test writes for a failed build, and no event: still go test -json
    assert detect.sniff(b"FAIL\tm/a [build failed]\n") == "go-test-json"
    assert detect.sniff(b"# just a comment\nhello\n") is None


def test_go_test_json_after_the_go_commands_own_lines_is_detected(tmp_path: Path) -> None:
    # `go test -json ./... 2>&1` on a fresh module cache: the go command's lines come first
    event = b'{"Action":"start","Package":"m/a"}\n{"Action":"pass","Package":"m/a","Elapsed":0}\n'
    preamble = b"go: downloading github.com/google/go-cmp v0.6.0\ngo: downloading golang.org/x/text v0.14.0\n"
    assert detect.sniff(preamble + event) == "go-test-json"
    assert detect.sniff(b"go: finding module for package m/b\nFAIL\tm/a [setup failed]\n") == "go-test-json"
    path = tmp_path / "go.jsonl"
    path.write_bytes(preamble + b"# m/b\nb/b.go:1:1: syntax error\n" + event)
    assert detect.detect_format(path, repo_root=tmp_path) == "go-test-json"
    cases = list(gotest.iter_cases(path, suite="go", base_dir=tmp_path, repo_root=tmp_path))
    assert [(c.classname, c.name, c.status, c.message) for c in cases] == [
        ("m/b", "(package)", "error", "build failed: b/b.go:1:1: syntax error"),
    ]
    # bounded: a few lines of the go command, then an event; not a file of `go:` lines alone
    many = b"go: downloading m/x v1.0.0\n" * (detect.GO_TOOL_LINES + 1)
    assert detect.sniff(many + event) is None
    assert detect.sniff(b"go: downloading m/x v1.0.0\n") is None
    assert detect.sniff(b"go: downloading m/x v1.0.0\nok 1 - a\n") is None


def test_go_stream_cut_while_a_package_runs(tmp_path: Path) -> None:
    path = tmp_path / "go.jsonl"
    path.write_text(
        '{"Action":"run","Package":"m/a","Test":"TestA"}\n{"Action":"pass","Package":"m/a","Test":"TestA","Elapsed":0.5}\n'
        '{"Action":"run","Package":"m/a","Test":"TestB"}\n{"Action":"out'
    )
    stream = gotest.iter_cases(path, suite="go", base_dir=tmp_path, repo_root=tmp_path)
    assert next(stream).name == "TestA"
    with pytest.raises(ResultFileError, match=r"^go\.jsonl: line 4 is not a JSON event$"):
        next(stream)


# -- TAP ----------------------------------------------------------------------------------


def test_node_test_runner_tap() -> None:
    base = GENERATED_IN / "node"
    cases = list(
        tap.iter_cases(FIXTURES / "node" / "node-test.tap", suite="node", base_dir=base, repo_root=base)
    )
    js = "test/calc.test.js"
    assert rows(cases) == [
        ("", "adds", "passed", None, None, ""),
        # the failing line is the stack frame in the test's file, not the location of `test(`
        ("", "is broken", "failed", js, 9, "arithmetic is broken"),
        ("", "skipped on purpose", "skipped", None, None, "not today"),
        ("", "todo passing", "passed", None, None, "not finished"),
        ("", "todo failing", "skipped", js, 16, "known bug"),
        ("a group", "nested passes", "passed", None, None, ""),
        ("a group", "nested fails", "failed", js, 23, "bad type"),
        # node counts the parent of t.test() subtests as a test, and a describe block not
        ("parent", "child one", "passed", None, None, ""),
        ("parent", "child two", "passed", None, None, ""),
        ("", "parent", "passed", None, None, ""),
    ]
    assert [c.outcome for c in cases[3:5]] == ["xpass", "xfail"]
    assert (cases[1].type, cases[6].type) == ("AssertionError", "TypeError")
    assert "2 !== 3" in cases[1].details
    assert "calc.test.js:9:10" in cases[1].details
    assert all(0 < c.duration < 1 for c in cases)  # duration_ms in the YAML blocks
    # "# tests 10" in node's summary: the same count
    assert len(cases) == 10


def test_perl_tap_and_test_more_diagnostics() -> None:
    base = GENERATED_IN / "prove"
    cases = list(
        tap.iter_cases(FIXTURES / "prove" / "basic.tap", suite="perl", base_dir=base, repo_root=base)
    )
    assert rows(cases) == [
        ("", "adds", "passed", None, None, ""),
        ("", "is broken", "failed", "t/basic.t", 6, "got: '2'"),
        ("", "#3", "skipped", None, None, "not today"),
        ("", "todo failing", "skipped", "t/basic.t", 13, "known bug"),
        ("", "todo passing", "passed", None, None, "known bug"),
        ("a group", "nested passes", "passed", None, None, ""),
        ("a group", "nested fails", "failed", "t/basic.t", 19, "Failed test 'nested fails'"),
        ("", "a group", "failed", "t/basic.t", 20, "Failed test 'a group'"),
    ]
    assert "expected: '3'" in cases[1].details


def test_prove_verbose_output_names_each_test_file() -> None:
    base = GENERATED_IN / "prove"
    cases = list(
        tap.iter_cases(FIXTURES / "prove" / "prove-verbose.txt", suite="perl", base_dir=base, repo_root=base)
    )
    assert [(c.classname, c.name, c.status, c.file) for c in cases] == [
        ("t/basic.t", "adds", "passed", "t/basic.t"),
        ("t/basic.t", "is broken", "failed", "t/basic.t"),
        ("t/basic.t", "#3", "skipped", "t/basic.t"),
        ("t/basic.t", "todo failing", "skipped", "t/basic.t"),
        ("t/basic.t", "todo passing", "passed", "t/basic.t"),
        ("t/basic.t › a group", "nested passes", "passed", "t/basic.t"),
        ("t/basic.t › a group", "nested fails", "failed", "t/basic.t"),
        ("t/basic.t", "a group", "failed", "t/basic.t"),
        # prove's "Files=2, Tests=7": 6 top-level lines in basic.t and 1 in other.t
        ("t/other.t", "other passes", "passed", "t/other.t"),
    ]
    assert cases[-1].stdout == "a diagnostic line\n"  # a note on a passing test is output, not a message


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1..3\nok 1 - a\nok 2 - b\n", "the TAP plan says 3 tests but 2 were reported (truncated?)"),
        ("ok 1 - a\nnot ok 2 - b\n", "the TAP stream has no plan (1..N): it ended early (truncated?)"),
        ("TAP version 14\n# nothing\n", "contains no TAP test line (ok / not ok)"),
    ],
)
def test_tap_plan_problems_come_after_the_cases(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "r.tap"
    path.write_text(text)
    seen: list[str] = []
    with pytest.raises(ResultFileError) as raised:
        seen.extend(c.name for c in tap.iter_cases(path, suite="s", base_dir=tmp_path, repo_root=tmp_path))
    assert str(raised.value) == f"r.tap: {reason}"
    assert seen == [line.split(" - ")[1] for line in text.splitlines() if " - " in line]


def test_tap_bail_out_and_skip_all(tmp_path: Path) -> None:
    path = tmp_path / "r.tap"
    path.write_text("1..3\nok 1 - first\nBail out! database is down\nok 2 - never read\n")
    cases = list(tap.iter_cases(path, suite="s", base_dir=tmp_path, repo_root=tmp_path))
    assert [(c.name, c.status, c.message) for c in cases] == [
        ("first", "passed", ""),
        ("Bail out!", "error", "database is down"),
    ]
    skip_all = tmp_path / "skip.tap"
    skip_all.write_text("1..0 # SKIP no network here\n")
    [case] = tap.iter_cases(skip_all, suite="s", base_dir=tmp_path, repo_root=tmp_path)
    assert (case.status, case.message) == ("skipped", "no network here")


def test_tap_escapes_and_directives(tmp_path: Path) -> None:
    path = tmp_path / "r.tap"
    path.write_text(
        "1..4\nok 1 - a \\# hash is not a directive\nnot ok 2 - b # skip: no db\nok 3 # TODO later\n"
        "not ok 4 - yaml\n  ---\n  message: 'boom'\n  at: 'lib/x.js:12:3'\n  ...\n"
    )
    cases = list(tap.iter_cases(path, suite="s", base_dir=tmp_path, repo_root=tmp_path))
    assert [(c.name, c.status, c.outcome, c.message, c.file, c.line) for c in cases] == [
        ("a # hash is not a directive", "passed", None, "", None, None),
        ("b", "skipped", None, "no db", None, None),
        ("#3", "passed", "xpass", "later", None, None),
        ("yaml", "failed", None, "boom", "lib/x.js", 12),
    ]


# -- Mocha ----------------------------------------------------------------------------------


def test_mocha_json() -> None:
    base = GENERATED_IN / "mocha"
    cases = list(
        mocha.iter_cases(FIXTURES / "mocha" / "mocha.json", suite="js", base_dir=base, repo_root=base)
    )
    js = "test/calc.spec.js"
    assert rows(cases) == [
        ("calc", "adds", "passed", js, None, ""),
        ("calc", "is broken", "failed", js, 8, "arithmetic is broken"),
        ("calc", "skipped on purpose", "skipped", js, None, ""),
        ("calc", "pending without body", "skipped", js, None, ""),
        ("calc", "passes on retry", "passed", js, None, ""),
        ("calc nested", "throws a TypeError", "failed", js, 14, "bad type"),
        # a hook's failure is only in "failures"
        ("hooks", '"before all" hook for "never runs"', "error", js, 27, "before all exploded"),
    ]
    retried = cases[4]
    assert (retried.flaky, retried.attempts, [r.message for r in retried.reruns]) == (
        True,
        2,
        [mocha.EARLIER_ATTEMPT],
    )
    assert (cases[1].type, cases[5].type) == ("AssertionError", "TypeError")
    assert "at Context.<anonymous> (test/calc.spec.js:8:12)" in cases[1].details


def test_mocha_json_after_console_output(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    path.write_text(
        'log line from a test\n{\n  "stats": {"tests": 1},\n  "tests": [{"title": "t", "fullTitle": "s t", '
        '"file": "/x/t.js", "duration": 5, "currentRetry": 0, "err": {}}]\n}\n'
    )
    [case] = mocha.iter_cases(path, suite="s", base_dir=tmp_path, repo_root=tmp_path)
    assert (case.classname, case.name, case.status, case.duration) == ("s", "t", "passed", 0.005)


# -- Cucumber JSON ---------------------------------------------------------------------------


def test_cucumber_js_json() -> None:
    base = GENERATED_IN / "cucumber"
    cases = list(
        cucumber.iter_cases(
            FIXTURES / "cucumber" / "cucumber-js.json", suite="bdd", base_dir=base, repo_root=base
        )
    )
    feature = "features/calc.feature"
    assert rows(cases) == [
        ("Calculator", "Adding works", "passed", feature, 3, ""),
        # the failing step's line, the error's first line
        (
            "Calculator",
            "Adding is broken",
            "failed",
            feature,
            11,
            "AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:",
        ),
        ("Calculator", "", "passed", feature, 13, ""),  # an untitled Scenario:
        (
            "Calculator",
            "Undefined step",
            "error",
            feature,
            19,
            "undefined step: When something nobody wrote happens",
        ),
        ("Calculator", "Pending step", "failed", feature, 22, "pending step: Given a pending step"),
        ("Calculator", "Skipped", "skipped", feature, 25, ""),
        # cucumber-js --retry 1: the JSON has only the last attempt
        ("Calculator", "Flaky", "passed", feature, 28, ""),
        ("Calculator", "Outline 4", "passed", feature, 37, ""),
        ("Calculator", "Outline 6", "passed", feature, 38, ""),
    ]
    assert cases[1].type == "AssertionError"
    assert "2 !== 3" in cases[1].details
    assert all(0 < c.duration < 1 for c in cases)  # nanoseconds, summed over the steps


def test_behave_json_formatter() -> None:
    base = GENERATED_IN / "behave"
    cases = list(
        cucumber.iter_cases(FIXTURES / "behave" / "behave.json", suite="bdd", base_dir=base, repo_root=base)
    )
    feature = "features/unnamed.feature"
    assert rows(cases) == [
        ("Things without names", "", "passed", feature, 3, ""),
        ("Things without names", "", "failed", feature, 9, "ASSERT FAILED: expected 3, got 2"),
        (
            "Things without names",
            "Undefined here",
            "error",
            feature,
            13,
            "undefined step: When something nobody wrote happens",
        ),
    ]
    assert all(0 < c.duration < 1 for c in cases)  # seconds


def test_cucumber_background_steps_count_for_each_scenario(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(
        '[{"uri": "f.feature", "name": "F", "elements": ['
        '{"type": "background", "keyword": "Background", "steps": [{"keyword": "Given ", "name": "a db", "line": 3, '
        '"result": {"status": "failed", "error_message": "Error: no db\\n  at x"}}]},'
        '{"type": "scenario", "name": "S", "line": 5, "steps": [{"keyword": "Then ", "name": "ok", "line": 6, '
        '"result": {"status": "skipped"}}]}]}]'
    )
    [case] = cucumber.iter_cases(path, suite="s", base_dir=tmp_path, repo_root=tmp_path)
    assert (case.name, case.status, case.line, case.message) == ("S", "failed", 3, "Error: no db")


# -- detection and dispatch ---------------------------------------------------------------------

GOLDEN = {
    "go/go-test.jsonl": "go-test-json",
    "go/gotestsum.jsonl": "go-test-json",
    "go/gotestsum.xml": "junit",
    "node/node-test.tap": "tap",
    "node/node-test-junit.xml": "junit",
    "prove/basic.tap": "tap",
    "prove/prove-verbose.txt": "tap",
    "mocha/mocha.json": "mocha-json",
    "cucumber/cucumber-js.json": "cucumber-json",
    "behave/behave.json": "cucumber-json",
    "dotnet/mstest.trx": "trx",
    "dotnet/nunit3.xml": "nunit3",
    "dotnet/xunit2.xml": "xunit2",
    "pytest/outcomes.xml": "junit",
}


@pytest.mark.parametrize(("name", "expected"), sorted(GOLDEN.items()))
def test_every_golden_file_is_detected_and_read_the_same_either_way(name: str, expected: str) -> None:
    path = FIXTURES / name
    base = GENERATED_IN / name.split("/", maxsplit=1)[0]
    assert detect.detect_format(path, repo_root=base) == expected
    detected = list(read_results(path, suite="s", base_dir=base, repo_root=base))
    named = list(read_results(path, format=expected, suite="s", base_dir=base, repo_root=base))
    assert detected == named
    assert detected


def test_every_format_has_a_golden_file() -> None:
    assert set(GOLDEN.values()) == set(FORMATS)


@pytest.mark.parametrize(
    ("text", "starts"),
    [
        ("hello world\n", "'hello world'"),
        ('<?xml version="1.0"?>\n<!-- x -->\n<html><body/></html>', "an XML document whose root is <html>"),
        ("<test-results name='x'/>", "NUnit 2 results (<test-results>) are not read"),
        ("   \n\n", "nothing but whitespace"),
        ('{"a": 1}', "'{\"a\": 1}'"),
    ],
)
def test_an_unrecognised_file_says_what_it_starts_with(tmp_path: Path, text: str, starts: str) -> None:
    path = tmp_path / "r.out"
    path.write_text(text)
    with pytest.raises(ResultFileError) as raised:
        list(read_results(path, suite="s", base_dir=tmp_path, repo_root=tmp_path))
    message = str(raised.value)
    assert message.startswith(f"r.out: is not a result format qaagent recognises (it starts with {starts}")
    assert message.endswith("if it is one, name it with format:")
    assert "\n" not in message


def test_an_unknown_format_name_is_a_usage_error_at_once(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^unknown result format 'surefire': expected one of junit, trx, "):
        read_results(
            tmp_path / "missing.xml", format="surefire", suite="s", base_dir=tmp_path, repo_root=tmp_path
        )


def test_a_named_format_that_does_not_match_fails_in_that_formats_words(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("[]")
    with pytest.raises(ResultFileError, match=r"^r\.json: is not a Mocha JSON report"):
        list(read_results(path, format="mocha-json", suite="s", base_dir=tmp_path, repo_root=tmp_path))
    assert list(read_results(path, format="auto", suite="s", base_dir=tmp_path, repo_root=tmp_path)) == []


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match=r"^nope\.tap: no such file$"):
        list(read_results(tmp_path / "nope.tap", suite="s", base_dir=tmp_path, repo_root=tmp_path))


def _yaml_blocks(path: Path) -> list[list[str]]:
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() == "---":
            current = []
        elif line.strip() == "..." and current is not None:
            blocks.append(current)
            current = None
        elif current is not None:
            current.append(line)
    return blocks


@pytest.mark.parametrize(
    "block",
    [
        *_yaml_blocks(FIXTURES / "node" / "node-test.tap"),
        ["  message: 'it''s'", "  n: 5"],
        ["  a: |", "    x", "", "    y", "  b: z"],
        ["  k: |-", "    a", "      deeper", "    b"],
    ],
)
def test_the_fast_yaml_reader_agrees_with_pyyaml(block: list[str]) -> None:
    import textwrap  # noqa: PLC0415 - only here

    import yaml  # noqa: PLC0415

    fast = tap._simple_yaml(block)
    assert fast is not None
    reference = yaml.safe_load(textwrap.dedent("\n".join(block)))

    def text(value: object) -> str:
        return repr(float(value)) if isinstance(value, int | float) else str(value)

    expected = {key: text(value) for key, value in reference.items() if isinstance(value, str | int | float)}
    assert {
        key: text(float(v)) if v.replace(".", "", 1).isdigit() else v for key, v in fast.items()
    } == expected


@pytest.mark.parametrize(
    "block",
    [
        ["  a: b # c"],
        ["  a:", "    b: c"],
        ['  a: "q"'],
        ["  k: |-", "      more", "    less"],
        ["  - a"],
        ["  a: &x 1"],
    ],
)
def test_yaml_the_fast_reader_does_not_know_goes_to_pyyaml(block: list[str]) -> None:
    assert tap._simple_yaml(block) is None


def test_cucumber_js_scenarios_are_held_for_the_feature_name_or_read_with_a_first_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = GENERATED_IN / "cucumber"
    path = FIXTURES / "cucumber" / "cucumber-js.json"
    held = list(cucumber.iter_cases(path, suite="bdd", base_dir=base, repo_root=base))
    monkeypatch.setattr(cucumber, "MAX_HELD_CHARS", 10)  # every scenario overflows: the first pass runs
    passes: list[int] = []
    first_pass = cucumber._feature_names

    def counted(*args: Path | str) -> list[dict[str, object]]:
        passes.append(1)
        return first_pass(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(cucumber, "_feature_names", counted)
    streamed = list(cucumber.iter_cases(path, suite="bdd", base_dir=base, repo_root=base))
    assert streamed == held
    assert passes == [1]


def test_cucumber_js_held_scenarios_survive_a_cut_file(tmp_path: Path) -> None:
    full = (FIXTURES / "cucumber" / "cucumber-js.json").read_text(encoding="utf-8")
    cut = full[: full.index('"name": "Flaky"')]  # inside the elements: the feature's name never comes
    path = tmp_path / "cut.json"
    path.write_text(cut, encoding="utf-8")
    names: list[str] = []
    with pytest.raises(ResultFileError, match=r"^cut\.json: the JSON ends early"):
        names.extend(
            c.name for c in cucumber.iter_cases(path, suite="s", base_dir=tmp_path, repo_root=tmp_path)
        )
    assert names == ["Adding works", "Adding is broken", "", "Undefined step", "Pending step", "Skipped"]
