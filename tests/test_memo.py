"""The one pass's memories of repeated text: bounded, and never a different answer."""

from __future__ import annotations

from pathlib import Path

from qaagent.evidence import diagnostics
from qaagent.junit.locate import Locator
from qaagent.memo import Memo
from qaagent.redact import Redactor
from qaagent.results import TestCase
from qaagent.stream import CaseText
from qaagent.text import clean_text, truncate


def test_a_memo_holds_at_most_its_entries() -> None:
    memo: Memo[str, int] = Memo(entries=3)
    for number in range(10):
        assert memo.put(str(number), number) == number
        assert len(memo._data) <= 3
    assert memo.get("9") == 9
    assert memo.get("0") is None


def test_cut_gives_the_same_text_remembered_or_not() -> None:
    secret = "hunter2-secret"  # noqa: S105 - a fake secret
    text = CaseText(Redactor([secret]).redact, 120)
    short = f"token={secret}\n\x1b[31mred\x1b[0m\x00" + "x" * 300
    long = ("é" * 9000) + secret  # beyond the memo's limit: cut afresh
    for value in (short, short, long, long):
        expected = truncate(clean_text(Redactor([secret]).redact(value)), 120)
        assert text.cut(value) == expected
        assert secret not in text.cut(value)


def test_one_traceback_gives_each_file_its_own_line(tmp_path: Path) -> None:
    locator = Locator(tmp_path, tmp_path)
    body = "tests/test_a.py:12: AssertionError\n" + '  File "tests/test_b.py", line 34, in t\n'
    for _ in range(2):  # the second time from the memory
        assert locator.traceback_line("tests/test_a.py", [body]) == 12
        assert locator.traceback_line("tests/test_b.py", [body]) == 34
        assert locator.traceback_line("tests/test_c.py", [body]) is None
    huge = body + "x" * 20_000 + '\n  File "tests/test_a.py", line 99, in t\n'
    assert locator.traceback_line("tests/test_a.py", [huge]) == 99


def test_categorize_is_the_same_remembered_or_not() -> None:
    def case(status: str, message: str, details: str = "") -> TestCase:
        return TestCase("s", "c", "n", status, message=message, details=details)  # type: ignore[arg-type]

    for _ in range(2):
        assert diagnostics.categorize(case("failed", "ReadTimeout: timed out")) == "timeout"
        assert diagnostics.categorize(case("error", "boom")) == "unknown"
        assert diagnostics.categorize(case("failed", "boom")) == "assertion"  # the status is in the key
        assert diagnostics.categorize(case("error", "x" * 5000 + " connection refused")) == "connection"
