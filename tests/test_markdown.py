from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from helpers import case, close_run, run_of, suite

from qaagent.evidence.diagnostics import categorize
from qaagent.report.markdown import render_summary
from qaagent.report.markdown_text import code_block
from qaagent.results import TestCase
from qaagent.run_result import FailOn, RunResult
from qaagent.text import escape_text, fmt_seconds, truncate_utf8

FAIL_ON: list[FailOn] = ["failed", "error"]


def small_run() -> RunResult:
    return run_of(
        suite(
            "unit",
            [
                case("test_ok"),
                case(
                    "test_bad",
                    "failed",
                    message="assert 1 == 2",
                    details="Traceback...\nAssertionError",
                    line=12,
                ),
                case("test_skip", "skipped"),
                case("test_flaky", flaky=True, line=40),
            ],
            duration=2.0,
        ),
        suite("e2e", [case("test_login", suite="e2e", file="e2e/login.spec.ts", line=5)], duration=3.0),
        duration=3.5,
    )


def test_full_summary_content() -> None:
    text = render_summary(
        small_run(),
        fail_on=FAIL_ON,
        evidence_path="qaagent-evidence/20240101_000000Z",
        link_base="https://github.com/o/r",
        sha="abc123",
        notes=["Shard 1/2."],
        categorize=cheap,
    )
    assert text.startswith("## ❌ qaagent: failure — shop\n")
    assert "| 5 | 3 | 1 | 0 | 1 | 1 | 3.5 s |" in text
    assert "Wall time 3.5 s · sum of suite times 5.0 s (parallel execution saved 1.5 s)" in text
    assert "| unit | ❌ failed | 2 | 1 | 0 | 1 | 1 | 2.0 s | 1 |" in text
    assert "| e2e | ✅ passed | 1 | 0 | 0 | 0 | 0 | 3.0 s | 1 |" in text
    assert text.index("| unit |") < text.index("| e2e |")
    assert "| assertion | 2 |" in text  # the failure and the flaky test
    assert "test\\_flaky — passed on attempt 2" in text
    assert "[tests/test\\_x\\.py:12](https://github.com/o/r/blob/abc123/tests/test_x.py#L12)" in text
    assert "`qaagent-evidence/20240101_000000Z`" in text
    assert "Shard 1/2." in text
    assert "Passed tests of unit" in text
    # failures come last
    assert text.index("### ❌ Failures (1)") > text.index("**Evidence:**")
    assert "```text\nassert 1 == 2\n```" in text
    assert "[!NOTE]" not in text


def test_failures_are_categorized_as_the_bundle_records_them_by_default() -> None:
    run = small_run()
    text = render_summary(run, fail_on=FAIL_ON)
    assert "## ❌ qaagent: failure" in text
    assert "### Diagnostics" in text
    expected = Counter(categorize(case) for case in run.problems())  # what tests.jsonl records
    assert expected["flaky"] == 1
    for category, number in expected.items():
        assert f"| {category} | {number} |" in text


def test_success_and_cancelled_titles() -> None:
    ok = run_of(suite("unit", [case("a")]))
    assert render_summary(ok, fail_on=FAIL_ON).startswith("## ✅ qaagent: success")
    ok = dataclasses.replace(ok, cancelled=True, not_run=("e2e",))
    text = render_summary(ok, fail_on=FAIL_ON)
    assert text.startswith("## ⏹️ qaagent: cancelled")
    assert "| e2e | ⏹️ not run |" in text


def test_untrusted_names_are_inert() -> None:
    evil = "<script>alert(1)</script> | **bold** [x](http://e) `code` <!-- "
    run = run_of(
        suite(
            evil,
            [
                case(
                    evil,
                    "failed",
                    suite=evil,
                    classname=evil,
                    message="<img src=x onerror=alert(1)>\n```\n# h",
                )
            ],
        )
    )
    text = render_summary(run, fail_on=FAIL_ON)
    assert "<script>" not in text
    assert "<img" not in text.replace("```text\n<img", "")  # only inside the code block
    assert "<!--" not in text
    assert "&lt;script&gt;" in text
    for line in text.splitlines():
        if line.startswith(f"| {escape_text(evil)[:10]}"):
            cells = re.split(r"(?<!\\)\|", line)
            assert len(cells) == 11  # 9 columns + the empty edges
    # the message's own ``` cannot close the fence
    assert "````text\n<img src=x onerror=alert(1)>\n```\n# h\n````" in text


