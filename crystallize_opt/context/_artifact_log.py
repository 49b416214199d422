"""The files a step asked to write, collected until the ArtifactPlugin stores them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..exceptions import ContextMutationError


@dataclass(frozen=True)
class ArtifactRecord:
    """One file a step asked to write through an :class:`~crystallize_opt.Artifact`."""

    name: str
    data: bytes


class ArtifactLog:
    """Artifacts written during one step, collected until the ArtifactPlugin stores them."""

    __slots__ = ("_items", "written")

    def __init__(self) -> None:
        self._items: dict[str, ArtifactRecord] = {}
        #: (artifact name, step name, file path) of every artifact stored during this run.
        self.written: list[tuple[str, str, str]] = []

    def add(self, name: str, data: bytes) -> None:
        """Queue ``data`` to be written as file ``name``.

        Raises:
            ContextMutationError: if ``name`` was already written in this step.
            TypeError: if ``data`` is not bytes.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"artifact {name!r}: data must be bytes, got {type(data).__name__}")
        if name in self._items:
            raise ContextMutationError(f"artifact {name!r} was already written in this step")
        self._items[name] = ArtifactRecord(name, bytes(data))

    def drain(self) -> list[ArtifactRecord]:
        """Return the queued artifacts and empty the log."""
        items = list(self._items.values())
        self._items.clear()
        return items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[ArtifactRecord]:
        return iter(list(self._items.values()))
