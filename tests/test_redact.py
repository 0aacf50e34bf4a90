"""The redactor: which values are secrets, the encodings they are found in, streams and files.

Run-level reproductions (a secret through a whole run, into the API and the bundle) are in
tests/test_secrets_run.py; this file pins the rule and the encodings themselves.
"""

from __future__ import annotations

import base64
import html
import io
import json
from urllib.parse import quote, quote_plus

import pytest

from qaagent import redact
from qaagent.redact import MASK, Redactor, is_secret_name, is_secret_value
from qaagent.redact_stream import StreamRedactor, copy_redacted, copy_redacted_bytes, text_encoding

SECRET = "hunter2&<pw>\"it's"  # noqa: S105 - a made-up value with every character that gets escaped


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("GITHUB_TOKEN", True),
        ("NPM_TOKENS", True),
        ("MY_API_TOKEN", True),
        ("PGPASSWORD", True),
        ("DB_PASSWORD_FILE", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("DEPLOY_KEY", True),
        ("API_KEYS", True),
        ("GPG_PASSPHRASE", True),
        ("GOOGLE_CREDENTIALS", True),
        ("DB_PASS", True),
        ("SMTP_PWD", True),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", True),
        ("POETRY_KEYRING_ENABLED", False),  # KEYRING is not KEY
        ("TOKENIZER_PATH", False),
        ("KEYBOARD_LAYOUT", False),
        ("PWD", False),  # the working directory
        ("OLDPWD", False),
        ("PASSENGER_ID", False),
        ("HOME", False),
    ],
)
def test_which_names_are_secret(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


@pytest.mark.parametrize(
    ("value", "secret"),
    [
        ("false", False),
        ("true", False),
        ("1", False),
        ("disabled", False),
        ("Undefined", False),
        ("hunter2", False),  # 7 characters
        ("   short  ", False),
        ("12345678", False),  # a number
        ("3.1415926", False),
        ("hunter22", True),
        ("ghs_abcdefgh", True),
        ("  padded-secret  ", True),
    ],
)
def test_which_values_are_secret(value: str, secret: bool) -> None:
    assert is_secret_value(value) is secret


def test_poetry_keyring_enabled_false_masks_nothing() -> None:
    redactor = Redactor.from_environ({"POETRY_KEYRING_ENABLED": "false", "PASSWORD": "abc"})
    text = "assert flag == false\nexpected: false, got: true; abc"
    assert redactor.redact(text) == text
    assert not redactor.secrets


def test_qaagent_secrets_names_more_variables() -> None:
    env = {"DATABASE_URL": "postgres://u:pw-0123456@db/x", "SENTRY_DSN": "https://k3y-value@sentry",
           "QAAGENT_SECRETS": "DATABASE_URL, SENTRY_DSN OTHER", "OTHER": "no"}  # fmt: skip
    redactor = Redactor.from_environ(env)
    assert (
        redactor.redact("url postgres://u:pw-0123456@db/x dsn https://k3y-value@sentry") == "url *** dsn ***"
    )
    assert redactor.redact("no") == "no"  # named, but too short to be one


def test_multi_line_values_count_line_by_line() -> None:
    key = "-----BEGIN KEY-----\nAAAAline2secret\nBBBBline3secret\n-----END KEY-----"
    redactor = Redactor.from_environ({"DEPLOY_KEY": key})
    assert redactor.redact("x AAAAline2secret y") == "x *** y"
    assert redactor.redact(key) == "\n".join([MASK] * 4)  # each line masked, the line breaks kept


def _forms(value: str) -> dict[str, str]:
    b64 = base64.b64encode
    return {
        "raw": value,
        "xml text": value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
        "xml attribute": html.escape(value),
        "xml quot/apos": value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace('"', "&quot;").replace("'", "&apos;"),
        "json": json.dumps(value)[1:-1],
        "json, non-ASCII kept": json.dumps(value + "é", ensure_ascii=False)[1:-1],
        "json, Go style": json.dumps(value)[1:-1].replace("<", "\\u003c").replace(">", "\\u003e")
        .replace("&", "\\u0026"),
        "url": quote(value, safe=""),
        "url, lower-case hex": quote(value, safe="").lower(),
        "form": quote_plus(value + " x"),
        "base64": b64(value.encode()).decode(),
        "base64 of user:value": b64(f"user:{value}".encode()).decode(),
        "base64 of xy:value": b64(f"xy:{value}".encode()).decode(),
        "base64url": base64.urlsafe_b64encode(f"a:{value}".encode()).decode(),
    }  # fmt: skip


@pytest.mark.parametrize("form", list(_forms(SECRET)))
def test_every_encoding_of_a_secret_is_masked(form: str) -> None:
    redactor = Redactor([SECRET, SECRET + "é"])
    encoded = _forms(SECRET)[form]
    out = redactor.redact(f"before {encoded} after")
    assert out.startswith("before ")
    assert out.endswith(" after")
    assert MASK in out
    assert "hunter" not in out
    core = encoded[4:-4] if "base64" in form else encoded
    assert core not in out


def test_a_secret_wrapped_over_two_lines_is_masked_on_both() -> None:
    redactor = Redactor(["s3cr3t-VALUE-0123"])
    assert redactor.redact("token s3cr3t-VA\nLUE-0123 rest") == "token ***\n*** rest"
    assert redactor.redact("token s3cr3t-VA\r\nLUE-0123\n") == "token ***\r\n***\n"
    # base64 folded at a column, as `base64 -w 76` and PEM files do
    blob = base64.b64encode(b"x" * 40 + b"user:s3cr3t-VALUE-0123" + b"y" * 40).decode()
    folded = "\n".join(blob[i : i + 20] for i in range(0, len(blob), 20))
    out = redactor.redact(folded)
    assert base64.b64encode(b"s3cr3t-VALUE-0123")[4:12].decode() not in out.replace("\n", "")


def _char_refs(value: str, chars: str, style: str) -> str:
    ref = {"decimal": "&#{0};", "hex": "&#x{0:x};", "HEX": "&#x{0:X};"}[style]
    return "".join(
        ref.format(ord(c)) if c in chars or (not c.isascii() and "ä" in chars) else c for c in value
    )


NUMERIC = {
    f"{what}, {style}": (value, _char_refs(value, chars, style))
    for style in ("decimal", "hex", "HEX")
    for what, value, chars in [
        ("& < > quotes", SECRET, "&<>\"'"),
        ("& < > only", SECRET, "&<>"),
        ("non-ASCII", "pässwörd-0123", "ä"),
        ("non-ASCII and & < > quotes", "pä&<sswörd>'0123", "ä&<>\"'"),
    ]
}
NUMERIC["non-ASCII as references, & as &amp;"] = ("pä&sswörd-0123", "p&#228;&amp;ssw&#246;rd-0123")


@pytest.mark.parametrize("form", list(NUMERIC))
def test_xml_numeric_character_references_of_a_secret_are_masked(form: str) -> None:
    value, encoded = NUMERIC[form]
    assert "&#" in encoded
    assert Redactor([value]).redact(f"<failure message='{encoded}'/>") == "<failure message='***'/>"


@pytest.mark.parametrize(
    "encoded",
    [
        "sk-live-Zq8w&amp;&#60;pw&gt;/+x",  # a named entity beside a numeric reference
        "sk-live-Zq8w&#38;&lt;pw&gt;/+x",
        "sk-live-Zq8w&#038;&#x03C;pw&#X3e;/+x",  # zero-padded, hex in both cases
        "sk-live-Zq8w&#x26;&lt;pw&#0062;/+x",
    ],
)
def test_xml_spellings_mixed_within_one_value_are_masked(encoded: str) -> None:
    redactor = Redactor(["sk-live-Zq8w&<pw>/+x"])
    assert redactor.redact(f"<failure message='{encoded}'/>") == "<failure message='***'/>"
    dst = io.BytesIO()  # a binary file gets the same spellings
    assert copy_redacted_bytes(io.BytesIO(b"\0" + encoded.encode()), dst, redactor) == 1
    assert dst.getvalue() == b"\0" + b"*" * len(encoded)
    stream = StreamRedactor(redactor)  # and a stream, in small pieces
    out = "".join(stream.feed(encoded[i : i + 3]) for i in range(0, len(encoded), 3)) + stream.close()
    assert out == "***"


@pytest.mark.parametrize(
    ("secret", "written"),
    [
        ("p&ss>word-Zq8w99", "p&amp;ss>word-Zq8w99"),  # xmlbuilder's attEscape leaves > raw
        ("hunter2&<pw>-x", "hunter2&amp;&lt;pw>-x"),
        ("p&ss>word-Zq8w99", "p&#0000038;ss>word-Zq8w99"),  # seven leading zeros
        ("tab\tsecret-99", "tab&#9;secret-99"),  # a control character as a reference
        ("tab\tsecret-99", "tab&#x9;secret-99"),
        ("s\u00e9cret-v\u00e4lue", "s&eacute;cret-v&auml;lue"),  # HTML named entities
    ],
)
def test_more_xml_and_html_spellings_are_masked(secret: str, written: str) -> None:
    assert Redactor([secret]).redact(f'<failure message="{written}"/>') == '<failure message="***"/>'


def test_non_ascii_references_mix_with_raw_characters() -> None:
    redactor = Redactor(["p\u00e4ssw\u00f6rd-123"])
    assert redactor.redact("a p&#228;ssw&#xF6;rd-123 b p\u00e4ssw&#246;rd-123 c") == "a *** b *** c"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token s3cr3t-VA\n    LUE-0123 rest", "token ***\n    *** rest"),
        ("token s3cr3t-VA\r\n\tLUE-0123\n", "token ***\r\n\t***\n"),
        ("E   s3cr3t\nE   -VALUE\n        -0123 x", "E   s3cr3t\nE   -VALUE\n        -0123 x"),
        ("a s3cr3t-\n  VAL\n  UE-0123 b", "a ***\n  ***\n  *** b"),
        # a blank after the break that belongs to the secret still counts (RFC 5322 folding)
        ("pass correct horse\n battery staple!", "pass ***\n ***"),
    ],
)
def test_a_secret_wrapped_onto_indented_continuation_lines_is_masked(text: str, expected: str) -> None:
    redactor = Redactor(["s3cr3t-VALUE-0123", "correct horse battery staple!"])
    assert redactor.redact(text) == expected
    for size in (1, 2, 5):  # in pieces, as a stream: the same
        stream = StreamRedactor(redactor)
        out = "".join(stream.feed(text[i : i + size]) for i in range(0, len(text), size)) + stream.close()
        assert out == expected, size


