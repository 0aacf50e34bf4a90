from __future__ import annotations

import io

from helpers import case, run_of, suite

from qaagent.github.annotations import write_annotations
from qaagent.results import TestCase


def test_exact_lines_for_a_small_run() -> None:
    run = run_of(
        suite(
            "unit",
            [
                case("test_ok"),
                case("test_bad", "failed", message="assert 1 == 2\nwhere 1 = f()", line=12),
                case("test_flaky", flaky=True, line=20),
            ],
        ),
        suite(
            "e2e",
            [case("test_crash", "error", suite="e2e", classname="", file=None, details="Traceback\nBoom")],
        ),
        duration=4.0,
    )
    out = io.StringIO()
    counts = write_annotations(run, fail_on=["failed", "error"], stream=out)
    assert out.getvalue().splitlines() == [
        "::error title=qaagent::failure: 4 tests, 2 passed, 1 failed, 1 errors, 0 skipped, 1 flaky in 4.0 s",
        "::error title=e2e › test_crash::Traceback%0ABoom",
        "::error file=tests/test_x.py,line=12,title=unit › tests.test_x › test_bad::assert 1 == 2%0Awhere 1 = f()",
        (
            "::warning file=tests/test_x.py,line=20,title=unit › tests.test_x › test_flaky::"
            "Flaky: passed on attempt 2 after 1 failure(s).%0AEarlier failure: first try failed"
        ),
    ]
    assert (counts.errors, counts.warnings, counts.omitted_errors, counts.omitted_warnings) == (2, 1, 0, 0)


def test_success_is_a_notice_and_paths_are_posix() -> None:
    run = run_of(
        suite("unit", [case("test_ok"), case("test_f", flaky=True, file="t\\sub\\..\\a.py", line=2)])
    )
    out = io.StringIO()
    write_annotations(run, fail_on=["failed", "error"], stream=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("::notice title=qaagent::success: 2 tests")
    assert lines[1].startswith("::warning file=t/a.py,line=2,")


def test_flaky_can_fail_the_run() -> None:
    run = run_of(suite("unit", [case("test_f", flaky=True)]))
    out = io.StringIO()
    write_annotations(run, fail_on=["failed", "error", "flaky"], stream=out)
    assert out.getvalue().startswith("::error title=qaagent::failure:")


def test_limits_per_level_and_priority() -> None:
    failures = [case(f"f{i}", "failed", message=f"m{i}") for i in range(30)]
    errors = [case(f"e{i}", "error", suite="late", message=f"e{i}") for i in range(3)]
    flaky = [case(f"k{i}", flaky=True) for i in range(14)]
    run = run_of(suite("unit", failures + flaky), suite("late", errors))
    out = io.StringIO()
    counts = write_annotations(run, fail_on=["failed", "error"], stream=out)
    lines = out.getvalue().splitlines()
    errors_lines = [line for line in lines if line.startswith("::error")]
    warning_lines = [line for line in lines if line.startswith("::warning")]
    notice_lines = [line for line in lines if line.startswith("::notice")]
    # one of each level stays free for qaagent's own warning or error after these
    assert len(errors_lines) == 9  # summary + 8 tests
    assert len(warning_lines) == 9
    assert len(lines) == 19
    # errors (from the later suite) come before failures; then suite order
    assert [line.rsplit("::", 1)[1] for line in errors_lines[1:5]] == ["e0", "e1", "e2", "m0"]
    assert notice_lines == [
        (
            "::notice title=qaagent::25 failing test(s) and 5 flaky test(s) not annotated here: GitHub shows "
            "only 10 annotations of a kind per step. See the job summary, the check run or the evidence bundle."
        )
    ]
    assert (counts.errors, counts.omitted_errors, counts.warnings, counts.omitted_warnings) == (8, 25, 9, 5)


def test_long_messages_are_cut() -> None:
    run = run_of(suite("unit", [case("t", "failed", message="\n".join(f"line {i}" for i in range(100)))]))
    out = io.StringIO()
    write_annotations(run, fail_on=["failed"], stream=out)
    message = out.getvalue().splitlines()[1].rsplit("::", 1)[1]
    assert message.count("%0A") == 12
    assert message.endswith("line 11%0A…")


def test_the_readme_counts_of_a_step_hold() -> None:
    # README "Annotations": a failed run shows at most 8 failing, 9 flaky, 9 skipped tests;
    # a passed run 9 flaky and 8 skipped (its summary is a notice).
    def shown(run_cases: list[TestCase]) -> dict[str, int]:
        out = io.StringIO()
        write_annotations(
            run_of(suite("unit", run_cases)), fail_on=["failed", "error"], stream=out, annotate="all"
        )
        lines = out.getvalue().splitlines()
        tests = [line for line in lines if "title=qaagent::" not in line]
        return {
            lvl: sum(line.startswith(f"::{lvl} ") for line in tests) for lvl in ("error", "warning", "notice")
        }

    flaky = [case(f"k{i}", flaky=True) for i in range(20)]
    skipped = [case(f"s{i}", "skipped") for i in range(20)]
    failed = [case(f"f{i}", "failed") for i in range(20)]
    assert shown([*failed, *flaky, *skipped]) == {"error": 8, "warning": 9, "notice": 9}
    assert shown([*flaky, *skipped]) == {"error": 0, "warning": 9, "notice": 8}
