"""The profile's ``history:`` section as a frozen pydantic model.

```yaml
history:
  store: .qaagent/history.sqlite   # or postgresql://qa@db/qa (password: QAAGENT_HISTORY_PASSWORD or the DSN)
  window: 50                       # runs per branch considered for rates and durations
  quarantine: auto                 # auto | off | list
  quarantine_file: .qaagent/quarantine.txt   # with `list`: one test id per line
  flaky_threshold: 0.05            # auto: quarantined when the flake rate is above this
  release_after: 20                # auto: leaves quarantine after this many clean passes in a row
```

A relative `store` or `quarantine_file` is relative to the profile's folder
(resolved by whoever opens the store). The store's password never shows: the
model's repr and dumps carry the DSN with ``***`` in its place.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_serializer, field_validator

from qaagent import options
from qaagent.history.dsn import DEFAULT_STORE, SCHEMES, is_dsn, mask, split_password
from qaagent.text import CONTROL

DEFAULT_QUARANTINE_FILE = ".qaagent/quarantine.txt"
QuarantineMode = Literal["auto", "off", "list"]
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class HistorySettings(BaseModel):
    """``history:`` — where runs are recorded and how rates and quarantine are judged."""

    # An invalid DSN must not be echoed back in the error (it may carry a password).
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    #: record runs and use them (scheduling, comparison, quarantine)
    enabled: bool = True
    #: a SQLite file (relative to the profile's folder) or a ``postgresql://`` DSN
    store: str = DEFAULT_STORE
    #: the last N runs of a branch that rates and durations are computed over
    window: int = 50
    quarantine: QuarantineMode = "auto"
    #: with ``quarantine: list``: the file of test ids (one ``suite::classname::name`` per line)
    quarantine_file: str = DEFAULT_QUARANTINE_FILE
    #: with ``quarantine: auto``: a flake rate above this quarantines the test
    flaky_threshold: float = 0.05
    #: with ``quarantine: auto``: consecutive clean passes after which a test leaves quarantine
    release_after: int = 20

    # One validator and one range per option (`qaagent.options`), as `--window` and `--threshold`.
    @field_validator("window", "release_after", mode="before")
    @classmethod
    def _whole(cls, value: Any, info: ValidationInfo) -> Any:
        allowed = options.WINDOW if info.field_name == "window" else options.RELEASE_AFTER
        try:
            return options.profile_whole_number(value, allowed)
        except options.InvalidValue as exc:
            raise ValueError(str(exc)) from None

    @field_validator("flaky_threshold", mode="before")
    @classmethod
    def _rate(cls, value: Any) -> Any:
        try:
            return options.profile_rate(value)
        except options.InvalidValue as exc:
            raise ValueError(str(exc)) from None

    @field_validator("store", "quarantine_file")
    @classmethod
    def _no_control_characters(cls, value: str) -> str:
        if not value.strip():
            msg = "must not be empty"
            raise ValueError(msg)
        if CONTROL.search(value):
            msg = "must not contain control characters"
            raise ValueError(msg)
        return value

    @field_validator("store")
    @classmethod
    def _store_kind(cls, value: str) -> str:
        if is_dsn(value):
            try:
                bare, _ = split_password(value)
                _ = urlsplit(bare).port  # a ValueError for a port that is not a number
            except ValueError:
                msg = "is not a valid postgresql:// DSN"
                raise ValueError(msg) from None
            if not urlsplit(bare).hostname and "host=" not in urlsplit(bare).query:
                msg = "a postgresql:// DSN must name a host"
                raise ValueError(msg)
        elif _URL_SCHEME.match(value):
            schemes = " or ".join(f"{s}://" for s in SCHEMES)
            msg = f"must be a SQLite file path or a {schemes} DSN (got a {value.split(':', 1)[0]}:// URL)"
            raise ValueError(msg)
        return value

    @property
    def is_postgres(self) -> bool:
        """Whether the store is a PostgreSQL server."""
        return is_dsn(self.store)

    @property
    def store_display(self) -> str:
        """The store as it may be printed: a DSN without its password."""
        return mask(self.store)

    @field_serializer("store")
    def _serialize_store(self, value: str) -> str:
        return mask(value)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            yield key, (mask(value) if key == "store" and isinstance(value, str) else value)
