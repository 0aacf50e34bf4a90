"""A self-contained HTML page's safe parts: the strict-CSP head, JSON inside a script element, escaping.

report.html (`qaagent.report.html`) and the history's trend page (`qaagent.history.report`)
are both built on these: no network request, nothing in the data can close its element.
"""

from __future__ import annotations

import html
import json
import re

_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


_JSON_UNSAFE = re.compile("[<>&\u2028\u2029]")


_SURROGATE = re.compile("[\ud800-\udfff]")


def embed_json(data: object) -> str:
    """JSON safe inside `<script type="application/json">`: nothing in it can close the element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = _JSON_UNSAFE.sub(lambda m: _JSON_ESCAPES[m.group()], text)
    return _SURROGATE.sub("\ufffd", text)


def escape(value: object) -> str:
    """`value` as HTML text or an attribute's value (None: empty)."""
    return html.escape("" if value is None else str(value), quote=True)


def page_start(title: str, style: str, *, nonce: str, img_src: str) -> str:
    """A self-contained page up to ``<body>``: the strict CSP, no referrer, no favicon request.

    The CSP allows only this nonce's script and style and images from `img_src`;
    everything else (``default-src 'none'``) is refused.
    """
    csp = (
        f"default-src 'none'; img-src {img_src}; "
        f"style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
        "base-uri 'none'; form-action 'none'"
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(csp)}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title>"
        f'<style nonce="{nonce}">{style}</style></head><body>'
    )
