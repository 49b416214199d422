"""``ReplicatePaths``: the files one artifact was written to in one condition, one per replicate."""

from __future__ import annotations

import os
from pathlib import Path, PurePath
from typing import Any


class ReplicatePaths(list[Path]):
    """The paths of one artifact in one condition, replicate order (``Result.artifacts[name][cond]``).

    A list (``paths[i]`` is replicate ``i``'s file), and also usable where crystallize-ml gave a
    single :class:`~pathlib.Path` (it kept replicate 0's only): ``os.fspath``, ``Path(paths)``,
    ``open(paths)``, ``paths / "x"``, ``str(paths)``, ``paths == some_path`` and Path attributes
    (``paths.read_text()``, ``paths.exists()``, ``paths.name``) all act on the first path.
    ``isinstance(paths, Path)`` is False.
    """

    def first(self) -> Path:
        """Replicate 0's path (the one crystallize-ml kept).

        Raises:
            FileNotFoundError: when no replicate wrote the artifact (the list is empty).
        """
        if not self:
            raise FileNotFoundError("no replicate wrote this artifact in this condition")
        return Path(self[0])

    def __fspath__(self) -> str:
        return os.fspath(self.first())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # protocols (pickle, copy) must not see the path's
            raise AttributeError(name)
        return getattr(self.first(), name)

    def __truediv__(self, other: str | os.PathLike[str]) -> Path:
        return self.first() / other

    def __str__(self) -> str:
        return str(self.first()) if self else "[]"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PurePath):
            return bool(self) and self.first() == other
        return list.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # a list