def test_escape_and_code_block_helpers() -> None:
    assert escape_text("a|b\nc <d>") == "a\\|b c &lt;d&gt;"
    assert code_block("x ```` y") == "`````text\nx ```` y\n`````"
    assert fmt_seconds(3.25) == "3.2 s"
    assert fmt_seconds(187) == "3 m 07 s"
    assert fmt_seconds(3720) == "1 h 02 m"


def test_truncate_utf8_never_splits_characters_or_rows() -> None:
    text = "| a | b |\n" + "| é€😀 | x |\n" * 100
    for limit in range(1, 400, 7):
        out = truncate_utf8(text, limit, "cut")
        assert len(out.encode("utf-8")) <= limit
        body = out.removesuffix("\n\ncut\n")
        assert all(line.endswith("|") for line in body.splitlines() if line)
    assert truncate_utf8("short", 100, "cut") == "short"


HugeRun = Callable[..., RunResult]
MESSAGE, DETAILS, OUT, ERR = "E" * 3000, "T" * 20_000, "O" * 10_000, "é" * 5000


@pytest.fixture
def huge_run() -> Iterator[HugeRun]:
    runs: list[RunResult] = []

    def make(failures: int = 3000, passed: int = 20_000) -> RunResult:
        cases = [case(f"test_pass_{i}" + "p" * 50) for i in range(passed)]
        cases += [
            case(f"test_fail_{i}", "failed", message=MESSAGE, details=DETAILS, stdout=OUT, stderr=ERR)
            for i in range(failures)
        ]
        runs.append(run_of(suite("unit", cases)))
        return runs[-1]

    yield make
    for run in runs:
        close_run(run)


def cheap(case: TestCase) -> str:
    return "assertion"


@pytest.mark.slow
@pytest.mark.parametrize("max_bytes", [1_000_000, 65_000, 20_000, 3_000])
def test_budget_is_respected_and_announced(huge_run: HugeRun, max_bytes: int) -> None:
    text = render_summary(huge_run(), fail_on=FAIL_ON, max_bytes=max_bytes, categorize=cheap)
    assert len(text.encode("utf-8")) <= max_bytes
    assert "This summary was shortened to fit the size limit" in text
    assert "captured output of failing tests omitted" in text
    assert "passed tests not listed" in text
    assert "| unit | ❌ failed | 20000 | 3000 |" in text
    assert text.count("```") % 2 == 0


def test_levels_drop_output_first(huge_run: HugeRun) -> None:
    run = huge_run(failures=20, passed=10)
    full = render_summary(run, fail_on=FAIL_ON, max_bytes=10_000_000)
    assert "Captured stdout" in full
    assert "```mermaid" in full
    assert "[!NOTE]" not in full
    # the timeline goes first, alone
    without_timeline = render_summary(run, fail_on=FAIL_ON, max_bytes=len(full.encode()) - 1)
    assert "```mermaid" not in without_timeline
    assert "Captured stdout" in without_timeline
    assert "timeline omitted" in without_timeline
    size = len(without_timeline.encode())
    smaller = render_summary(run, fail_on=FAIL_ON, max_bytes=size - 1)
    assert "Captured stdout" not in smaller
    assert "captured output of failing tests omitted" in smaller
    assert "Passed tests of unit" in smaller
    assert "Details" in smaller


@pytest.mark.slow
def test_failures_beyond_budget_are_counted(huge_run: HugeRun) -> None:
    # 1,000 one-line failures are already three times the budget: more would only cost time
    text = render_summary(
        huge_run(failures=1000, passed=0), fail_on=FAIL_ON, max_bytes=20_000, categorize=cheap
    )
    match = re.search(r"only the first (\d+) of 1000 failures listed", text)
    assert match
    listed = int(match.group(1))
    assert 0 < listed < 1000
    assert f"…and {1000 - listed:,} more failing tests not listed here" in text


