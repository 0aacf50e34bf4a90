"""Where the history lives: a SQLite file path or a ``postgresql://`` DSN, and its password.

The DSN is the one place a history password can come from besides
``QAAGENT_HISTORY_PASSWORD``; every message, repr and dump that names the
store goes through `mask` (the password replaced by ``***``), and every
message a driver writes goes through `scrub` (the password removed wherever
it appears, also percent-encoded). The password itself is only handed to the
driver's connect call.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

#: the environment variable that supplies the PostgreSQL password (it wins over the DSN's)
PASSWORD_VARIABLE = "QAAGENT_HISTORY_PASSWORD"  # noqa: S105 - a variable name, not a password
SCHEMES = ("postgresql", "postgres")
#: the profile's `history.store` and `qaagent history --store` when not given
DEFAULT_STORE = ".qaagent/history.sqlite"
MASK = "***"


def is_dsn(store: str) -> bool:
    """Whether `store` names a PostgreSQL server rather than a SQLite file."""
    return store.lower().startswith(tuple(f"{s}://" for s in SCHEMES))


def _secret_query_key(key: str) -> bool:
    return "password" in key.lower()


def split_password(dsn: str) -> tuple[str, str | None]:
    """The DSN without any password (userinfo or ``?password=``), and that password.

    A ValueError when the DSN cannot be parsed as a URL.
    """
    parts = urlsplit(dsn)
    password = unquote(parts.password) if parts.password is not None else None
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostinfo = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}@{hostinfo}"
    query: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if _secret_query_key(key):
            password = password if password is not None else value
        else:
            query.append((key, value))
    bare = urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), parts.fragment))
    return bare, password


def mask(store: str) -> str:
    """`store` fit to print: a DSN's password replaced by ``***`` (a file path as it is)."""
    if not is_dsn(store):
        return store
    try:
        parts = urlsplit(store)
        netloc = parts.netloc
        if parts.password is not None:
            userinfo, _, hostinfo = netloc.rpartition("@")
            netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{hostinfo}"
        query = [
            (key, MASK if _secret_query_key(key) else value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
        return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), parts.fragment))
    except ValueError:
        return f"{store.split(':', 1)[0]}://{MASK} (unparsable DSN)"


def password_for(dsn: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The password to connect with: ``QAAGENT_HISTORY_PASSWORD`` if set, else the DSN's own."""
    env = os.environ if environ is None else environ
    from_env = env.get(PASSWORD_VARIABLE)
    if from_env:
        return from_env
    try:
        return split_password(dsn)[1]
    except ValueError:
        return None


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret (as given and percent-encoded) replaced by ``***``."""
    for secret in secrets:
        if not secret:
            continue
        for form in {secret, quote(secret, safe=""), quote(secret)}:
            text = text.replace(form, MASK)
    return text
