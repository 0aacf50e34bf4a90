"""`categorize`: a first guess at why a test failed."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import ROOT, case
from hypothesis import given, settings
from hypothesis import strategies as st

from qaagent.attempts import Rerun
from qaagent.evidence import diagnostics
from qaagent.evidence.diagnostics import categorize


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"message": "assert 1 == 2", "type": "AssertionError"}, "assertion"),
        ({"message": "expect(received).toBe(expected)"}, "assertion"),
        ({"status": "failed", "message": "values differ"}, "assertion"),
        ({"message": "Timeout 5000ms exceeded.", "type": "Error"}, "timeout"),
        ({"status": "error", "message": "suite timed out after 1800 s"}, "timeout"),
        ({"status": "error", "type": "requests.exceptions.ReadTimeout"}, "timeout"),
        (
            {
                "status": "error",
                "message": "[Errno 111] Connection refused",
                "type": "ConnectionRefusedError",
            },
            "connection",
        ),
        ({"status": "error", "message": "page.goto: net::ERR_CONNECTION_REFUSED"}, "connection"),
        ({"message": "assert 401 == 200"}, "auth"),
        ({"status": "error", "message": "403 Client Error: Forbidden for url"}, "auth"),
        ({"status": "error", "type": "KeyError", "message": "'user_id'"}, "data"),
        ({"status": "error", "message": "fixture 'db' not found"}, "data"),
        ({"status": "error", "type": "json.decoder.JSONDecodeError"}, "data"),
        ({"status": "error", "type": "RuntimeError", "message": "boom"}, "unknown"),
        ({"status": "error"}, "unknown"),
    ],
)
def test_categories(kwargs: dict[str, Any], expected: str) -> None:
    assert categorize(case("n", **{"status": "failed", **kwargs})) == expected


def test_flaky_wins() -> None:
    flaky = case("n", "passed", flaky=True, attempts=2, reruns=(Rerun("failed", "Connection refused"),))
    assert categorize(flaky) == "flaky"


def test_line_numbers_and_keyword_arguments_are_not_clues() -> None:
    details = "tests/test_api.py:403: in test_x\n    r = get(url, timeout=5)\nE   assert 'a' == 'b'"
    assert (
        categorize(case("n", "failed", message="assert 'a' == 'b'", details=details, type="AssertionError"))
        == "assertion"
    )


def test_only_the_end_of_long_details_is_searched() -> None:
    details = "Connection refused\n" + "x" * 5000 + "\nAssertionError"
    assert categorize(case("n", "error", details=details)) == "assertion"


#: pieces of every alternative (and near misses) the texts below are made of
_FRAGMENTS = [
    *(hint for _, alternatives in diagnostics._ALTERNATIVES for hint, _ in alternatives),
    *[
        "timeout = ",
        "timeout=",
        " timed out",
        "timed-out",
        "line 401",
        "line 403",
        " 401 ",
        "=403",
        "(401)",
        "401:",
        "4031",
        "[403",
        ",401",
        "'403",
        '"401',
        "reassert",
        "assert ",
        "assertx",
        "expected",
        "expectedly",
        "expect(",
        "tobe",
        "fixture 'db' not found",
        "fixture 'x",
        "unauthorised",
        "unauthorized",
        "not authorised",
        "socket.gaierror",
        "socketxgaierror",
        "connection reset",
        "no such file",
        "\n",
        "  ",
        "x",
        "ion",
        "error",
        "",
    ],
]


@pytest.mark.slow
@settings(max_examples=600)
@given(st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=4), max_size=12))
def test_hints_never_change_a_category(pieces: list[str]) -> None:
    text = "".join(pieces).lower()
    assert diagnostics._first_match(text) == diagnostics._first_match(text, hints=False)


def test_hints_agree_on_realistic_tracebacks() -> None:
    texts = [
        f"{kind}: {detail}"
        for kind in ("KeyError", "AssertionError", "TimeoutError")
        for detail in ("x", "401")
    ]
    texts += [(ROOT / "tests" / "corpus" / "README.md").read_text(encoding="utf-8").lower()]
    for text in texts:
        assert diagnostics._first_match(text.lower()) == diagnostics._first_match(text.lower(), hints=False)
