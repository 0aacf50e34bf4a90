"""Read Cucumber's JSON report (cucumber-js ``--format json``, behave's ``--format json``).

The document is an array of features ``{"name", "uri", "elements": [scenario…]}``,
each scenario ``{"keyword", "name", "line", "type", "steps": [{"keyword", "name",
"line", "result": {"status", "duration", "error_message"}}]}``. behave writes
``location`` (``features/x.feature:3``) instead of ``uri``/``line``, durations in
seconds instead of nanoseconds, and the feature's keys before its scenarios;
cucumber-js sorts the keys, so a feature's ``name`` and ``uri`` come *after* its
scenarios — its scenarios are held until the feature ends (at most
`MAX_HELD_CHARS` of them; for a larger feature a first pass, `_feature_names`,
reads just the names), behave's stream one by one (`JsonCursor`).

Mapping (one case per scenario, outline rows included; a ``background`` element's
steps count for the scenarios after it): the first step that failed decides —
``failed`` (and ``pending``, which fails a strict cucumber-js run) is failed,
``undefined`` and ``ambiguous`` are errors (``undefined step: When x``); else
all steps passed (or there are none) is passed, anything else (skipped, not
run) skipped. Hooks (cucumber-js's hidden ``Before``/``After`` steps,
cucumber-ruby's ``before``/``after``) count like steps. The class is the
feature's name, the name the scenario's (an untitled ``Scenario:`` stays
``""``); file from ``uri``/``location``, line the failing step's (else the
scenario's); the message is the error's first line; duration the sum of the
steps'.

Cucumber's JSON cannot carry: retries (cucumber-js ``--retry`` reports only the
last attempt), the output of a scenario (embedded attachments are not read),
xfail/xpass.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Final

from qaagent.errors import ResultFileError
from qaagent.formats import source
from qaagent.formats.jsonstream import JsonCursor, JsonError
from qaagent.formats.source import cap, first_line
from qaagent.junit.locate import Locator, parse_line
from qaagent.results import Status, TestCase

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

FORMAT: Final = "cucumber-json"
#: features whose names and files the first pass remembers at most
MAX_FEATURES = 100_000
#: characters of scenarios held while their feature's name is not known yet (cucumber-js writes it
#: after them); past this, a first pass reads the names and the rest streams
MAX_HELD_CHARS = 8 * 1024 * 1024
_FEATURE_KEYS = frozenset({"name", "uri", "location", "id", "keyword"})
#: a step's status -> the scenario's, for the statuses that decide it
_DECIDING: Final[dict[str, Status]] = {
    "failed": "failed",
    "pending": "failed",
    "undefined": "error",
    "ambiguous": "error",
}


def _text(value: object) -> str:
    if isinstance(value, list):  # older behave: error_message as a list of lines
        value = "\n".join(item for item in value if isinstance(item, str))
    return cap(value) if isinstance(value, str) else ""


def _split_location(location: str) -> tuple[str, int | None]:
    """``features/x.feature:12`` -> (``features/x.feature``, 12)."""
    path, _, line = location.rpartition(":")
    if not path:
        return location, None
    return path, parse_line(line, zero_based=False)


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


class _Reader:
    def __init__(self, suite: str, base_dir: Path, repo_root: Path) -> None:
        self.suite = suite
        self.locator = Locator(base_dir, repo_root)

    def scenario(self, feature: dict[str, Any], element: dict[str, Any], background: list[Any]) -> TestCase:
        steps = [*background, *_steps(element)]
        behave = "location" in element or "location" in feature
        scale = 1.0 if behave else 1e-9  # behave: seconds; cucumber: nanoseconds
        status: Status | None = None
        deciding: dict[str, Any] | None = None
        states: set[str] = set()
        duration = 0.0
        for step in steps:
            result = step.get("result") if isinstance(step.get("result"), dict) else {}
            state = _text(result.get("status")) or "not run"
            duration += _number(result.get("duration")) * scale
            states.add(state)
            if status is None and state in _DECIDING:
                status, deciding = _DECIDING[state], step
        if status is None:
            status = "passed" if states <= {"passed"} else "skipped"
        file, line = self._where(feature, element)
        message = details = kind = ""
        if deciding is not None:
            message, details, kind, step_line = self._step_failure(deciding, behave=behave)
            line = step_line or line
        return TestCase(
            self.suite,
            _text(feature.get("name")),
            _text(element.get("name")),
            status,
            source.seconds(duration),
            file,
            line,
            message,
            kind,
            details,
        )

    def _where(self, feature: dict[str, Any], element: dict[str, Any]) -> tuple[str | None, int | None]:
        location = _text(element.get("location"))
        if location:
            path, line = _split_location(location)
            return self.locator.relative(path), line
        uri = _text(feature.get("uri")) or _split_location(_text(feature.get("location")))[0]
        line_value = element.get("line")
        line = parse_line(str(line_value), zero_based=False) if isinstance(line_value, int) else None
        return (self.locator.relative(uri) if uri else None), line

    def _step_failure(self, step: dict[str, Any], *, behave: bool) -> tuple[str, str, str, int | None]:
        """(message, details, type, line) of the step that decided the scenario's status."""
        result = step["result"]
        state = _text(result.get("status"))
        error = _text(result.get("error_message"))
        words = " ".join(
            part for part in (_text(step.get("keyword")).strip(), _text(step.get("name"))) if part
        )
        if state in ("undefined", "ambiguous", "pending"):
            message = f"{state} step: {words}" if words else f"{state} step"
            kind = state
        else:
            message = first_line(error) or f"failed step: {words}"
            kind = source.error_name(error)
        line: int | None = None
        if behave:
            line = _split_location(_text(step.get("location")))[1] if step.get("location") else None
        elif isinstance(step.get("line"), int):
            line = parse_line(str(step["line"]), zero_based=False)
        header = f"{words} ({state})" if words else state
        return message, "\n".join(part for part in (header, error) if part), kind, line