def test_one_megabyte_test_name() -> None:
    name = "n" * 1_000_000
    run = run_of(suite("unit", [case(name, "failed", message="m"), case(name, flaky=True), case(name)]))
    text = render_summary(run, fail_on=FAIL_ON, max_bytes=1_000_000)
    assert len(text.encode()) < 20_000
    assert "n…" in text


def test_tiny_budget_still_valid_utf8_and_bounded() -> None:
    text = render_summary(small_run(), fail_on=FAIL_ON, max_bytes=200)
    assert len(text.encode("utf-8")) <= 200
    text.encode("utf-8").decode("utf-8")


def test_timeline_is_a_mermaid_gantt_with_one_bar_per_attempt() -> None:
    run = small_run()
    unit = run.suites[0]
    first = unit.attempts[0]
    unit = dataclasses.replace(
        unit,
        attempts=(
            dataclasses.replace(first, returncode=1),
            dataclasses.replace(first, number=2, started_at=first.started_at + 2.5, duration=1.25),
        ),
    )
    odd = dataclasses.replace(
        suite("bad:name`<x>", [case("t", suite="x")]),
        attempts=(dataclasses.replace(first, timed_out=True, returncode=None),),
    )
    run = dataclasses.replace(run, suites=(unit, *run.suites[1:], odd))
    text = render_summary(run, fail_on=FAIL_ON)
    block = text[text.index("```mermaid\n") : text.index("```", text.index("```mermaid") + 3) + 3]
    assert "gantt\n" in block
    assert "dateFormat x" in block
    assert "    section unit\n" in block
    assert "    attempt 1 failed 2.0 s :crit, s0a1, 1700000000000, 1700000002000\n" in block
    assert "    attempt 2 passed 1.2 s :done, s0a2, 1700000002500, 1700000003750\n" in block
    assert "    section e2e\n" in block
    assert "    section bad_name__x_\n" in block
    assert "attempt 1 timed out" in block
    assert block.count(" :crit, ") + block.count(" :done, ") == 4
    assert text.index("### Suites") < text.index("```mermaid")


def test_no_attempts_no_timeline() -> None:
    run = small_run()
    run = dataclasses.replace(run, suites=tuple(dataclasses.replace(s, attempts=()) for s in run.suites))
    text = render_summary(run, fail_on=FAIL_ON)
    assert "mermaid" not in text
    smaller = render_summary(run, fail_on=FAIL_ON, max_bytes=len(text.encode()) - 1)
    assert "timeline omitted" not in smaller


def test_failure_lists_its_artifacts_from_the_bundle() -> None:
    failing = dataclasses.replace(
        case("shows data", "failed", suite="e2e", message="expect failed"),
        artifacts=("suites/e2e/artifacts/attempt-1/shot`1.png", "suites/e2e/artifacts/attempt-1/trace.zip"),
    )
    text = render_summary(run_of(suite("e2e", [failing])), fail_on=["failed", "error"])
    assert (
        "Evidence in the bundle: `suites/e2e/artifacts/attempt-1/shot'1.png`, "
        "`suites/e2e/artifacts/attempt-1/trace.zip`"
    ) in text


def test_flaky_test_names_its_evidence() -> None:
    wobbly = dataclasses.replace(
        case("wobbly", suite="e2e", flaky=True), artifacts=("suites/e2e/artifacts/attempt-1/trace.zip",)
    )
    text = render_summary(run_of(suite("e2e", [wobbly])), fail_on=["failed", "error"])
    assert "evidence: `suites/e2e/artifacts/attempt-1/trace.zip`" in text


def test_gantt_stops_before_mermaids_size_limit() -> None:
    from qaagent.report.timeline import MAX_GANTT_BARS, gantt  # noqa: PLC0415 - the cap under test

    many = [suite(f"s{i}", [case("t", suite=f"s{i}")]) for i in range(MAX_GANTT_BARS + 50)]
    block = gantt(run_of(*many))
    assert block.count(":done,") == MAX_GANTT_BARS
    assert "50 more suite(s) not drawn" in block
    assert len(block) < 50_000
