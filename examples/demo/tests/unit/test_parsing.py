"""Unit tests of request-body parsing and the rendered home page."""

import pytest
from app.pages import render_index
from app.store import InvalidItemError, Item, parse_form_item, parse_json_item


def test_json_body_gives_the_name():
    assert parse_json_item(b'{"name": " pear "}') == "pear"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "must be JSON"),
        (b"\xff\xfe", "must be JSON"),
        (b'["pear"]', "JSON object"),
        (b"{}", "is required"),
        (b'{"name": 3}', "must be a string"),
    ],
)
def test_bad_json_bodies_say_what_is_wrong(body, message):
    with pytest.raises(InvalidItemError, match=message):
        parse_json_item(body)


def test_form_body_is_url_decoded():
    assert parse_form_item(b"name=kiwi+fruit%21") == "kiwi fruit!"


@pytest.mark.parametrize("body", [b"", b"other=1", b"name="])
def test_bad_form_bodies_are_refused(body):
    with pytest.raises(InvalidItemError):
        parse_form_item(body)


def test_index_escapes_item_names():
    html = render_index([Item(id=1, name="<script>alert(1)</script>")])
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_index_has_a_form_posting_a_name_field():
    html = render_index([], error="`name` must not be empty")
    assert '<form method="post" action="/items">' in html
    assert 'name="name"' in html
    assert 'role="alert"' in html
