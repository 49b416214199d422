"""Formatting of configuration errors: ``<file>: <key path>: <problem>``."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from .._text import one_line, short_repr
from ..exceptions import ConfigurationError


def describe(value: Any) -> str:
    """Render a value found in a config the way a YAML author recognises it, on one line and in
    at most about 80 characters, looking at a bounded part of it (see ``_text.short_repr``): a
    value that aliases expand to billions of items is described as fast as a small one."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return short_repr(value)
    if isinstance(value, dict):
        return f"a mapping {short_repr(value)}"
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list):
        return f"a list {short_repr(value)}"
    return f"{type(value).__name__} {short_repr(value)}"


def join(path: str, key: str | int) -> str:
    """The key path of ``key`` below ``path`` (``a.b``, ``a[0]``)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def config_error(source: str | None, path: str, message: str) -> ConfigurationError:
    """A ConfigurationError reading ``<source>: <path>: <message>`` (empty parts left out), on
    one line: a newline or other control character in any part (a key, a file name, a YAML
    parser's message) is written as its escape."""
    parts = [p for p in (source, path) if p]
    return ConfigurationError(one_line(": ".join([*parts, message])))


def names_list(names: Iterable[str]) -> str:
    """``[a, b, c]`` without quotes (names read like the YAML that holds them)."""
    return "[" + ", ".join(sorted(names)) + "]"


def suggestion(name: object, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when ``name`` looks like a typo of one of ``options``."""
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""