def test_a_stream_holds_back_a_secret_wrapped_with_deep_indentation() -> None:
    # 20 characters wrapped every 4 with a 16-space indent span 88 characters of the text:
    # more than the redactor's hold (its longest form); fed line by line, none may leak
    secret = "Sup3rS3cretPassw0rd!"  # noqa: S105 - made up
    redactor = Redactor([secret])
    text = "pw = " + ("\n" + " " * 16).join(secret[i : i + 4] for i in range(0, 20, 4)) + "\nnext line\n"
    expected = redactor.redact(text)
    assert "Sup3" not in expected
    for lines in (text.splitlines(keepends=True), list(text)):
        stream = StreamRedactor(redactor)
        assert "".join(stream.feed(piece) for piece in lines) + stream.close() == expected


def test_authorization_headers_are_masked_to_the_line_end() -> None:
    redactor = Redactor()
    assert redactor.redact('{"authorization": "Bearer x"}') == '{"authorization": ***'
    assert redactor.redact("Proxy-Authorization: Basic abc\nnext") == "Proxy-Authorization: ***\nnext"


PIECES = ["x", "yy ", SECRET, "\n", "\r\n", " Authorization: Bearer zz", "é", "s3cr3t-VA\nLUE-0123", "&amp;"]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 4096])
def test_a_stream_in_pieces_is_redacted_like_the_whole(size: int) -> None:
    redactor = Redactor([SECRET, "s3cr3t-VALUE-0123"])
    text = "".join(PIECES[(i * 7) % len(PIECES)] for i in range(300))
    stream = StreamRedactor(redactor)
    out = "".join(stream.feed(text[i : i + size]) for i in range(0, len(text), size)) + stream.close()
    assert out == redactor.redact(text)
    assert "hunter" not in out
    assert "s3cr3t" not in out.replace("\n", "")


