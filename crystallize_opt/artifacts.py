"""Artifacts: files that pipeline steps write, and a datasource that reads them back."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._constants import BASELINE_CONDITION, METADATA_FILENAME, REPLICATE_KEY
from ._paths import check_name
from .context import FrozenContext
from .exceptions import ConfigurationError
from .pipeline import DataSource
from .plugins import ArtifactPlugin

if TYPE_CHECKING:
    from .experiment import Experiment


class Artifact:
    """A named output file that steps write; declare it in ``Experiment(outputs=[...])``.

    A step receives the artifact bound to its run as a parameter named like the artifact (its
    file name, or the file name without extension: ``Artifact("model.json")`` is injected as
    ``model`` or ``model.json``), and calls ``write(data: bytes)``. The
    :class:`~crystallize_opt.ArtifactPlugin` stores it under the run's replicate, condition and
    step, and lists the path in ``Result.artifacts``.

    Args:
        name: the file name: 1 to 255 bytes, without ``/``, ``\\``, control characters or a
            leading ``.``.
        loader: how :meth:`load` turns a stored path into data (default: the raw bytes).
    """

    def __init__(self, name: str, loader: Callable[[Path], Any] | None = None):
        self.name = check_name(name, "Artifact name")
        self.loader = loader
        self._ctx: FrozenContext | None = None

    @property
    def injection_names(self) -> tuple[str, ...]:
        """The parameter names under which steps receive this artifact."""
        stem = Path(self.name).stem
        return (self.name,) if stem == self.name else (self.name, stem)

    def bind(self, ctx: FrozenContext) -> Artifact:
        """Return a copy of this artifact that writes into ``ctx``'s run."""
        bound = Artifact(self.name, self.loader)
        bound._ctx = ctx
        return bound

    def write(self, data: bytes) -> None:
        """Queue ``data`` to be stored as this artifact for the current step.

        Raises:
            RuntimeError: if the artifact is not bound to a run (declare it in ``outputs`` and
                take it as a step parameter).
        """
        if self._ctx is None:
            raise RuntimeError(
                f"Artifact {self.name!r} is not bound to a run: declare it in Experiment(outputs=[...]) "
                "and receive it as a step parameter"
            )
        self._ctx.artifacts.add(self.name, data)

    def __deepcopy__(self, memo: dict[int, Any]) -> Artifact:
        # A handle on a run's output, not a value: a copy (e.g. of a context value holding it)
        # must still write into the run it is bound to.
        return self

    def load(self, path: Path) -> Any:
        """Read a stored copy of this artifact with the loader (bytes by default)."""
        return self.loader(path) if self.loader is not None else path.read_bytes()

    def __repr__(self) -> str:
        return f"Artifact({self.name!r})"


class ArtifactDataSource(DataSource):
    """Yields the path of an artifact another experiment stored, for the replicate being run.

    Made by :meth:`Experiment.artifact_datasource`. Replicate ``i`` of the consuming experiment
    reads replicate ``i`` of the producer's latest version.
    """

    def __init__(
        self,
        producer: Experiment,
        step: str,
        name: str,
        condition: str = BASELINE_CONDITION,
        require_metadata: bool = False,
    ):
        plugin = producer.get_plugin(ArtifactPlugin)
        if plugin is None:
            raise ConfigurationError(
                f"experiment {producer.name!r} has no ArtifactPlugin, so it stores no artifacts to read"
            )
        self.plugin = plugin
        self.producer = producer
        # Path components of the file it reads: held to the rule of the names it was written under.
        self.step = check_name(step, "step name")
        self.artifact_name = check_name(name, "Artifact name")
        self.condition = check_name(condition, "condition")
        meta_path = self.version_dir / METADATA_FILENAME
        if require_metadata and not meta_path.is_file():
            raise FileNotFoundError(f"{meta_path} not found: run experiment {producer.name!r} first")

    @property
    def version_dir(self) -> Path:
        """The producer's latest version folder, looked up at each use: a run of the producer
        after this datasource was made is read too."""
        versions = self.plugin.existing_versions(self.producer)
        return self.plugin.version_dir(self.producer, versions[-1] if versions else None)

    @property
    def replicates(self) -> int:
        """The replicate count in the latest version's metadata (the producer's own without it)."""
        meta_path = self.version_dir / METADATA_FILENAME
        if meta_path.is_file():
            return int(json.loads(meta_path.read_text(encoding="utf-8"))["replicates"])
        return self.producer.replicates

    def fetch(self, ctx: FrozenContext) -> Path:
        """Return the stored file's path for ``ctx``'s replicate.

        Raises:
            FileNotFoundError: naming the path, if the producer did not store that file.
        """
        replicate = int(ctx.get(REPLICATE_KEY, 0))
        path = self.version_dir / f"replicate_{replicate}" / self.condition / self.step / self.artifact_name
        if not path.is_file():
            raise FileNotFoundError(
                f"artifact {self.artifact_name!r} of step {self.step!r}, condition {self.condition!r}, "
                f"replicate {replicate} not found at {path} (the producer has {self.replicates} replicate(s))"
            )
        return path

    def fingerprint(self) -> str:
        return f"artifact:{self.producer.name}:{self.step}:{self.artifact_name}:{self.condition}"
