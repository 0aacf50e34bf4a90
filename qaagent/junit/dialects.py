"""What a JUnit producer meant: per-tool rules for a test case's message and outcome.

The JUnit format leaves much to its producers, and several write a message
that is not what happened. Each rule here has a narrow trigger (the exact
text or attribute the tool writes), so a report from another producer is
taken as written:

- pytest reports a collection error as ``<error message="collection failure">``
  with ``classname=""``; the cause is the first ``E   …`` line of the traceback
  that names an exception (``E   pytest.PytestRemovedIn10Warning: …``).
- behave writes an undefined step as ``<error type="NoneType" message="None">``;
  its body says ``Failing step: When x ... undefined in 0.000s``, so the message
  becomes ``undefined step: When x``.
- Playwright before 1.5x writes the test's title as the message
  (``spec.ts:7:5 title``); the error's first line is in the body.
- pytest marks an expected failure ``<skipped type="pytest.xfail">`` and a strict
  unexpected pass ``<failure message="[XPASS(strict)] …">``; node's test runner
  marks a TODO test ``<skipped type="todo">`` (with a ``<failure>`` when it failed).
- a failure or error without a message (jest-junit writes only the body) gets
  the body's first line (``Error: expect(received).toBe(expected)``).
- gotestsum writes ``message="Failed"`` and the test's whole output as the body
  (`qaagent.formats.golang` finds the ``file_test.go:12: message`` line in it).

A report written by qaagent itself (`WRITTEN_BY`) is read as written: none of
these rules apply to it, and its lines are already 1-based.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final, Literal

from qaagent.formats.source import first_line

if TYPE_CHECKING:
    from collections.abc import Collection

    from qaagent.results import Status

Outcome = Literal["xfail", "xpass"]

#: the testsuite property qaagent's merged JUnit carries: `<property name="written_by" value="qaagent"/>`
WRITTEN_BY: Final = ("written_by", "qaagent")
#: the properties every testsuite of a merged report written before the marker existed carries
LEGACY_QAAGENT_PROPERTIES: Final = frozenset({"runner", "attempts", "returncode", "command", "timed_out"})
#: gotestsum puts this property on each testsuite
GO_VERSION_PROPERTY: Final = "go.version"

#: skipped `type`s that mean "failed, as expected" (pytest, node's test runner, TAP's TODO)
XFAIL_TYPES: Final = frozenset({"pytest.xfail", "todo", "TODO", "xfail"})

_PYTEST_COLLECTION = "collection failure"
#: pytest's traceback lines: "E   ModuleNotFoundError: No module named 'x'"
_E_LINE = re.compile(r"^E\s+(\S.*)$", re.MULTILINE)
_NAMES_EXCEPTION = re.compile(
    r"^(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Warning|Exit|Interrupt)\b"
)
_BEHAVE_FAILING_STEP = re.compile(
    r"^Failing step: (?P<step>.+?) \.\.\. (?P<status>[a-z_]+)(?: in [\d.]+s)?\s*$", re.MULTILINE
)
#: Playwright's old message: "<spec file>:<line>:<column> <title>"
_PLAYWRIGHT_TITLE = re.compile(r"^(?P<spec>[^\s:]+):\d+:\d+ (?P<title>.*)$", re.DOTALL)
#: the header line of a Playwright failure body: "  spec.ts:8:1 › title ─────"
_PLAYWRIGHT_HEADER = re.compile(r"^\s*\S+:\d+:\d+ › .*$", re.MULTILINE)


def pytest_collection_cause(details: str) -> str | None:
    """The line of a pytest collection traceback that names the exception, if any."""
    fallback = None
    for match in _E_LINE.finditer(details):
        text = match.group(1).strip()
        if _NAMES_EXCEPTION.match(text):
            return text
        fallback = fallback or text
    return fallback


def behave_step_message(details: str) -> str | None:
    """``undefined step: Given x`` from behave's ``Failing step: Given x ... undefined`` line."""
    match = _BEHAVE_FAILING_STEP.search(details)
    if match is None:
        return None
    return f"{match['status']} step: {match['step']}"


def playwright_error_line(message: str, name: str, details: str) -> str | None:
    """The error's first line when an old Playwright wrote the title as the message."""
    match = _PLAYWRIGHT_TITLE.match(message)
    if match is None or match["title"] != name:
        return None
    header = _PLAYWRIGHT_HEADER.search(details)
    if header is None:
        return None
    line = first_line(details[header.end() :])
    line = line.removeprefix("Error: ")
    return line or None


def refine_message(status: Status, message: str, type_: str, details: str, name: str) -> str:
    """The message a failed, errored or skipped case should carry (usually `message` itself)."""
    if status == "error" and message == _PYTEST_COLLECTION:
        return pytest_collection_cause(details) or message
    if status in ("failed", "error") and message in ("None", "") and type_ == "NoneType":
        return behave_step_message(details) or message
    if status in ("failed", "error") and message:
        return playwright_error_line(message, name, details) or message
    if status in ("failed", "error") and details:
        # jest-junit (and others) write `<failure>` with only a body: its first line is the error
        return first_line(details)
    return message


def xfail_outcome(status: Status, message: str, skipped_types: Collection[str]) -> Outcome | None:
    """Pytest's xfail (a skipped type) and strict xpass (a failure message), as an outcome."""
    if status == "skipped" and any(kind in XFAIL_TYPES for kind in skipped_types):
        return "xfail"
    if status == "failed" and message.startswith("[XPASS(strict)]"):
        return "xpass"
    return None