def test_a_stream_holds_back_only_a_little() -> None:
    redactor = Redactor(["s3cr3t-VALUE-0123"])
    stream = StreamRedactor(redactor)
    written = stream.feed("x" * 10_000)
    assert len(written) == 10_000 - redactor.hold
    rest = stream.feed("s3cr3t-") + stream.feed("VALUE-0123 tail") + stream.close()
    assert written + rest == "x" * 10_000 + "*** tail"


def test_copy_redacted_keeps_bytes_that_are_not_utf8() -> None:
    redactor = Redactor(["s3cr3t-VALUE-0123"])
    dst = io.BytesIO()
    copy_redacted(io.BytesIO(b"bin \xff\xfe ok\ns3cr3t-VALUE-0123\n\xe2\x82"), dst, redactor, chunk=3)
    assert dst.getvalue() == b"bin \xff\xfe ok\n***\n\xe2\x82"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_text_with_a_byte_order_mark_is_redacted_as_text(encoding: str) -> None:
    redactor = Redactor(["s3cr3t-VALUE-0123"])
    data = ("\ufeffkey=s3cr3t-VALUE-0123\r\nnext é\n").encode(encoding)
    assert text_encoding(data[:8192]) == encoding
    dst = io.BytesIO()
    copy_redacted(io.BytesIO(data), dst, redactor, chunk=3, encoding=encoding)
    assert dst.getvalue() == ("\ufeffkey=***\r\nnext é\n").encode(encoding)


