r"""What the history holds: runs, test results, and the stable identity of a test.

**Test identity.** A test is its suite, classname and name, after the same
cleaning tests.jsonl applies (`clean_text`: ANSI escapes removed, characters
XML 1.0 forbids — NUL, lone surrogates, other controls — written as visible
``\\x00``/``\\ud800`` text). So a test recorded live and the same test
imported from its bundle are one test, and every name a runner can produce is
text both SQLite and PostgreSQL store unchanged. The file is not part of the
identity (it is kept, and follows a moved test). Its written form, used by
``qaagent history show`` and quarantine lists, is ``suite::classname::name``;
in the store a test is a 63-bit key hashed from the three parts (blake2b), so
recording needs no lookup per test.

**Text limits.** Names longer than `MAX_TEXT` characters are stored cut (with
``…``); the key is computed from the whole name, so two long names that differ
only at the end stay two tests.
"""

from __future__ import annotations

import functools
import hashlib
import math
import operator
import sys
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import repeat
from typing import Literal, Protocol

from qaagent.text import clean_text

Status = Literal["passed", "failed", "error", "skipped"]
#: statuses as stored (one small integer each)
STATUS_CODE: Mapping[str, int] = {"passed": 0, "failed": 1, "error": 2, "skipped": 3}
STATUS_NAME: tuple[Status, ...] = ("passed", "failed", "error", "skipped")
#: characters of a name, classname, file or branch kept in the store
MAX_TEXT = 4096
#: attempts are stored in a SMALLINT
MAX_ATTEMPTS = 32_767
#: a duration is stored in whole milliseconds in an INTEGER (24 days at most)
MAX_DURATION_MS = 2**31 - 1
MAX_SECONDS = MAX_DURATION_MS / 1000
#: run kinds: a whole run, one shard of a run, a merge of shards
RunKind = Literal["run", "shard", "merge"]


