"""Finding what a producer experiment stored (its latest version, a replicate's step folder), and
:class:`ArtifactDataSource`, which yields the stored path."""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import TYPE_CHECKING

from .._constants import BASELINE_CONDITION, METADATA_FILENAME, REPLICATE_KEY
from .._paths import check_name
from ..context import FrozenContext
from ..exceptions import ConfigurationError
from ..pipeline import DataSource
from ..plugins import MANIFEST_FILE, ArtifactPlugin, step_folder

if TYPE_CHECKING:
    from ..experiment import Experiment


def stored_replicates(version_dir: Path) -> int | None:
    """The replicate count a producer's stored version records (``metadata.json``), or None."""
    meta_path = version_dir / METADATA_FILENAME
    try:
        count = json.loads(meta_path.read_text(encoding="utf-8")).get("replicates")
    except (OSError, ValueError, AttributeError):
        return None
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else None


def locate_stored(version_dir: Path, replicate: int, condition: str, name: str) -> Path | None:
    """The stored file ``name`` of ``condition`` in ``replicate``: in the step folder the
    manifest names, else in any step folder."""
    folder = version_dir / f"replicate_{replicate}" / check_name(condition, "condition")
    try:
        manifest = json.loads((version_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    step = manifest.get(name) if isinstance(manifest, dict) else None
    if isinstance(step, str) and (folder / step / name).is_file():
        return folder / step / name
    found = sorted(p for p in folder.glob(f"*/{glob.escape(name)}") if p.is_file()) if folder.is_dir() else []
    return found[0] if found else None


def stored_step(producer: Experiment, step: str) -> tuple[str, tuple[str, ...]]:
    """The step ``step`` names in ``producer``'s pipeline, by its class name (``Add_OneStep``,
    as crystallize-ml) or its ``name`` (``add_one``): its ``name``, which identifies it in
    fingerprints as in earlier versions, and the folders its artifacts may be stored in, the
    class name first (this version's layout, :func:`~crystallize_opt.plugins.step_folder`),
    then the ``name`` (earlier versions' layout). A ``step`` no pipeline step answers to is
    taken as the folder itself."""
    for candidate in getattr(producer.pipeline, "steps", ()):
        folder, name = step_folder(candidate), str(candidate.name)
        if step in (folder, name):
            return name, (folder,) if folder == name else (folder, name)
    return step, (step,)


class ArtifactDataSource(DataSource):
    """Yields the path of an artifact another experiment stored, for the replicate being run.

    Made by :meth:`Experiment.artifact_datasource`; ``step`` is the producing step's class name
    (``Write_OutStep``, as crystallize-ml) or its ``name`` (``write_out``). Replicate ``i`` of
    the consuming experiment reads replicate ``i`` of the producer's latest version.
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
        step_name, folders = stored_step(producer, step)
        #: The step's name (what the fingerprint holds, unchanged from earlier versions).
        self.step = check_name(step_name, "step name")
        #: The step folders looked in, in order: the class name, then the name earlier versions used.
        self.step_folders = tuple(check_name(folder, "step name") for folder in folders)
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
        """Return the stored file's path for ``ctx``'s replicate: in the step's class-name
        folder, else (a run stored by an earlier version) in its ``name`` folder.

        Raises:
            FileNotFoundError: naming the paths tried, if the producer did not store that file.
        """
        replicate = int(ctx.get(REPLICATE_KEY, 0))
        condition_dir = self.version_dir / f"replicate_{replicate}" / self.condition
        paths = [condition_dir / folder / self.artifact_name for folder in self.step_folders]
        for path in paths:
            if path.is_file():
                return path
        tried = " or ".join(str(path) for path in paths)
        raise FileNotFoundError(
            f"artifact {self.artifact_name!r} of step {self.step!r}, condition {self.condition!r}, "
            f"replicate {replicate} not found at {tried} (the producer has {self.replicates} replicate(s))"
        )

    def fingerprint(self) -> str:
        return f"artifact:{self.producer.name}:{self.step}:{self.artifact_name}:{self.condition}"
