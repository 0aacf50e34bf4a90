"""behave hooks: find the app under test from `BASE_URL` (qaagent exports it from the profile)."""

import os
from urllib.parse import urlsplit

DEFAULT_BASE_URL = "http://127.0.0.1:8765"


def before_all(context):
    base_url = os.environ.get("BASE_URL", DEFAULT_BASE_URL).rstrip("/")
    if urlsplit(base_url).scheme not in ("http", "https"):
        msg = f"BASE_URL must be an http:// or https:// URL, got {base_url!r}"
        raise ValueError(msg)
    context.base_url = base_url
