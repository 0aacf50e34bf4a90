"""The hand-written escaping and JSON lines give exactly what the standard library would."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qaagent.evidence.diagnostics import categorize
from qaagent.evidence.records import _ENCODER, RecordWriter
from qaagent.junit.write import escape_text, quote_attr
from qaagent.redact import Redactor
from qaagent.results import STATUSES, Status, TestCase
from qaagent.stream import CaseText

if TYPE_CHECKING:
    from qaagent.files import StreamedFile

#: the characters escaping cares about, mixed with anything else
_TRICKY = st.text(alphabet=st.sampled_from("&<>\"'\n\r\t ab\x1b\u2028é😀\\/"), max_size=30) | st.text(
    max_size=30
)


@given(_TRICKY)
def test_quote_attr_matches_saxutils(value: str) -> None:
    assert quote_attr(value) == quoteattr(value)


@given(_TRICKY)
def test_escape_text_matches_saxutils(value: str) -> None:
    assert escape_text(value) == escape(value)


@pytest.mark.slow
@settings(max_examples=300)
@given(
    text=_TRICKY,
    status=st.sampled_from(STATUSES),
    duration=st.floats(allow_nan=True, allow_infinity=True) | st.integers(0, 10),
    line=st.none() | st.integers(0, 10**7),
    flaky=st.booleans(),
    artifacts=st.lists(_TRICKY, max_size=2),
)
def test_record_line_matches_the_json_encoder(
    *, text: str, status: Status, duration: float, line: int | None, flaky: bool, artifacts: list[str]
) -> None:
    case = TestCase(
        f"s{text}",
        f"c{text}",
        text,
        status,
        duration,
        text or None,
        line,
        message=text * 3,
        details=text,
        flaky=flaky,
        artifacts=tuple(artifacts),
    )
    item = CaseText(Redactor(["s3cret"]).redact, 65536, categorize).prepare(case, 0)
    fast = RecordWriter(cast("StreamedFile", None), 1.7e9)
    reference = RecordWriter(cast("StreamedFile", None), 1.7e9)
    assert fast.line(item) == _ENCODER.encode(reference.record(item)) + "\n"
    assert fast.categories == reference.categories


def test_a_case_links_no_artifact_the_bundle_set_aside() -> None:
    # an unredactable screenshot removed from the bundle (reports.keep_unredactable off)
    case = TestCase(
        "e2e", "", "t", "failed", 1.0, None, None,
        artifacts=("suites/e2e/artifacts/shot.png", "suites/e2e/artifacts/error-context.md"),
    )  # fmt: skip
    text = CaseText(Redactor([]).redact, 65536, dropped={"suites/e2e/artifacts/shot.png"})
    assert text.prepare(case, 0).artifacts == ("suites/e2e/artifacts/error-context.md",)
    assert CaseText(Redactor([]).redact, 65536).prepare(case, 0).artifacts == case.artifacts