def test_which_files_are_text() -> None:
    assert text_encoding(b"plain \xff text") == "utf-8"
    assert text_encoding(b"\xff\xfek\0") == "utf-16-le"
    assert text_encoding(b"\xfe\xff\0k") == "utf-16-be"
    assert text_encoding(b"\x89PNG\r\n\x1a\n\0\0") is None


@pytest.mark.parametrize("chunk", [1, 2, 5, 7, 1 << 20])
def test_a_binary_has_every_byte_form_of_a_secret_masked_in_place(chunk: int) -> None:
    redactor = Redactor([SECRET, "pässwörd-0123"])
    forms = [
        SECRET.encode(),
        html.escape(SECRET).encode(),
        json.dumps(SECRET)[1:-1].encode(),
        quote(SECRET, safe="").encode(),
        SECRET.encode("utf-16-le"),
        SECRET.encode("utf-16-be"),
        "pässwörd-0123".encode(),
        "pässwörd-0123".encode("utf-16-le"),
    ]
    data = b"\x89PNG\0" + b"\0".join(forms) + b"\0" + base64.b64encode(f"user:{SECRET}".encode()) + b"\xff"
    dst = io.BytesIO()
    found = copy_redacted_bytes(io.BytesIO(data), dst, redactor, chunk=chunk)
    out = dst.getvalue()
    assert len(out) == len(data)  # masked in place: offsets inside the file stay
    assert found == len(forms) + 1
    assert out.startswith(b"\x89PNG\0*")
    for form in forms:
        assert form not in out
    assert base64.b64encode(f"user:{SECRET}".encode())[8:-4] not in out
    assert b"hunter" not in out
    clean = io.BytesIO()
    assert copy_redacted_bytes(io.BytesIO(b"\0nothing here"), clean, redactor, chunk=chunk) == 0
    assert clean.getvalue() == b"\0nothing here"


def test_the_process_redactor_follows_the_environment_and_registered_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QAAGENT_TEST_SECRET_TOKEN", "first-token-value")
    assert redact.redact("a first-token-value b") == "a *** b"
    monkeypatch.setenv("QAAGENT_TEST_SECRET_TOKEN", "second-token-value")
    assert redact.redact("a first-token-value second-token-value") == "a first-token-value ***"
    monkeypatch.setattr(redact, "_registered", {"handed-over-token"})
    assert redact.redact("handed-over-token") == MASK


def test_a_masked_base64_run_stops_at_its_line_end() -> None:
    redactor = Redactor(["s3cr3t-VALUE-0123"])
    encoded = base64.b64encode(b"user:s3cr3t-VALUE-0123").decode()
    assert redactor.redact(f"basic {encoded}\npadding next") == "basic ***\npadding next"


def test_a_secret_split_after_an_authorization_header_is_masked_on_both_lines() -> None:
    redactor = Redactor(["s3cr3t-VALUE-0123"])
    text = " Authorization: Bearer zzxs3cr3t-\nVALUE-0123xxxxxx"
    assert redactor.redact(text) == " Authorization: ***\n***xxxxxx"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_has_every_form_masked_in_utf16(encoding: str) -> None:
    redactor = Redactor([SECRET])
    escaped = json.dumps(SECRET)[1:-1]
    data = f"\0key={escaped}; url={quote(SECRET, safe='')} end".encode(encoding)  # no BOM: a binary
    dst = io.BytesIO()
    assert copy_redacted_bytes(io.BytesIO(data), dst, redactor, chunk=5) == 2
    stars = "*" * len(escaped), "*" * len(quote(SECRET, safe=""))
    assert dst.getvalue() == f"\0key={stars[0]}; url={stars[1]} end".encode(encoding)  # the mask in UTF-16


def test_frozen_keeps_the_environment_of_its_start_and_still_adds_registered_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`redact.frozen()` (the suites' loop): the environment is looked at once, at its start; a value
    registered inside is still masked; after it, the process's redactor follows the environment again."""
    monkeypatch.setattr(redact, "_registered", set())
    monkeypatch.setattr(redact, "_installed", None)
    monkeypatch.setenv("QAAGENT_TEST_FROZEN_TOKEN", "frozen-token-value")
    with redact.frozen() as held:
        assert redact.current() is held
        assert redact.redact("a frozen-token-value b") == "a *** b"
        monkeypatch.setenv("QAAGENT_TEST_LATER_TOKEN", "later-token-value")
        assert redact.current() is held  # not looked at again while frozen
        assert redact.redact("later-token-value") == "later-token-value"
        redact.register("registered-inside-value")
        assert redact.redact("registered-inside-value") == MASK
    assert redact._installed is None  # what was installed before (nothing) is installed again
    assert (
        redact.redact("later-token-value registered-inside-value frozen-token-value")
        == f"{MASK} {MASK} {MASK}"
    )