def canonical(text: str, limit: int = MAX_TEXT) -> str:
    """`text` cleaned like tests.jsonl (`clean_text`) and cut to `limit` characters."""
    cleaned = clean_text(text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


class Identities:
    """Keys and stored texts of many tests, the repeated parts (suite, classname, file) cleaned once.

    Recording 100,000 results calls `key` 100,000 times: it is the hot path.
    """

    def __init__(self) -> None:
        self.prefixes: dict[tuple[str, str], tuple[bytes, str, str]] = {}
        self._texts: dict[str, str] = {}

    def text(self, value: str) -> str:
        """`canonical(value)`, memoised (for files and other repeated text)."""
        found = self._texts.get(value)
        if found is None:
            if len(self._texts) > _MEMO:
                self._texts.clear()
            found = self._texts[value] = canonical(value)
        return found

    def prefix(self, suite: str, classname: str) -> tuple[bytes, str, str]:
        """The hashed prefix of a suite and classname, and their stored texts."""
        found = self.prefixes.get((suite, classname))
        if found is None:
            clean_suite, clean_class = clean_text(suite), clean_text(classname)
            found = (
                f"{clean_suite}\x00{clean_class}\x00".encode(),
                canonical(clean_suite),
                canonical(clean_class),
            )
            if len(self.prefixes) > _MEMO:
                self.prefixes.clear()
            self.prefixes[suite, classname] = found
        return found

    def key(self, suite: str, classname: str, name: str) -> tuple[int, str, str, str]:
        """The test's key (63 bits of the blake2b of its cleaned, uncut identity) and its stored texts."""
        prefix, clean_suite, clean_class = self.prefix(suite, classname)
        clean_name = name if name.isascii() and name.isprintable() else clean_text(name)
        return (
            name_key(prefix, clean_name),
            clean_suite,
            clean_class,
            clean_name if len(clean_name) <= MAX_TEXT else canonical(clean_name),
        )


def name_key(prefix: bytes, clean_name: str) -> int:
    """The key of a cleaned name under a hashed prefix: blake2b, 63 bits (fits a signed BIGINT)."""
    return name_keys((prefix,), (clean_name,))[0]


def name_keys(prefixes: Iterable[bytes], clean_names: Iterable[str]) -> list[int]:
    """`name_key` of many pairs at once (recording's hot path: C-level maps, one array of digests).

    The key is the first 8 bytes of the blake2b of prefix + UTF-8 name, read as an
    unsigned little-endian integer, shifted right by one.
    """
    hashed = map(_HASH8, map(operator.add, prefixes, map(str.encode, clean_names)))
    digests = array("Q")
    digests.frombytes(b"".join(map(_DIGEST, hashed)))
    if sys.byteorder != "little":  # pragma: no cover - big-endian machines
        digests.byteswap()
    return list(map(operator.rshift, digests, repeat(1)))


_MEMO = 65536
_HASH8 = functools.partial(hashlib.blake2b, digest_size=8)
_DIGEST = hashlib.blake2b.digest
if array("Q").itemsize != 8:  # pragma: no cover - no such platform is known  # noqa: PLR2004
    msg = "this platform's unsigned 64-bit array items are not 8 bytes"
    raise RuntimeError(msg)


@dataclass(frozen=True, slots=True)
class TestId:
    """A test's identity: suite, classname and name (cleaned, cut to `MAX_TEXT`) and its key."""

    __test__ = False  # not a pytest test class

    suite: str
    classname: str
    name: str
    key: int  #: the store's key (see `Identities.key`), from the uncut text

    @classmethod
    def of(cls, suite: str, classname: str, name: str, identities: Identities | None = None) -> TestId:
        """The identity of a test as a runner named it."""
        key, clean_suite, clean_class, clean_name = (identities or Identities()).key(suite, classname, name)
        return cls(clean_suite, clean_class, clean_name, key)

    @property
    def text(self) -> str:
        """``suite::classname::name``, the form users write."""
        return f"{self.suite}::{self.classname}::{self.name}"

    @classmethod
    def parse(cls, text: str) -> TestId | None:
        """``suite::classname::name`` → a TestId (split at the first two ``::``), else None."""
        suite, sep, rest = text.partition("::")
        classname, sep2, name = rest.partition("::")
        if not (sep and sep2 and suite and name):
            return None
        return cls.of(suite, classname, name)


class ResultLike(Protocol):
    """What recording reads of a result: `ResultRecord`, or a run's own `TestCase`."""

    @property
    def suite(self) -> str:
        """The suite's name."""

    @property
    def classname(self) -> str:
        """The classname."""

    @property
    def name(self) -> str:
        """The test's name."""

    @property
    def status(self) -> str:
        """passed, failed, error or skipped."""

    @property
    def duration(self) -> float:
        """Seconds, all attempts."""

    @property
    def file(self) -> str | None:
        """The test file, relative to the repository root."""

    @property
    def attempts(self) -> int:
        """How often it ran."""

    @property
    def flaky(self) -> bool:
        """Whether it passed on a retry."""


@dataclass(frozen=True, slots=True)
class ResultRecord:
    """One test's outcome in one run (retries folded in, as in tests.jsonl)."""

    suite: str
    classname: str
    name: str
    status: Status
    duration: float = 0.0  #: seconds, all attempts
    file: str | None = None
    attempts: int = 1
    flaky: bool = False

    @property
    def test(self) -> TestId:
        """The test's identity."""
        return TestId.of(self.suite, self.classname, self.name)


def duration_ms(seconds: float) -> int:
    """Seconds as stored: whole milliseconds within the column's range (bad values are 0)."""
    if not isinstance(seconds, int | float) or not math.isfinite(seconds) or seconds <= 0:
        return 0
    return min(round(seconds * 1000), MAX_DURATION_MS)


@dataclass(frozen=True, slots=True)
class RunRef:
    """A run named by another (a merged run names the shard runs it was built from)."""

    run_id: str
    started: str = ""  #: its start as the manifest writes it ("" when unknown)


@dataclass(frozen=True)
class RunRecord:
    """One run of a project, as recorded.

    A run is identified in its project by `run_id` and `started` (the ISO time
    the manifest writes, milliseconds included): recording the same run again
    replaces it. A merged run lists in `merged_from` the shard runs it was
    built from; those are kept but superseded, so their results count once.
    """

    run_id: str
    project: str
    started: str  #: ISO-8601 UTC as in the manifest (`qaagent.evidence.manifest.iso_utc`)
    started_at: float  #: the same instant, epoch seconds
    finished_at: float | None = None
    repository: str = ""  #: owner/name
    commit: str = ""
    branch: str = ""
    base_branch: str = ""
    pr_number: int | None = None
    ci_run_id: str = ""
    ci_run_attempt: str = ""
    shard: str = ""  #: "2/4" for one shard's run
    status: str = ""  #: success | failure | cancelled
    merged_from: tuple[RunRef, ...] = ()
    #: wall seconds per suite, all attempts (manifest ``suites[].duration``)
    suite_durations: Mapping[str, float] = field(default_factory=dict)

    @property
    def kind(self) -> RunKind:
        """A whole run, a shard, or a merge of shards."""
        if self.merged_from:
            return "merge"
        return "shard" if self.shard else "run"
