"""``Experiment.outputs``: the experiment's output artifacts, as a list and by name."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, SupportsIndex, overload

from ..artifacts import Artifact


class ArtifactOutputs(list[Artifact]):
    """The artifacts an experiment declares, in the order given: a list, and also
    crystallize-ml's mapping ``name -> Artifact`` (``outputs["model.json"]``, ``keys()``,
    ``values()``, ``items()``, ``get()``, ``"model.json" in outputs``). Iterating gives the
    artifacts (iterating the reference's dict gives the names)."""

    def __init__(self, artifacts: Iterable[Artifact] = ()) -> None:
        super().__init__(artifacts)

    @overload
    def __getitem__(self, key: SupportsIndex) -> Artifact: ...
    @overload
    def __getitem__(self, key: slice) -> list[Artifact]: ...
    @overload
    def __getitem__(self, key: str) -> Artifact: ...

    def __getitem__(self, key: SupportsIndex | slice | str) -> Artifact | list[Artifact]:
        """The artifact at an index (a list of them for a slice), or the one of file name ``key``.

        Raises:
            KeyError: naming the declared names, for a name no output has.
        """
        if isinstance(key, str):
            for artifact in self:
                if artifact.name == key:
                    return artifact
            raise KeyError(f"no output artifact {key!r}; the experiment declares {self.keys()}")
        return super().__getitem__(key)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            return item in self.keys()
        return super().__contains__(item)

    def keys(self) -> list[str]:
        """The artifacts' file names."""
        return [artifact.name for artifact in self]

    def values(self) -> list[Artifact]:
        """The artifacts."""
        return list(self)

    def items(self) -> list[tuple[str, Artifact]]:
        """``(name, artifact)`` pairs."""
        return [(artifact.name, artifact) for artifact in self]

    def get(self, name: str, default: Any = None) -> Any:
        """The artifact of file name ``name``, or ``default``."""
        return next((artifact for artifact in self if artifact.name == name), default)
