"""The streaming JSON cursor: the same values as json.loads, in any chunking, bounded when large."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qaagent.formats import jsonstream, source
from qaagent.formats.jsonstream import JsonCursor, JsonError

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=40,
)


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def decode(data: bytes, size: int) -> Any:
    cursor = JsonCursor(chunks(data, size))
    value = cursor.value()
    cursor.end()
    return value


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES, size=st.integers(1, 64), small=st.booleans())
def test_values_are_decoded_as_json_loads_does(value: Any, size: int, small: bool) -> None:
    data = json.dumps(value).encode()
    limit = 8 if small else jsonstream.MAX_VALUE_CHARS  # small: every container takes the bounded path
    old = jsonstream.MAX_VALUE_CHARS
    jsonstream.MAX_VALUE_CHARS = limit
    try:
        assert decode(data, size) == json.loads(data)
    finally:
        jsonstream.MAX_VALUE_CHARS = old


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=300)
    | st.text(alphabet='{}[]",:0123456789.eE-+ tfnrualse\\u', max_size=200).map(str.encode),
    size=st.integers(1, 16),
)
def test_arbitrary_bytes_raise_nothing_but_json_error(data: bytes, size: int) -> None:
    reasons: list[str] = []
    try:
        decode(data, size)
    except JsonError as error:
        reasons.append(error.reason)
    assert all("\n" not in reason for reason in reasons)


def test_navigation_over_objects_and_arrays() -> None:
    doc = {"stats": {"x": [1, 2]}, "tests": [{"t": i} for i in range(5)], "tail": "y"}
    cursor = JsonCursor(chunks(json.dumps(doc).encode(), 5))
    cursor.begin_object()
    got: list[Any] = []
    keys: list[str] = []
    while (key := cursor.next_key()) is not None:
        keys.append(key)
        if key == "tests":
            cursor.begin_array()
            while cursor.next_item():
                got.append(cursor.value())
        else:
            cursor.skip()
    cursor.end()
    assert keys == ["stats", "tests", "tail"]
    assert got == doc["tests"]


def test_large_values_keep_bounded_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonstream, "MAX_VALUE_CHARS", 1000)
    monkeypatch.setattr(jsonstream, "MAX_KEPT_ITEMS", 10)
    monkeypatch.setattr(source, "MAX_FIELD_BYTES", 100)
    doc = {"text": "é" * 5000, "items": list(range(500)), "nested": {"k": "v"}}
    value = decode(json.dumps(doc, ensure_ascii=False).encode(), 64)
    assert value["items"] == list(range(10))
    assert value["nested"] == {"k": "v"}
    assert value["text"].startswith("é" * 50)
    assert "[truncated" in value["text"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"a": 1', "the JSON ends early (truncated?) at character 7"),
        (b'{"a": "abc', "the JSON ends early (truncated?) in a string at character 0"),
        (b"[1 2]", "is not valid JSON at character 3: Expecting ',' delimiter"),
        (b'{"a": 1} x', "is not valid JSON at character 9: expected the end of the document, found 'x'"),
        (b"", "the JSON ends early (truncated?) at character 0: expected a value"),
    ],
)
def test_errors_say_where(data: bytes, reason: str) -> None:
    with pytest.raises(JsonError) as raised:
        decode(data, 3)
    assert raised.value.reason == reason


def test_a_number_split_across_chunks_is_read_whole() -> None:
    assert decode(b"[123456789012, 5]", 3) == [123456789012, 5]
    assert decode(b"123456789", 2) == 123456789


def test_bom_and_invalid_utf8() -> None:
    assert decode(b'\xef\xbb\xbf["caf\xe9"]', 2) == ["caf\ufffd"]
