"""A first guess at why a test failed, so a reader knows where to look.

The categories are coarse on purpose — assertion (the code under test gave a
wrong answer), timeout, connection (a service was not reachable), auth
(401/403, bad credentials), data (missing keys, bad fixtures, decode and
integrity errors), flaky (passed on a retry) and unknown. They come from
patterns on the exception type, the message and the end of the traceback,
checked in that order of specificity: an assertion that fails because a
request timed out is a timeout, not an assertion. The type and message are
searched first; the traceback only when they give no clue (it is long, and
its source lines mention words like "timeout" that prove nothing).
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Literal

from qaagent.memo import Memo

if TYPE_CHECKING:
    from qaagent.results import TestCase

Category = Literal["assertion", "timeout", "connection", "auth", "data", "flaky", "unknown"]
CATEGORIES: tuple[Category, ...] = ("assertion", "timeout", "connection", "auth", "data", "flaky", "unknown")

#: how much of the end of a traceback is searched (the raising frame is at the end)
DETAILS_TAIL = 1000
#: a type and message longer than this (characters) are categorized afresh each time
_MEMO_CHARS = 4096
#: (status, type, message, the details' tail) -> category: one failure repeats across a parametrized test
_MEMO: Memo[tuple[str, str, str, str], Category] = Memo()

# Patterns are lowercase and matched against lowercased text: a case-insensitive
# regex cannot use the engine's first-character skip and is ~10x slower. Each
# alternative comes with a plain substring that every text it matches contains:
# a rule's regex runs only on a text holding one of them (a few `in` tests cost a
# few microseconds; the regexes without a literal start scanned a 1,000-character
# traceback in ~180 µs, docs/benchmarks.md). `tests/test_evidence_diagnostics.py`
# checks that the hints never change a category.
_ALTERNATIVES: tuple[tuple[Category, tuple[tuple[str, str], ...]], ...] = (
    (
        "timeout",
        (
            ("timeout", r"timeout(?!\s*=)"),
            ("timed", r"timed[ -]?out"),
            ("deadline exceeded", r"deadline exceeded"),
            ("took longer than", r"took longer than"),
        ),
    ),
    (
        "connection",
        (
            ("connectionerror", r"connectionerror"),
            ("connectionrefused", r"connectionrefused"),
            ("connectionreset", r"connectionreset"),
            ("connectionaborted", r"connectionaborted"),
            ("econnrefused", r"econnrefused"),
            ("econnreset", r"econnreset"),
            ("connection ", r"connection (?:refused|reset|aborted|closed)"),
            ("max retries exceeded", r"max retries exceeded"),
            ("newconnectionerror", r"newconnectionerror"),
            ("name or service not known", r"name or service not known"),
            ("nodename nor servname", r"nodename nor servname"),
            ("getaddrinfo", r"getaddrinfo"),
            ("temporary failure in name resolution", r"temporary failure in name resolution"),
            ("net::err_", r"net::err_"),
            ("brokenpipeerror", r"brokenpipeerror"),
            ("socket.gaierror", r"socket\.gaierror"),
            ("remotedisconnected", r"remotedisconnected"),
            ("network is unreachable", r"network is unreachable"),
        ),
    ),
    (
        "auth",
        (
            ("40", r"(?:^|[\s=(\[,'\"])(?<!line )40[13]\b(?!:)"),
            ("unauthori", r"unauthori[sz]ed"),
            ("forbidden", r"forbidden"),
            ("authenticat", r"authenticat"),
            ("not authori", r"not authori[sz]ed"),
            ("invalid credentials", r"invalid credentials"),
            ("access denied", r"access denied"),
            ("permission denied", r"permission denied"),
            ("invalid token", r"invalid token"),
            ("expired token", r"expired token"),
            ("token expired", r"token expired"),
            ("login failed", r"login failed"),
        ),
    ),
    (
        "data",
        (
            ("keyerror", r"keyerror"),
            ("indexerror", r"indexerror"),
            ("jsondecodeerror", r"jsondecodeerror"),
            ("unicodedecodeerror", r"unicodedecodeerror"),
            ("unicodeencodeerror", r"unicodeencodeerror"),
            ("integrityerror", r"integrityerror"),
            ("dataerror", r"dataerror"),
            ("validationerror", r"validationerror"),
            ("parseerror", r"parseerror"),
            ("doesnotexist", r"doesnotexist"),
            ("nosuchelement", r"nosuchelement"),
            ("filenotfounderror", r"filenotfounderror"),
            ("fixture '", r"fixture '[^']*' not found"),
            ("no such table", r"no such table"),
            ("no such file", r"no such file"),
            ("duplicate key", r"duplicate key"),
            ("schema mismatch", r"schema mismatch"),
        ),
    ),
    (
        "assertion",
        (
            ("assert", r"assert(?:ion)?error|assertionfailederror"),
            ("comparisonfailure", r"comparisonfailure"),
            ("assert", r"\bassert\b"),
            ("expect(", r"expect\("),
            ("expected", r"expected\b"),
            ("tobe", r"tobe"),
            ("toequal", r"toequal"),
            ("tohave", r"tohave"),
            ("should ", r"should (?:be|have|equal)"),
        ),
    ),
)
_Rules = tuple[tuple[Category, re.Pattern[str], tuple[tuple[str, re.Pattern[str]], ...]], ...]


@functools.cache
def _rules() -> _Rules:
    """Per rule, its whole pattern (the definition) and its alternatives, each with its hint.

    Compiled the first time a failure is categorized, not at import: a run without a
    failed test never needs the ~65 patterns (7-25 ms of every run's start-up).
    """
    return tuple(
        (
            category,
            re.compile("|".join(regex for _, regex in alternatives)),
            tuple((hint, re.compile(regex)) for hint, regex in alternatives),
        )
        for category, alternatives in _ALTERNATIVES
    )


def _first_match(text: str, *, hints: bool = True) -> Category | None:
    """The first rule whose pattern matches `text` (lowercase).

    With `hints`, only the alternatives whose hint is in `text` are searched, each
    on its own (an alternative with a literal start is found by a fast scan);
    without, the rule's whole pattern: the definition the hints must agree with.
    """
    for category, pattern, alternatives in _rules():
        if hints:
            if any(hint in text and regex.search(text) for hint, regex in alternatives):
                return category
        elif pattern.search(text):
            return category
    return None


def categorize(case: TestCase) -> Category:
    """Guess the likely cause of a failed, errored or flaky test (`unknown` if no pattern fits).

    A passed-on-retry test is `flaky` whatever its earlier failures said.
    """
    if case.flaky and case.status == "passed":
        return "flaky"
    tail = case.details[-DETAILS_TAIL:]
    if len(case.type) + len(case.message) > _MEMO_CHARS:
        return _categorize(case.status, case.type, case.message, tail)
    key = (case.status, case.type, case.message, tail)
    return _MEMO.get(key) or _MEMO.put(key, _categorize(*key))


def _categorize(status: str, type_: str, message: str, tail: str) -> Category:
    """`categorize` of a case that did not pass on a retry, from its fields."""
    for text in (f"{type_}\n{message}".lower(), tail.lower()):
        if text.strip():
            found = _first_match(text)
            if found is not None:
                return found
    if status == "failed":
        # a failure (as opposed to an error) is an assertion by JUnit's definition
        return "assertion"
    return "unknown"
