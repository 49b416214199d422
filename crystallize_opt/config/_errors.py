"""Formatting of configuration errors: ``<file>: <key path>: <problem>``."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from ..exceptions import ConfigurationError

_MAX_REPR = 80


def describe(value: Any) -> str:
    """Render a value found in a config the way a YAML author recognises it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return _short(repr(value))
    if isinstance(value, dict):
        return f"a mapping {_short(repr(value))}"
    if isinstance(value, (list, tuple)):
        return f"a list {_short(repr(list(value)))}"
    return f"{type(value).__name__} {_short(repr(value))}"


def _short(text: str) -> str:
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def join(path: str, key: str | int) -> str:
    """The key path of ``key`` below ``path`` (``a.b``, ``a[0]``)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def config_error(source: str | None, path: str, message: str) -> ConfigurationError:
    """A ConfigurationError reading ``<source>: <path>: <message>`` (empty parts left out)."""
    parts = [p for p in (source, path) if p]
    return ConfigurationError(": ".join([*parts, message]))


def names_list(names: Iterable[str]) -> str:
    """``[a, b, c]`` without quotes (names read like the YAML that holds them)."""
    return "[" + ", ".join(sorted(names)) + "]"


def suggestion(name: object, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when ``name`` looks like a typo of one of ``options``."""
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""