def _steps(element: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for key, keyword in (("before", "Before"), ("steps", None), ("after", "After")):
        value = element.get(key)
        if isinstance(value, list):
            found.extend(
                {**step, "keyword": keyword} if keyword and "keyword" not in step else step
                for step in value
                if isinstance(step, dict)
            )
    return found


def _walk(cursor: JsonCursor) -> Iterator[tuple[int, dict[str, Any], str | None]]:
    """Features of the document: (index, the keys read so far, the next key) — the cursor is at its value.

    After a feature's last key comes (index, all its keys, None).
    """
    if cursor.peek() != "[":
        reason = "is not a Cucumber JSON report (no JSON array of features)"
        raise JsonError(reason)
    cursor.begin_array()
    index = -1
    while cursor.next_item():
        index += 1
        if cursor.peek() != "{":
            cursor.skip()
            continue
        cursor.begin_object()
        feature: dict[str, Any] = {}
        while (key := cursor.next_key()) is not None:
            if key in _FEATURE_KEYS:
                feature[key] = cursor.value()
            else:
                yield index, feature, key  # the consumer reads (or skips) the key's value
        yield index, feature, None  # the feature's end: all its keys are read
    cursor.end()


def _feature_names(path: Path, repo_root: Path, label: str) -> list[dict[str, Any]]:
    """First pass: each feature's name and file (what cucumber-js writes after its scenarios)."""
    features: list[dict[str, Any]] = []
    with (
        source.open_result_file(path, repo_root, label, kind="Cucumber JSON file") as handle,
        contextlib.suppress(
            JsonError, ResultFileError, OSError
        ),  # the second pass reports it, after its cases
    ):
        cursor = JsonCursor(source.bounded_chunks(handle))
        for index, seen, key in _walk(cursor):
            if key is not None:
                cursor.skip()
            if index < MAX_FEATURES:
                features.extend({} for _ in range(index + 1 - len(features)))
                features[index] = seen  # `_walk` keeps adding the feature's keys to this dict
    return features


def iter_cases(path: Path, *, suite: str, base_dir: Path, repo_root: Path) -> Iterator[TestCase]:
    """Stream the cases of one Cucumber JSON report; `ResultFileError` on a broken file."""
    label = source.label_of(path, repo_root)
    reader = _Reader(suite, base_dir, repo_root)
    held: list[tuple[dict[str, Any], list[Any]]] = []  # scenarios waiting for their feature's name
    with (
        source.reading(label),
        source.open_result_file(path, repo_root, label, kind="Cucumber JSON file") as handle,
    ):
        cursor = JsonCursor(source.bounded_chunks(handle))
        try:
            yield from _read(cursor, reader, held, lambda: _feature_names(path, repo_root, label))
        except (JsonError, source.TooLargeError, OSError):
            # the file broke inside a feature whose name comes after its scenarios: they are still cases
            yield from (reader.scenario({}, element, background) for element, background in held)
            raise


def _read(
    cursor: JsonCursor,
    reader: _Reader,
    held: list[tuple[dict[str, Any], list[Any]]],
    first_pass: Callable[[], list[dict[str, Any]]],
) -> Iterator[TestCase]:
    names: list[dict[str, Any]] | None = None
    for index, seen, key in _walk(cursor):
        if key is None:  # the feature's end: its name and file are known now
            yield from (reader.scenario(seen, element, background) for element, background in held)
            held.clear()
        elif key != "elements" or cursor.peek() != "[":
            cursor.skip()
        elif "name" in seen and {"uri", "location"} & seen.keys():
            yield from (reader.scenario(seen, *pair) for pair in _elements(cursor))  # behave's order
        else:
            # cucumber-js writes the feature's name and uri after its scenarios: hold them, within
            # MAX_HELD_CHARS; past that, read the names in a first pass and stream the rest
            start, feature = cursor.offset, None
            for pair in _elements(cursor):
                if feature is not None:
                    yield reader.scenario(feature, *pair)
                    continue
                held.append(pair)
                if cursor.offset - start > MAX_HELD_CHARS:
                    names = first_pass() if names is None else names
                    feature = {**(names[index] if index < len(names) else {}), **seen}
                    yield from (reader.scenario(feature, element, background) for element, background in held)
                    held.clear()


def _elements(cursor: JsonCursor) -> Iterator[tuple[dict[str, Any], list[Any]]]:
    """A feature's scenarios, each with the steps of the background before it."""
    background: list[Any] = []
    cursor.begin_array()
    while cursor.next_item():
        element = cursor.value()
        if not isinstance(element, dict):
            continue
        if element.get("type") == "background" or _text(element.get("keyword")).strip() == "Background":
            background = _steps(element)
            continue
        yield element, background
