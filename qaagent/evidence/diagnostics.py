"""A first guess at why a test failed, so a reader knows where to look.

The categories are coarse on purpose — assertion (the code under test gave a
wrong answer), timeout, connection (a service was not reachable), auth
(401/403, bad credentials), data (missing keys, bad fixtures, decode and
integrity errors), flaky (passed on a retry) and unknown. They come from
patterns on the exception type, the message and the end of the traceback,
checked in that order of specificity: an assertion that fails because a
request timed out is a timeout, not an assertion.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from qaagent.results import TestCase

Category = Literal["assertion", "timeout", "connection", "auth", "data", "flaky", "unknown"]
CATEGORIES: tuple[Category, ...] = ("assertion", "timeout", "connection", "auth", "data", "flaky", "unknown")

#: how much of the end of a traceback is searched (the raising frame is at the end)
DETAILS_TAIL = 2000

_RULES: tuple[tuple[Category, re.Pattern[str]], ...] = (
    (
        "timeout",
        re.compile(
            r"timeout(?!\s*=)|timed[ -]?out|deadline exceeded|Timeout \d+ ?ms exceeded|took longer than",
            re.IGNORECASE,
        ),
    ),
    (
        "connection",
        re.compile(
            r"ConnectionError|ConnectionRefused|ConnectionReset|ConnectionAborted"
            r"|ECONNREFUSED|ECONNRESET"
            r"|connection (?:refused|reset|aborted|closed)|Max retries exceeded|NewConnectionError"
            r"|Name or service not known|nodename nor servname|getaddrinfo"
            r"|Temporary failure in name resolution"
            r"|net::ERR_|BrokenPipeError|socket\.gaierror|RemoteDisconnected|Network is unreachable",
            re.IGNORECASE,
        ),
    ),
    (
        "auth",
        re.compile(
            r"(?<![:\d])(?<!line )\b40[13]\b(?!:)|Unauthori[sz]ed|Forbidden|authenticat|not authori[sz]ed"
            r"|invalid credentials"
            r"|access denied|permission denied|invalid token|expired token|token expired|login failed",
            re.IGNORECASE,
        ),
    ),
    (
        "data",
        re.compile(
            r"KeyError|IndexError|JSONDecodeError|UnicodeDecodeError|UnicodeEncodeError|IntegrityError"
            r"|DataError|ValidationError|ParseError|DoesNotExist|NoSuchElement|FileNotFoundError"
            r"|fixture '[^']*' not found|no such table|no such file|duplicate key|schema mismatch",
            re.IGNORECASE,
        ),
    ),
    (
        "assertion",
        re.compile(
            r"Assert(?:ion)?Error|AssertionFailedError|ComparisonFailure|\bassert\b|expect\(|Expected\b"
            r"|toBe|toEqual|toHave|should (?:be|have|equal)",
            re.IGNORECASE | re.MULTILINE,
        ),
    ),
)


def categorize(case: TestCase) -> Category:
    """Guess the likely cause of a failed, errored or flaky test (`unknown` if no pattern fits).

    A passed-on-retry test is `flaky` whatever its earlier failures said.
    """
    if case.flaky and case.status == "passed":
        return "flaky"
    haystacks = (case.type, case.message, case.details[-DETAILS_TAIL:])
    for category, pattern in _RULES:
        if any(text and pattern.search(text) for text in haystacks):
            return category
    if case.status == "failed":
        # a failure (as opposed to an error) is an assertion by JUnit's definition
        return "assertion"
    return "unknown"
