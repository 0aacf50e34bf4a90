"""The demo app's logic: an in-memory item store and request-body parsing.

Kept apart from the HTTP server so the unit suite can test it without a socket.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from urllib.parse import parse_qs

#: longest item name accepted, in characters
MAX_NAME_LENGTH = 80
#: largest request body read, in bytes
MAX_BODY_BYTES = 16 * 1024
#: items every fresh store starts with
SEED_NAMES: tuple[str, ...] = ("apple", "banana", "cherry")


class InvalidItemError(ValueError):
    """The request did not describe a valid item; the message is safe to show."""


@dataclass(frozen=True)
class Item:
    """One stored item."""

    id: int
    name: str

    def to_dict(self) -> dict[str, object]:
        """The item as JSON-ready data."""
        return asdict(self)


def clean_name(value: object) -> str:
    """Return a valid item name (stripped) or raise `InvalidItemError`."""
    if not isinstance(value, str):
        msg = "`name` must be a string"
        raise InvalidItemError(msg)
    name = " ".join(value.split())
    if not name:
        msg = "`name` must not be empty"
        raise InvalidItemError(msg)
    if len(name) > MAX_NAME_LENGTH:
        msg = f"`name` must be at most {MAX_NAME_LENGTH} characters"
        raise InvalidItemError(msg)
    return name


def parse_json_item(body: bytes) -> str:
    """The item name from a JSON body `{"name": ...}`."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        msg = "the body must be JSON"
        raise InvalidItemError(msg) from None
    if not isinstance(data, dict):
        msg = 'the body must be a JSON object like {"name": "pear"}'
        raise InvalidItemError(msg)
    if "name" not in data:
        msg = "`name` is required"
        raise InvalidItemError(msg)
    return clean_name(data["name"])


def parse_form_item(body: bytes) -> str:
    """The item name from a form-encoded body (`name=...`)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        msg = "the form must be UTF-8"
        raise InvalidItemError(msg) from None
    values = parse_qs(text, keep_blank_values=True).get("name")
    if not values:
        msg = "`name` is required"
        raise InvalidItemError(msg)
    return clean_name(values[0])


class ItemStore:
    """Thread-safe in-memory items; the server handles requests in threads."""

    def __init__(self, names: tuple[str, ...] = SEED_NAMES) -> None:
        self._lock = threading.Lock()
        self._items: list[Item] = []
        for name in names:
            self.add(name)

    def add(self, name: object) -> Item:
        """Validate and store a new item."""
        clean = clean_name(name)
        with self._lock:
            item = Item(id=len(self._items) + 1, name=clean)
            self._items.append(item)
        return item

    def list(self) -> list[Item]:
        """All items, oldest first."""
        with self._lock:
            return list(self._items)
