"""The one set of option validators: what command-line flags and action inputs become.

The frozen records they fill (`RunOptions`, `MergeOptions`, `FeedbackOptions`) are
`qaagent.command_options`.

`cli.py` hands these validators to argparse (`type=cli_type(workers)`); the
action's input reader (`qaagent.action`) calls the same functions on the
`INPUT_*` strings. Each option has one range, used everywhere it can be set —
flag, input and profile (`profile.py` takes its pydantic bounds from here):

| option | range |
| --- | --- |
| max-workers | 1–256 |
| retries | 0–20 |
| keep | 1–10,000 |
| shards | 1–256 (`auto`: read from the CI, `qaagent.ci`) |
| split | `auto`, `off` or 1–256 batches |
| timeout | seconds, > 0 and at most a week |
| annotations-limit | 0–10 (GitHub shows 10 of a level per step) |
| pull-request | 1–999,999,999 |
| history window (`history.window`, `qaagent history --window`) | 1–10,000 runs |
| history release-after (`history.release_after`) | 1–10,000 clean passes |
| flaky threshold (`history.flaky_threshold`, `--threshold`) | a rate from 0 to 1 |
| commit | 40 hexadecimal digits |

Whole numbers are ASCII digits only (`int()` also reads "٣", "²" and " 3 ",
which nobody means); seconds and rates are plain decimal numbers, ASCII digits
with at most one decimal point (`float()` also reads "1_0", " 1", "nan", "inf"
and "1e309"), so every value is finite before its range is checked; booleans
are true/false/yes/no/1/0 in any case, lists are separated by commas, spaces
or newlines. A bad value raises
`InvalidValue` with a message that starts with what was expected; the
caller says which flag or input it was.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, TypeVar, cast

from qaagent.errors import UsageError
from qaagent.formats import AUTO, NAMES
from qaagent.text import CONTROL

if TYPE_CHECKING:  # the results model is not imported for a flag's check (`qaagent --help`)
    from qaagent.run_result import FailOn

T = TypeVar("T")


class InvalidValue(ValueError):  # noqa: N818 - reads as what it is: `raise InvalidValue(...)`
    """A flag or input value that the option does not take; the message says what it takes."""


@dataclass(frozen=True)
class Range:
    """The whole numbers an option takes, both ends included."""

    low: int
    high: int


WORKERS: Final = Range(1, 256)
RETRIES: Final = Range(0, 20)
KEEP: Final = Range(1, 10_000)
SHARDS: Final = Range(1, 256)
#: batches one suite may be split into (`split: N`)
SPLIT: Final = Range(1, 256)
#: the longest a suite attempt may be given (seconds)
MAX_TIMEOUT: Final = 7 * 24 * 3600.0
#: bytes of captured output kept per test case (`reports.max_output`; the reader keeps 64 KiB)
MAX_OUTPUT: Final = Range(0, 64 * 1024)
FAIL_ON_CHOICES: Final[tuple[FailOn, ...]] = ("failed", "error", "flaky", "new-failures")
#: runs of a branch that flake rates and durations are computed over (`history.window`, `--window`)
WINDOW: Final = Range(1, 10_000)
#: clean passes in a row after which a test leaves the automatic quarantine
RELEASE_AFTER: Final = Range(1, 10_000)
#: test annotations of one level per step: GitHub shows at most 10 of each level (error,
#: warning, notice) per step and 50 per job (docs.github.com, "Workflow commands for GitHub
#: Actions", and actions/toolkit docs/problem-matchers.md)
ANNOTATIONS_LIMIT: Final = Range(0, 10)
PULL_REQUEST: Final = Range(1, 999_999_999)
#: characters of a summary title
TITLE_CHARS: Final = 200
CommentMode = Literal["always", "changes", "failures", "off"]
AnnotateMode = Literal["failures", "failures-and-flaky", "all"]
SummaryMode = Literal["full", "failures", "totals", "off"]
COMMENT_MODES: Final[tuple[CommentMode, ...]] = ("always", "changes", "failures", "off")
ANNOTATE_MODES: Final[tuple[AnnotateMode, ...]] = ("failures", "failures-and-flaky", "all")
SUMMARY_MODES: Final[tuple[SummaryMode, ...]] = ("full", "failures", "totals", "off")
TRUE_WORDS: Final = frozenset({"true", "yes", "1"})
FALSE_WORDS: Final = frozenset({"false", "no", "0"})

_DIGITS = re.compile(r"[0-9]{1,9}")
#: a plain decimal number: no sign, exponent, blank, underscore, nan or inf (and so always finite)
_DECIMAL = re.compile(r"[0-9]{1,12}(?:\.[0-9]{0,9})?|\.[0-9]{1,9}")
_SHARD = re.compile(r"^[ \t]*([0-9]{1,6})[ \t]*/[ \t]*([0-9]{1,6})[ \t]*\Z")
_LIST = re.compile(r"[\s,]+")
#: globs are separated by commas and line breaks only: a space may be part of a file name
_GLOBS = re.compile(r"[,\r\n]+")
_COMMIT = re.compile(r"[0-9a-fA-F]{40}")
#: what a suite may be called: a profile's `tests:` key, a bundle's suite folder (the one rule)
SUITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


# -- the validators -------------------------------------------------------------------------------


def whole_number(text: str, allowed: Range) -> int:
    """A whole number in `allowed`, written in ASCII digits."""
    if not _DIGITS.fullmatch(text) or not allowed.low <= int(text) <= allowed.high:
        msg = f"expected a whole number from {allowed.low} to {allowed.high}, got {text[:80]!r}"
        raise InvalidValue(msg)
    return int(text)


def profile_whole_number(value: object, allowed: Range) -> int:
    """A profile's whole number: a YAML integer in `allowed`, or text `whole_number` takes.

    Never a boolean or a float (``3.0``): what a flag or an input refuses, the profile
    refuses too. The profile's YAML reads only plain decimal integers as numbers
    (``+3``, ``1_000``, ``0x10`` stay text, which `whole_number` refuses).
    """
    if isinstance(value, str):
        return whole_number(value, allowed)
    if isinstance(value, int) and not isinstance(value, bool) and allowed.low <= value <= allowed.high:
        return value
    msg = f"expected a whole number from {allowed.low} to {allowed.high}, got {str(value)[:80]!r}"
    raise InvalidValue(msg)


def profile_seconds(value: object) -> float:
    """A profile's seconds: a YAML number in range, or text `seconds` takes (never a boolean)."""
    if isinstance(value, str):
        return seconds(value)
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 < value <= MAX_TIMEOUT
    ):
        return float(value)
    msg = f"expected seconds > 0 and at most {MAX_TIMEOUT:g}, got {str(value)[:80]!r}"
    raise InvalidValue(msg)


