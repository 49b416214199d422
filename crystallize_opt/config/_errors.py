"""Formatting of configuration errors: ``<file>: <key path>: <problem>``."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .._checks import SettingError
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


def config_error(
    source: str | None, path: str, message: str, kind: type[ConfigurationError] = ConfigurationError
) -> ConfigurationError:
    """A ConfigurationError (of class ``kind``) reading ``<source>: <path>: <message>`` (empty
    parts left out), on one line: a newline or other control character in any part (a key, a
    file name, a YAML parser's message) is written as its escape."""
    parts = [p for p in (source, path) if p]
    return kind(one_line(": ".join([*parts, message])))


def names_list(names: Iterable[str]) -> str:
    """``[a, b, c]`` without quotes (names read like the YAML that holds them)."""
    return "[" + ", ".join(sorted(names)) + "]"


def suggestion(name: object, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when ``name`` looks like a typo of one of ``options``."""
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


@contextmanager
def relabelled(source: str | None, prefix: str, keys: Mapping[str, str]) -> Iterator[None]:
    """Turn a constructor's :class:`~crystallize_opt._checks.SettingError` into the config's
    error: ``<source>: <prefix>.<key path>: <problem>``, where ``keys`` maps the constructor's
    argument names to the config's keys (``grace_period`` -> ``optimize.grace_period``,
    ``noise.racing_z`` -> ``optimize.noise.racing_z``) and a refused value is described the way
    YAML writes it."""
    try:
        yield
    except SettingError as exc:
        argument = re.split(r"[.\[]", exc.setting, maxsplit=1)[0]
        rest = exc.setting[len(argument) :]  # ".racing_z", "[2]" or ""
        path = join(prefix, keys.get(argument, argument)) + rest
        problem = (
            exc.problem if exc.expected is None else f"expected {exc.expected}, got {describe(exc.value)}"
        )
        raise config_error(source, path, problem) from None
