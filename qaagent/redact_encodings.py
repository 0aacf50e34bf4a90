r"""The encodings a secret is looked for in: every way a tool may write one value.

`qaagent.redact` (the one redactor) builds its pattern from these forms; this module only
spells them out. Raw, XML/HTML-escaped (``&amp;``, ``&lt;``, ``&quot;``, ``&#39;``…, and numeric
character references, decimal or hex in either case, also for each non-ASCII character as a
writer with an ASCII output encoding makes them), JSON-escaped (``\"``, ``\u00e9``, ``\/``,
Go's ``\u003c``), URL-encoded (both hex cases, ``+`` for blanks, JavaScript's
``encodeURIComponent``) — `written_forms`; and the parts of base64 and base64url text that
depend on the value alone, whatever comes before it — `base64_cores`.
"""

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import quote, quote_plus

_HEX = re.compile(r"%[0-9A-F]{2}")
#: the characters an XML writer escapes (as an entity or a numeric character reference)
_XML_SPECIAL = frozenset("&<>\"'")
#: the ways of writing a numeric character reference: decimal, hex in either case
_CHAR_REFS = ("&#{0};", "&#x{0:x};", "&#x{0:X};")


def written_forms(value: str) -> set[str]:
    """`value` raw and in each of its XML, JSON and URL encodings."""
    return {value} | _xml_forms(value) | _json_forms(value) | _url_forms(value)


def _xml_forms(value: str) -> set[str]:
    base = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    forms = {base, html.escape(value)}
    quotes = (("&quot;", "&apos;"), ("&quot;", "&#39;"), ("&#34;", "&#39;"), ("&#x22;", "&#x27;"))
    for dquote, squote in quotes:
        forms.add(base.replace('"', dquote).replace("'", squote))
        forms.add(base.replace('"', dquote))
    for ref in _CHAR_REFS:  # numeric references for the escaped characters (quotes too, or not)
        forms.add("".join(ref.format(ord(c)) if c in _XML_SPECIAL else c for c in value))
        forms.add("".join(ref.format(ord(c)) if c in "&<>" else c for c in value))
    if value.isascii():
        return forms
    # a writer with an ASCII output encoding: each non-ASCII character as a reference
    with_refs = {
        "".join(c if c.isascii() else ref.format(ord(c)) for c in form)
        for ref in _CHAR_REFS
        for form in forms
    }
    return forms | with_refs


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
