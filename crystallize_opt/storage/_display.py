"""Storages as shown to people: a storage URL with its credentials hidden, for every output, log
record and error message (a database password must never reach a terminal, a log or a report)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

#: The storage used when none is given: a SQLite file in the working directory.
DEFAULT_STORAGE = "sqlite:///crystallize-studies.db"
#: What a hidden password (or password query parameter) is shown as.
HIDDEN = "***"
#: ``scheme://user:password@`` with SQLAlchemy's parser out of reach (a URL it cannot parse).
_USERINFO = re.compile(r"(?P<head>://[^/@:?#]*:)(?P<password>[^@/?#]*)@")
_QUERY_SECRET = re.compile(r"(?P<head>[?&](?:password|passwd|pwd)=)(?P<password>[^&#]*)", re.IGNORECASE)


def display_storage(storage: object) -> str:
    """The storage ``storage`` as shown in output, logs and errors: a URL string with its password
    (in ``user:password@`` or a ``password=`` query parameter) replaced by ``***``, the rest as
    given; an Optuna RDB storage object by its URL, likewise; any other object by its class name.

    Works for every URL kind (SQLAlchemy URLs, ``redis://:password@host``, ``journal:///``) and
    never raises, whatever ``storage`` is.
    """
    if storage is None:
        return DEFAULT_STORAGE
    if not isinstance(storage, str):
        url = getattr(storage, "url", None)  # RDBStorage keeps the URL it was given
        return display_storage(url) if isinstance(url, str) else type(storage).__name__
    return _hide(storage)


def redact(text: str, storage: object) -> str:
    """``text`` (e.g. an exception message or a log line that mentions ``storage``) with the
    storage URL's password, as written and percent-decoded, and the URL itself shown as
    :func:`display_storage` shows it."""
    if not isinstance(storage, str):
        storage = getattr(storage, "url", None)
        if not isinstance(storage, str):
            return text
    text = text.replace(storage, _hide(storage))
    for secret in _secrets(storage):
        text = text.replace(secret, HIDDEN)
    return text


def _hide(url: str) -> str:
    if "://" not in url:
        return url
    try:
        from sqlalchemy.engine.url import make_url

        parsed: Any = make_url(url)
    except Exception:  # not a URL SQLAlchemy parses: hide what looks like a password
        return _QUERY_SECRET.sub(rf"\g<head>{HIDDEN}", _USERINFO.sub(rf"\g<head>{HIDDEN}@", url))
    # Only a URL with a password is re-rendered (SQLAlchemy may re-quote the rest).
    shown: str = url if parsed.password is None else parsed.render_as_string(hide_password=True)
    return _QUERY_SECRET.sub(rf"\g<head>{HIDDEN}", shown)


def _secrets(url: str) -> set[str]:
    """The password(s) in ``url``, as written and percent-decoded (empty ones left out)."""
    found = {match.group("password") for match in _USERINFO.finditer(url)}
    found |= {match.group("password") for match in _QUERY_SECRET.finditer(url)}
    return {form for secret in found if secret for form in (secret, unquote(secret)) if form}