def profile_rate(value: object) -> float:
    """A profile's rate from 0 to 1: a YAML number or text `rate` takes (never a boolean)."""
    if isinstance(value, str):
        return rate(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    msg = f"expected a rate from 0 to 1, got {str(value)[:80]!r}"
    raise InvalidValue(msg)


def workers(text: str) -> int:
    """`max-workers`: suites running at once."""
    return whole_number(text, WORKERS)


def retries(text: str) -> int:
    """`retries`: reruns of the failed tests, per suite."""
    return whole_number(text, RETRIES)


def keep(text: str) -> int:
    """`keep`: bundles kept in the evidence dir."""
    return whole_number(text, KEEP)


def shard_count(text: str) -> int:
    """`plan --shards`: how many matrix jobs."""
    return whole_number(text, SHARDS)


def decimal(text: str) -> float | None:
    """`text` as a number when it is a plain decimal number (`_DECIMAL`), else None."""
    return float(text) if _DECIMAL.fullmatch(text) else None


def rate(text: str) -> float:
    """A rate from 0 to 1 (a flake-rate threshold)."""
    value = decimal(text)
    if value is None or not 0 <= value <= 1:
        msg = f"expected a rate from 0 to 1, got {text[:80]!r}"
        raise InvalidValue(msg)
    return value


def seconds(text: str) -> float:
    """A duration in seconds, > 0 and at most `MAX_TIMEOUT`."""
    value = decimal(text)
    if value is None or not 0 < value <= MAX_TIMEOUT:
        msg = f"expected seconds > 0 and at most {MAX_TIMEOUT:g}, got {text[:80]!r}"
        raise InvalidValue(msg)
    return value


@dataclass(frozen=True, order=True)
class Shard:
    """Shard `index` of `total` (1-based), written ``I/N``."""

    index: int
    total: int

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"

    @property
    def suffix(self) -> str:
        """``IofN``, as in a shard bundle's run id."""
        return f"{self.index}of{self.total}"


@dataclass(frozen=True)
class AutoShard:
    """`--shard auto`: the index and total come from the CI's parallel-job variables (`qaagent.ci`)."""

    def __str__(self) -> str:
        return "auto"


AUTO_SHARD: Final = AutoShard()


def shard(text: str) -> Shard:
    """``I/N`` with 1 <= I <= N <= 256 (blanks around the numbers allowed)."""
    match = _SHARD.match(text)
    index, total = (int(match[1]), int(match[2])) if match else (0, 0)
    if not 1 <= index <= total <= SHARDS.high:
        msg = f"invalid shard {text[:80]!r}: expected I/N with 1 <= I <= N <= {SHARDS.high}, e.g. 2/4"
        raise InvalidValue(msg)
    return Shard(index, total)


def annotations_limit(text: str) -> int:
    """`annotations-limit`: test annotations of each level printed by the step."""
    return whole_number(text, ANNOTATIONS_LIMIT)


def pull_request(text: str) -> int:
    """`pull-request`: the number of the pull request to comment on."""
    return whole_number(text, PULL_REQUEST)


def commit(text: str) -> str:
    """`commit`: a full commit SHA (40 hex digits), lower-cased."""
    if not _COMMIT.fullmatch(text):
        msg = f"expected a full commit SHA (40 hexadecimal digits), got {text[:80]!r}"
        raise InvalidValue(msg)
    return text.lower()


def _choice(text: str, choices: Sequence[T]) -> T:
    word = text.strip().lower()
    for choice in choices:
        if word == choice:
            return choice
    msg = f"expected one of {', '.join(map(str, choices))}, got {text.strip()[:80]!r}"
    raise InvalidValue(msg)


def comment_mode(text: str) -> CommentMode:
    """`comment-mode`: always, changes, failures or off."""
    return _choice(text, COMMENT_MODES)


def annotate(text: str) -> AnnotateMode:
    """`annotate`: failures, failures-and-flaky or all."""
    return _choice(text, ANNOTATE_MODES)


def summary_mode(text: str) -> SummaryMode:
    """`summary`: full, failures, totals or off; true and false (the old boolean) mean full and off."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return "full"
    if word in FALSE_WORDS:
        return "off"
    return _choice(text, SUMMARY_MODES)


def title(text: str) -> str:
    """`summary-title`: one line of at most `TITLE_CHARS` characters, no control characters."""
    clean = text.strip()
    if not clean or len(clean) > TITLE_CHARS or CONTROL.search(clean):
        msg = f"expected one line of 1 to {TITLE_CHARS} characters without control characters"
        raise InvalidValue(msg)
    return clean


def shard_or_auto(text: str) -> Shard | AutoShard:
    """`--shard` / the `shard` input: ``I/N`` as `shard` takes it, or ``auto`` (any case)."""
    if text.strip().lower() == "auto":
        return AUTO_SHARD
    try:
        return shard(text)
    except InvalidValue as exc:
        raise InvalidValue(f"{exc}, or auto (the CI's parallel job)") from None


#: a suite's `split:` — `auto`, `off` or at most that many batches
SplitSetting = Literal["auto", "off"] | int


def split_setting(value: object) -> SplitSetting:
    """`split:` of a suite: ``auto``, ``off`` (YAML's ``off``/``false`` arrive as False) or 1–256.

    Strings and whole numbers only: ``true`` (YAML's ``on``/``yes``) is refused, it could mean either.
    """
    if value is False:
        return "off"
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("auto", "off"):
            return cast("SplitSetting", word)
        if _DIGITS.fullmatch(word) and SPLIT.low <= int(word) <= SPLIT.high:
            return int(word)
    elif isinstance(value, int) and not isinstance(value, bool) and SPLIT.low <= value <= SPLIT.high:
        return value
    shown = "true (YAML reads on/yes/true as a boolean)" if value is True else repr(value)[:80]
    msg = f"expected auto, off or a number of batches from {SPLIT.low} to {SPLIT.high}, got {shown}"
    raise InvalidValue(msg)


def boolean(text: str) -> bool:
    """true/false/yes/no/1/0 in any case, blanks around it allowed."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    msg = f"expected true or false (or yes/no/1/0), got {text.strip()[:80]!r}"
    raise InvalidValue(msg)


def switch(text: str) -> bool:
    """on/off, or a boolean word (`boolean`): the `history` input."""
    word = text.strip().lower()
    if word in {"on", "off"}:
        return word == "on"
    try:
        return boolean(word)
    except InvalidValue:
        msg = f"expected on or off (or true/false), got {text.strip()[:80]!r}"
        raise InvalidValue(msg) from None


_BRANCH = re.compile(r"^[^\x00-\x20\x7f~^:?*\[\\]{1,255}\Z")


def branch(text: str) -> str:
    """A git branch name (as `--base-branch` or an input): no blanks, control or glob characters."""
    name = text.strip().removeprefix("refs/heads/")
    if not _BRANCH.match(name) or name.startswith("-") or ".." in name:
        msg = f"expected a branch name, got {text.strip()[:80]!r}"
        raise InvalidValue(msg)
    return name


def items(text: str) -> tuple[str, ...]:
    """The items of a comma, space or newline separated list (empty items dropped)."""
    return tuple(item for item in _LIST.split(text.strip()) if item)


def globs(text: str) -> tuple[str, ...]:
    """Result-file globs separated by commas or line breaks (`!glob` excludes); at least one includes."""
    found = tuple(item.strip() for item in _GLOBS.split(text) if item.strip())
    if not any(not item.startswith("!") for item in found) or "!" in found:
        msg = f"expected globs of result files (comma/newline separated, `!glob` excludes), got {text[:80]!r}"
        raise InvalidValue(msg)
    return found


def result_format(text: str) -> str:
    """A result format name (docs/formats.md) or `auto`."""
    value = text.strip().lower()
    if value != AUTO and value not in NAMES:
        msg = f"expected one of {', '.join(NAMES)} (or {AUTO}), got {text.strip()[:80]!r}"
        raise InvalidValue(msg)
    return value


def fail_on(text: str) -> tuple[FailOn, ...]:
    """A non-empty list of failed, error, flaky, new-failures (any case, duplicates dropped)."""
    return fail_on_items(items(text), shown=text)


def fail_on_items(found: Sequence[str], *, shown: str | None = None) -> tuple[FailOn, ...]:
    """`fail_on` of already separated items (a profile's YAML list).

    ``new-failures`` stands for the failed and errored tests that are not failing on
    the base branch too (`qaagent.history.verdict`); it replaces ``failed`` and
    ``error``, so listing it with either is refused (it would mean nothing).
    """
    words = [item.strip().lower() for item in found]
    wrong = [item for item in words if item not in FAIL_ON_CHOICES]
    if wrong or not words:
        got = ", ".join(repr(w[:80]) for w in wrong[:5]) if wrong else repr((shown or "")[:80])
        msg = f"expected a list of {', '.join(FAIL_ON_CHOICES)}, got {got}"
        raise InvalidValue(msg)
    if "new-failures" in words and ("failed" in words or "error" in words):
        msg = "new-failures replaces failed and error (it fails on new failures only): list it without them"
        raise InvalidValue(msg)
    return tuple(dict.fromkeys(cast("FailOn", item) for item in words))


def window(text: str) -> int:
    """`history.window` / `--window`: runs of a branch considered."""
    return whole_number(text, WINDOW)


def release_after(text: str) -> int:
    """`history.release_after`: clean passes in a row that end a quarantine."""
    return whole_number(text, RELEASE_AFTER)


def suite_names(values: Sequence[str], *, source: str = "--suite") -> tuple[str, ...]:
    """Suite names from repeated flags or lists (an empty value is a mistake, not "all").

    `source` is where they came from, as errors name it (`--suite`, ``input 'suites'``).
    """
    names: list[str] = []
    for value in values:
        found = items(value)
        if not found:
            msg = f"{source} needs a suite name (got {value[:80]!r})"
            raise UsageError(msg)
        names.extend(found)
    return tuple(dict.fromkeys(names))


def cli_type(validator: Callable[[str], T]) -> Callable[[str], T]:
    """`validator` as an argparse `type=`: its message becomes argparse's one-line error."""

    def convert(text: str) -> T:
        try:
            return validator(text)
        except InvalidValue as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = validator.__name__
    return convert
