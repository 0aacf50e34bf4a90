"""What one command was asked to do, checked once, and the one set of validators.

The values here are what command-line flags and action inputs become.

`cli.py` hands these validators to argparse (`type=cli_type(workers)`); the
action's input reader (`qaagent.action`) calls the same functions on the
`INPUT_*` strings. Each option has one range, used everywhere it can be set —
flag, input and profile (`profile.py` takes its pydantic bounds from here):

| option | range |
| --- | --- |
| max-workers | 1–256 |
| retries | 0–20 |
| keep | 1–10,000 |
| shards | 1–256 |
| timeout | seconds, > 0 and at most a week |

Whole numbers are ASCII digits only (`int()` also reads "٣", "²" and " 3 ",
which nobody means), booleans are true/false/yes/no/1/0 in any case, lists
are separated by commas, spaces or newlines. A bad value raises
`InvalidValue` with a message that starts with what was expected; the
caller says which flag or input it was.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar, cast

from qaagent.errors import UsageError
from qaagent.formats import AUTO, NAMES
from qaagent.results import FailOn

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
#: the longest a suite attempt may be given (seconds)
MAX_TIMEOUT: Final = 7 * 24 * 3600.0
FAIL_ON_CHOICES: Final[tuple[FailOn, ...]] = ("failed", "error", "flaky")
TRUE_WORDS: Final = frozenset({"true", "yes", "1"})
FALSE_WORDS: Final = frozenset({"false", "no", "0"})

_DIGITS = re.compile(r"[0-9]{1,9}")
_SHARD = re.compile(r"^[ \t]*([0-9]{1,6})[ \t]*/[ \t]*([0-9]{1,6})[ \t]*$")
_LIST = re.compile(r"[\s,]+")
#: globs are separated by commas and line breaks only: a space may be part of a file name
_GLOBS = re.compile(r"[,\r\n]+")


# -- the validators -------------------------------------------------------------------------------


def whole_number(text: str, allowed: Range) -> int:
    """A whole number in `allowed`, written in ASCII digits."""
    if not _DIGITS.fullmatch(text) or not allowed.low <= int(text) <= allowed.high:
        msg = f"expected a whole number from {allowed.low} to {allowed.high}, got {text!r}"
        raise InvalidValue(msg)
    return int(text)


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


def rate(text: str) -> float:
    """A rate from 0 to 1 (a flake-rate threshold)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:  # also refuses NaN
        msg = f"expected a rate from 0 to 1, got {text!r}"
        raise InvalidValue(msg)
    return value


def seconds(text: str) -> float:
    """A duration in seconds, > 0 and at most `MAX_TIMEOUT`."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_TIMEOUT:  # also refuses NaN
        msg = f"expected seconds > 0 and at most {MAX_TIMEOUT:g}, got {text!r}"
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


def shard(text: str) -> Shard:
    """``I/N`` with 1 <= I <= N <= 256 (blanks around the numbers allowed)."""
    match = _SHARD.match(text)
    index, total = (int(match[1]), int(match[2])) if match else (0, 0)
    if not 1 <= index <= total <= SHARDS.high:
        msg = f"invalid shard {text!r}: expected I/N with 1 <= I <= N <= {SHARDS.high}, e.g. 2/4"
        raise InvalidValue(msg)
    return Shard(index, total)


def boolean(text: str) -> bool:
    """true/false/yes/no/1/0 in any case, blanks around it allowed."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    msg = f"expected true or false (or yes/no/1/0), got {text.strip()!r}"
    raise InvalidValue(msg)


def items(text: str) -> tuple[str, ...]:
    """The items of a comma, space or newline separated list (empty items dropped)."""
    return tuple(item for item in _LIST.split(text.strip()) if item)


def globs(text: str) -> tuple[str, ...]:
    """Result-file globs separated by commas or line breaks (`!glob` excludes); at least one includes."""
    found = tuple(item.strip() for item in _GLOBS.split(text) if item.strip())
    if not any(not item.startswith("!") for item in found) or "!" in found:
        msg = f"expected globs of result files (comma or newline separated, `!glob` excludes), got {text!r}"
        raise InvalidValue(msg)
    return found


def result_format(text: str) -> str:
    """A result format name (docs/formats.md) or `auto`."""
    value = text.strip().lower()
    if value != AUTO and value not in NAMES:
        msg = f"expected one of {', '.join(NAMES)} (or {AUTO}), got {text.strip()!r}"
        raise InvalidValue(msg)
    return value


def fail_on(text: str) -> tuple[FailOn, ...]:
    """A non-empty list of failed, error, flaky (any case, duplicates dropped)."""
    found = [item.lower() for item in items(text)]
    wrong = [item for item in found if item not in FAIL_ON_CHOICES]
    if wrong or not found:
        got = ", ".join(map(repr, wrong)) if wrong else repr(text)
        msg = f"expected a list of {', '.join(FAIL_ON_CHOICES)}, got {got}"
        raise InvalidValue(msg)
    return tuple(dict.fromkeys(cast("FailOn", item) for item in found))


def suite_names(values: Sequence[str]) -> tuple[str, ...]:
    """Suite names from repeated flags or lists (an empty value is a mistake, not "all")."""
    names: list[str] = []
    for value in values:
        found = items(value)
        if not found:
            msg = f"--suite needs a suite name (got {value!r})"
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


# -- what the commands were asked to do ----------------------------------------------------------


@dataclass(frozen=True)
class FeedbackOptions:
    """GitHub feedback (flags of `run-all` and `merge`, or the action's inputs)."""

    #: None: when GITHUB_ACTIONS=true (`--github auto`)
    github: bool | None = None
    check_name: str | None = None
    comment: bool = False
    annotations: bool = True
    summary: bool = True


@dataclass(frozen=True)
class RunOptions:
    """`run-all`: the profile and what overrides it for this run (None: the profile's value)."""

    profile: Path = Path(".qaagent.yaml")
    parallel: bool | None = None
    max_workers: int | None = None
    retries: int | None = None
    suites: tuple[str, ...] = ()
    timeout: float | None = None
    junit: Path | None = None  #: absolute
    evidence_dir: Path | None = None  #: absolute
    keep: int | None = None
    fail_on: tuple[FailOn, ...] | None = None
    shard: Shard | None = None
    durations_from: Path | None = None
    quiet: bool = False
    feedback: FeedbackOptions = field(default_factory=FeedbackOptions)
    #: publish these result files (`--files`, the `files:` input): one `report` suite, no profile
    files: tuple[str, ...] = ()
    #: their format (`--format`); None: told from each file's content
    format: str | None = None


@dataclass(frozen=True)
class MergeOptions:
    """`merge`: the shard bundles and where the merged run goes."""

    bundles: tuple[Path, ...]
    junit: Path = Path("qaagent-junit.xml")
    evidence_dir: Path = Path(".qaagent/evidence")
    keep: int = 20
    #: None: the shards' own fail_on
    fail_on: tuple[FailOn, ...] | None = None
    allow_partial: bool = False
    feedback: FeedbackOptions = field(default_factory=FeedbackOptions)
