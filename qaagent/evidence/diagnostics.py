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

import re
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from qaagent.results import TestCase

Category = Literal["assertion", "timeout", "connection", "auth", "data", "flaky", "unknown"]
CATEGORIES: tuple[Category, ...] = ("assertion", "timeout", "connection", "auth", "data", "flaky", "unknown")

#: how much of the end of a traceback is searched (the raising frame is at the end)
DETAILS_TAIL = 1000

# Patterns are lowercase and matched against lowercased text: a case-insensitive
# regex cannot use the engine's first-character skip and is ~10x slower.
_RULES: tuple[tuple[Category, re.Pattern[str]], ...] = (
    (
        "timeout",
        re.compile(r"timeout(?!\s*=)|timed[ -]?out|deadline exceeded|took longer than"),
    ),
    (
        "connection",
        re.compile(
            r"connectionerror|connectionrefused|connectionreset|connectionaborted|econnrefused|econnreset"
            r"|connection (?:refused|reset|aborted|closed)|max retries exceeded|newconnectionerror"
            r"|name or service not known|nodename nor servname|getaddrinfo"
            r"|temporary failure in name resolution"
            r"|net::err_|brokenpipeerror|socket\.gaierror|remotedisconnected|network is unreachable"
        ),
    ),
    (
        "auth",
        re.compile(
            r"(?:^|[\s=(\[,'\"])(?<!line )40[13]\b(?!:)|unauthori[sz]ed|forbidden|authenticat"
            r"|not authori[sz]ed"
            r"|invalid credentials|access denied|permission denied|invalid token|expired token|token expired"
            r"|login failed"
        ),
    ),
    (
        "data",
        re.compile(
            r"keyerror|indexerror|jsondecodeerror|unicodedecodeerror|unicodeencodeerror|integrityerror"
            r"|dataerror|validationerror|parseerror|doesnotexist|nosuchelement|filenotfounderror"
            r"|fixture '[^']*' not found|no such table|no such file|duplicate key|schema mismatch"
        ),
    ),
    (
        "assertion",
        re.compile(
            r"assert(?:ion)?error|assertionfailederror|comparisonfailure|\bassert\b|expect\(|expected\b"
            r"|tobe|toequal|tohave|should (?:be|have|equal)"
        ),
    ),
)


def categorize(case: TestCase) -> Category:
    """Guess the likely cause of a failed, errored or flaky test (`unknown` if no pattern fits).

    A passed-on-retry test is `flaky` whatever its earlier failures said.
    """
    if case.flaky and case.status == "passed":
        return "flaky"
    for text in (f"{case.type}\n{case.message}".lower(), case.details[-DETAILS_TAIL:].lower()):
        if text.strip():
            for category, pattern in _RULES:
                if pattern.search(text):
                    return category
    if case.status == "failed":
        # a failure (as opposed to an error) is an assertion by JUnit's definition
        return "assertion"
    return "unknown"
