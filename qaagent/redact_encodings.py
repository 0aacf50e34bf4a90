r"""The encodings a secret is looked for in: every way a tool may write one value.

`qaagent.redact` (the one redactor) builds its pattern from these forms; this module only
spells them out. Raw, JSON-escaped (``\"``, ``\u00e9``, ``\/``, Go's ``\u003c``), URL-encoded
(both hex cases, ``+`` for blanks, JavaScript's ``encodeURIComponent``) — `written_forms`;
XML/HTML-escaped, character by character (``&amp;``, ``&lt;``, ``&quot;``, ``&#39;``…, numeric
character references, decimal or hex in either case, zero-padded, also for each non-ASCII
character as a writer with an ASCII output encoding makes them, mixed freely) —
`xml_spellings`; and the parts of base64 and base64url text that depend on the value alone,
whatever comes before it — `base64_cores`.
"""

from __future__ import annotations

import base64
import json
import re
from html.entities import codepoint2name
from urllib.parse import quote, quote_plus

_HEX = re.compile(r"%[0-9A-F]{2}")
#: how an XML or HTML writer may spell each character it escapes; each may also stay as it
#: is (an attribute escaper leaves `>` raw, a text escaper the quotes); every escaped, control
#: or non-ASCII character may also be a numeric reference (`_references`), a non-ASCII one an
#: HTML named entity (`&eacute;`)
_ENTITIES = {
    "&": ("&", "&amp;"), "<": ("<", "&lt;"), ">": (">", "&gt;"), '"': ('"', "&quot;"), "'": ("'", "&apos;"),
}  # fmt: skip
#: leading zeros of a numeric reference looked for (`&#038;`, `&#x0000026;`)
_ZEROS = 7


def written_forms(value: str) -> set[str]:
    """`value` raw and in each of its JSON and URL encodings (its XML spellings: `xml_spellings`)."""
    return {value} | _json_forms(value) | _url_forms(value)


def _references(char: str) -> list[str]:
    """`char` as numeric character references: decimal, hex (x or X, either digit case), zero-padded."""
    n = ord(char)
    refs: list[str] = []
    for zeros in ("0" * z for z in range(_ZEROS + 1)):
        refs += [f"&#{zeros}{n};", *(f"&#{x}{zeros}{n:{h}};" for x in "xX" for h in "xX")]
    return refs


def xml_spellings(value: str) -> list[tuple[str, ...]] | None:
    """Each character of `value` with every way an XML or HTML writer may spell it, or None.

    Writers mix them freely within one value (`&amp;` beside `&#60;`, `&#228;` for a
    non-ASCII character from a writer with an ASCII output encoding), so the redactor
    matches the value character by character, any spelling for each. None when no
    character of `value` would be spelled differently (it is then matched raw).
    """
    if all(not _respelled(c) for c in value):
        return None
    return [(*_ENTITIES.get(c, (c,)), *_named(c), *_references(c)) if _respelled(c) else (c,) for c in value]


def _respelled(char: str) -> bool:
    """Whether an XML or HTML writer may write `char` other than as itself."""
    return char in _ENTITIES or not char.isascii() or not char.isprintable()


def _named(char: str) -> tuple[str, ...]:
    """`char`'s HTML named entity, if it has one and is no ASCII character (those are `_ENTITIES`)."""
    name = codepoint2name.get(ord(char)) if not char.isascii() else None
    return (f"&{name};",) if name else ()


def _json_forms(value: str) -> set[str]:
    forms = {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    slashes = {form.replace("/", "\\/") for form in forms}
    go_style = {f.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") for f in forms}
    return forms | slashes | go_style


def _url_forms(value: str) -> set[str]:
    forms = {quote(value, safe=""), quote(value, safe="/"), quote_plus(value, safe="")}
    forms.add(quote(value, safe="!'()*"))  # JavaScript's encodeURIComponent
    return forms | {_HEX.sub(lambda m: m[0].lower(), form) for form in forms}


def base64_cores(value: str, *, shortest: int) -> set[str]:
    """The part of any base64 text holding `value` that depends on `value` alone, per alignment.

    `value`'s bytes may start at any offset of an encoded text (``user:value``); for each
    offset modulo 3 the groups of 3 bytes made only of `value`'s bytes encode the same way
    whatever surrounds them. Cores shorter than `shortest` characters are left out (they
    would mask ordinary text); base64url's spelling of each is included.
    """
    data = value.encode("utf-8", "surrogatepass")
    cores: set[str] = set()
    for offset in range(3):
        first = (offset + 2) // 3  # the first group holding only value bytes
        last = (offset + len(data) - 3) // 3  # the last one
        if last < first:
            continue
        encoded = base64.b64encode(b"\0" * offset + data).decode("ascii")[4 * first : 4 * (last + 1)]
        if len(encoded) >= shortest:
            cores.add(encoded)
            cores.add(encoded.replace("+", "-").replace("/", "_"))
    return cores
