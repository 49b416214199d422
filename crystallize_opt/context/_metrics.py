"""The metrics one run records: each name maps to its values, in order, with optional tags."""

from __future__ import annotations

import types
from collections.abc import Iterator, Mapping
from typing import Any


class ContextMetrics:
    """Metrics recorded by one run: each name maps to the values added under it, in order.

    A step calls ``ctx.metrics.add("loss", 0.3)`` (or ``ctx.record("loss", 0.3)``); adding the
    same name again appends, so a step may record a curve. Values are kept as given (floats in
    practice). Each value may carry a dict of tags (``add("loss", 0.3, tags={"epoch": 3})``),
    read back with :meth:`get_tags` and :meth:`tags_as_dict`.

    ``metrics["loss"]`` returns the values as a tuple and :meth:`as_dict` a read-only mapping of
    tuples, as in crystallize-ml (an empty tuple for a name never recorded); :meth:`get` and
    :meth:`lists` return lists.
    """

    __slots__ = ("_tags", "_values")

    def __init__(self) -> None:
        self._values: dict[str, list[Any]] = {}
        self._tags: dict[str, list[dict[str, Any] | None]] = {}

    def add(self, name: str, value: Any, tags: Mapping[str, Any] | None = None) -> None:
        """Append ``value`` to the metric ``name``, with ``tags`` (a copy of it) beside it.

        Raises:
            TypeError: if ``name`` is not a non-empty string, or ``tags`` is neither None nor a
                mapping.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"metric name must be a non-empty string, got {name!r}")
        if tags is not None and not isinstance(tags, Mapping):
            raise TypeError(f"metric {name!r}: tags must be a mapping or None, got {type(tags).__name__}")
        self._values.setdefault(name, []).append(value)
        if tags is not None or name in self._tags:
            # Tags are kept aligned with the values: None for a value added without tags.
            aligned = self._tags.setdefault(name, [None] * (len(self._values[name]) - 1))
            aligned.append(None if tags is None else dict(tags))

    def __getitem__(self, name: str) -> tuple[Any, ...]:
        """Return the values recorded under ``name`` as a tuple (empty if none)."""
        return tuple(self._values.get(name, ()))

    def get(self, name: str) -> list[Any]:
        """Return a copy of the values recorded under ``name`` (empty if none)."""
        return list(self._values.get(name, ()))

    def get_tags(self, name: str) -> tuple[dict[str, Any], ...]:
        """Return the tags of each value of ``name``, aligned with :meth:`__getitem__`: a copy of
        the dict given to :meth:`add`, or ``{}`` for a value added without tags (as in
        crystallize-ml)."""
        values = self._values.get(name, ())
        tags = self._tags.get(name)
        if tags is None:
            return tuple({} for _ in values)
        return tuple({} if t is None else dict(t) for t in tags)

    def as_dict(self) -> Mapping[str, tuple[Any, ...]]:
        """Return every metric, name -> tuple of values, as a read-only mapping (as in
        crystallize-ml; assigning to it raises ``TypeError``)."""
        return types.MappingProxyType({name: tuple(values) for name, values in self._values.items()})

    def lists(self) -> dict[str, list[Any]]:
        """Return a copy of every metric: name -> list of values."""
        return {name: list(values) for name, values in self._values.items()}

    def tags_as_dict(self) -> dict[str, list[dict[str, Any] | None]]:
        """Return the tags of every metric that has any: name -> list aligned with its values."""
        return {name: [None if t is None else dict(t) for t in tags] for name, tags in self._tags.items()}

    def lengths(self) -> dict[str, int]:
        """Return how many values each metric has now (a mark for :meth:`added_since`)."""
        return {name: len(values) for name, values in self._values.items()}

    def added_since(self, lengths: dict[str, int]) -> dict[str, list[Any]]:
        """Return the values added after :meth:`lengths` returned ``lengths``."""
        return {
            name: values[lengths.get(name, 0) :]
            for name, values in self._values.items()
            if len(values) > lengths.get(name, 0)
        }

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"ContextMetrics({self._values!r})"
