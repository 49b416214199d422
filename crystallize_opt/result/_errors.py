"""``Result.errors``: the failures of a run, both a list and crystallize-ml's mapping by key."""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, Sequence, ValuesView
from typing import Any, overload

from ._values import ReplicateError, error_key


class ReplicateErrors(Sequence[ReplicateError]):
    """The failures of a run, in replicate then condition order, also keyed as crystallize-ml keys them.

    As a sequence (crystallize-opt's shape), it holds one :class:`ReplicateError` per failed
    condition and replicate: ``len``, iteration, ``errors[0]``, unpacking and ``errors == []``
    work as on a list. As a mapping (crystallize-ml's shape), each failure has the key
    ``"<condition>_rep_<replicate>"``: ``"baseline_rep_0" in errors``, ``errors["t1_rep_2"]``,
    ``errors.get(key)``, ``keys()``, ``values()``, ``items()`` and ``errors == {}`` work as on
    crystallize-ml's dict. Iterating gives the records, not the keys (use ``keys()`` for those).

    Args:
        errors: records (each keyed by its condition and replicate), or a mapping of key ->
            error, as crystallize-ml's ``Result(errors={...})`` takes; a mapping's values are
            kept as given (crystallize-ml's are exceptions).

    Raises:
        ValueError: if two records have the same condition and replicate.
        TypeError: if a record of a sequence is not a :class:`ReplicateError`.
    """

    __slots__ = ("_by_key", "_items")
    __hash__ = None  # type: ignore[assignment]  # equal to lists and dicts, so not hashable

    def __init__(self, errors: Iterable[ReplicateError] | Mapping[str, Any] = ()) -> None:
        pairs: list[tuple[str, Any]]
        if isinstance(errors, Mapping):
            pairs = [(str(key), value) for key, value in errors.items()]
        else:
            pairs = []
            for record in errors:
                if not isinstance(record, ReplicateError):
                    raise TypeError(
                        f"ReplicateErrors: {record!r} is not a ReplicateError; pass records, or a "
                        "mapping of '<condition>_rep_<i>' -> error"
                    )
                pairs.append((record.key, record))
        self._items: list[tuple[str, Any]] = pairs
        self._by_key: dict[str, Any] = {}
        for key, value in pairs:
            if key in self._by_key:
                raise ValueError(
                    f"ReplicateErrors: two errors for {key!r}; a condition fails once per replicate"
                )
            self._by_key[key] = value

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[ReplicateError]:
        return (value for _, value in self._items)

    @overload
    def __getitem__(self, index: int) -> ReplicateError: ...
    @overload
    def __getitem__(self, index: slice) -> list[ReplicateError]: ...
    @overload
    def __getitem__(self, index: str) -> ReplicateError: ...
    def __getitem__(self, index: int | slice | str) -> ReplicateError | list[ReplicateError]:
        """Return the record at a position (an ``int`` or ``slice``) or of a key (a ``str``).

        Raises:
            IndexError: for a position out of range.
            KeyError: naming the keys there are, for an unknown key.
        """
        if isinstance(index, str):
            if index not in self._by_key:
                raise KeyError(f"no error {index!r}; errors: {list(self._by_key)}")
            value: ReplicateError = self._by_key[index]
            return value
        if isinstance(index, slice):
            return [value for _, value in self._items[index]]
        value = self._items[index][1]
        return value

    def __contains__(self, item: object) -> bool:
        """A string is looked up as a key (``"baseline_rep_0" in errors``), anything else as a record."""
        if isinstance(item, str):
            return item in self._by_key
        return any(value == item for _, value in self._items)

    def keys(self) -> KeysView[str]:
        """The keys ``"<condition>_rep_<replicate>"``, in the records' order."""
        return self._by_key.keys()

    def values(self) -> ValuesView[ReplicateError]:
        """The records, in order (as iteration gives them)."""
        return self._by_key.values()

    def items(self) -> ItemsView[str, ReplicateError]:
        """``(key, record)`` pairs, in order: what crystallize-ml's ``errors.items()`` gives."""
        return self._by_key.items()

    def get(self, key: str, default: Any = None) -> Any:
        """Return the record of ``key``, or ``default`` when there is none."""
        return self._by_key.get(key, default)

    def for_condition(self, condition: str, replicate: int | None = None) -> list[ReplicateError]:
        """Return the records of ``condition`` (optionally of one replicate), in order.

        Values given by key rather than as records (crystallize-ml's exceptions) are matched by
        their key.
        """
        prefix = f"{condition}_rep_"
        return [
            value
            for key, value in self._items
            if key.startswith(prefix)
            and key[len(prefix) :].isdigit()
            and (replicate is None or key == error_key(condition, replicate))
        ]

    def __eq__(self, other: object) -> bool:
        """Equal to a list or tuple of the same records, to a mapping with the same keys and
        values, and to another ``ReplicateErrors`` holding the same keys and values in order."""
        if isinstance(other, ReplicateErrors):
            return self._items == other._items
        if isinstance(other, Mapping):
            return self._by_key == dict(other)
        if isinstance(other, (list, tuple)):
            return [value for _, value in self._items] == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"ReplicateErrors({self._by_key!r})"
