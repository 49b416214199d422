"""Typed reading of a parsed YAML tree, key path by key path.

A :class:`Field` is one value of the config together with where it is (the config file and
its key path); every accessor either returns the value with the type asked for or raises one
:class:`~crystallize_opt.exceptions.ConfigurationError` naming the file, the key path, what was
found and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from .._checks import integer_expected
from .._paths import NAME_RULE, name_problem
from ..exceptions import ConfigurationError
from ._errors import config_error, describe, join, names_list, suggestion


@dataclass(frozen=True)
class Field:
    """``value`` found at key path ``path`` of the config file ``source`` (None: no file)."""

    value: Any
    path: str
    source: str | None = None

    # -- navigation ------------------------------------------------------------------------

    def error(self, message: str, kind: type[ConfigurationError] = ConfigurationError) -> ConfigurationError:
        """A ConfigurationError (of class ``kind``) located at this field."""
        return config_error(self.source, self.path, message, kind)

    def at(self, key: str | int, value: Any) -> Field:
        """The field holding ``value`` under ``key`` of this one."""
        return Field(value, join(self.path, key), self.source)

    def mapping(self, allowed: Collection[str] | None = None, required: Iterable[str] = ()) -> dict[str, Any]:
        """This field as a mapping with string keys (``allowed``: the only keys accepted).

        A null value counts as an empty mapping.
        """
        if self.value is None:
            value: dict[Any, Any] = {}
        elif isinstance(self.value, dict):
            value = self.value
        else:
            raise self.error(f"expected a mapping, got {describe(self.value)}")
        for key in value:
            if not isinstance(key, str) or not key:
                raise self.error(f"keys must be non-empty strings, got key {describe(key)}")
        if allowed is not None:
            unknown = [k for k in value if k not in allowed]
            if unknown:
                raise self.at(unknown[0], None).error(
                    f"unknown key{suggestion(unknown[0], allowed)}; allowed keys: {names_list(allowed)}"
                )
        missing = [k for k in required if value.get(k) is None]
        if missing:
            raise self.error(f"missing required key {missing[0]!r}")
        return value

    def items(self, allowed: Collection[str] | None = None) -> list[tuple[str, Field]]:
        """The (key, field) pairs of this mapping field."""
        return [(k, self.at(k, v)) for k, v in self.mapping(allowed).items()]

    def child(self, key: str) -> Field | None:
        """The field under ``key`` of this mapping, or None when it is absent or null."""
        value = self.mapping().get(key)
        return None if value is None else self.at(key, value)

    def sequence(self) -> list[Field]:
        """The elements of this list field."""
        if not isinstance(self.value, list):
            raise self.error(f"expected a list, got {describe(self.value)}")
        return [self.at(i, v) for i, v in enumerate(self.value)]

    def single_key(self, what: str) -> tuple[str, Field]:
        """A ``{name: settings}`` mapping with exactly one key: its name and settings field."""
        value = self.mapping()
        if len(value) != 1:
            raise self.error(
                f"expected {what} as a name or a mapping with one key {{name: {{settings}}}}, "
                f"got {describe(self.value)}"
            )
        ((name, settings),) = value.items()
        return name, self.at(name, settings)

    # -- scalars ---------------------------------------------------------------------------

    def string(self) -> str:
        if not isinstance(self.value, str) or not self.value:
            raise self.error(f"expected a non-empty string, got {describe(self.value)}")
        return self.value

    def choice(self, allowed: Collection[str]) -> str:
        value = self.value
        if not isinstance(value, str) or value not in allowed:
            raise self.error(
                f"expected one of {names_list(allowed)}, got {describe(value)}{suggestion(value, allowed)}"
            )
        return value

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.error(f"expected true or false, got {describe(self.value)}")
        return self.value

    def integer(self, minimum: int | None = None) -> int:
        """An int (not a bool) of at least ``minimum``: the rule of ``_checks.integer_expected``."""
        return int(self.check(lambda value: integer_expected(value, minimum)))

    def positive_int(self) -> int:
        return self.integer(minimum=1)

    def check(self, expected: Callable[[Any], str | None]) -> Any:
        """This field's value, when ``expected(value)`` (one of the package's rules, such as
        ``_checks.seed_expected``: what the value must be, or None when it is fine) is None."""
        found = expected(self.value)
        if found is not None:
            raise self.error(f"expected {found}, got {describe(self.value)}")
        return self.value

    def file_name(self) -> str:
        """A string that may name one file or folder (see ``_paths.name_problem``)."""
        value = self.string()
        problem = name_problem(value)
        if problem is not None:
            raise self.error(f"{describe(value)} {problem}; expected {NAME_RULE}")
        return value

    def number(self) -> float:
        """A finite int or float (booleans are not numbers here)."""
        value = self.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(f"expected a number, got {describe(value)}")
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an int too large for a float
            finite = False
        if not finite:
            raise self.error(f"expected a finite number, got {describe(value)}")
        return value

    def names(self, what: str = "name") -> list[str]:
        """One non-empty string or a non-empty list of distinct ones."""
        items = [self] if isinstance(self.value, str) else None
        if items is None:
            if not isinstance(self.value, list) or not self.value:
                raise self.error(
                    f"expected a {what} or a non-empty list of {what}s, got {describe(self.value)}"
                )
            items = self.sequence()
        names = [item.string() for item in items]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise self.error(f"repeats {names_list(repeated)}; give each {what} once")
        return names
