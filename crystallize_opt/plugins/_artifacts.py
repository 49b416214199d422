"""Artifact storage: files written by steps, per-replicate result records for resume, metadata."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._constants import BASELINE_CONDITION, CONDITION_KEY, METADATA_FILENAME, REPLICATE_KEY
from .._logging import get_logger
from .._paths import check_name
from ..result import to_jsonable
from ._base import BasePlugin
from ._metrics_files import RESULTS_FILE
from ._retention import (
    DEFAULT_BIG_FILE_MB,
    prune_large_files,
    prune_to_results,
    prune_versions,
    retention_settings,
)

if TYPE_CHECKING:
    from ..context import FrozenContext
    from ..experiment import Experiment
    from ..pipeline import PipelineStep
    from ..result import ConditionOutcome, Result

_log = get_logger("artifacts")
RESULT_RECORD = "_result.json"
#: ``v<n>/_manifest.json``: artifact name -> the step folder it is stored in (as crystallize-ml).
MANIFEST_FILE = "_manifest.json"
_VERSION_DIR = re.compile(r"^v(\d+)$")


#: The empty file crystallize-ml writes beside each condition's results.json.
COMPLETE_MARKER = ".crystallize_complete"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # builtins.open, not Path.write_text: code that guards writes by patching open() (as
    # crystallize-ml's tests do) sees ours too.
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def step_folder(step: PipelineStep) -> str:
    """The folder below ``replicate_<i>/<condition>/`` that ``step``'s artifacts are stored in:
    the step's class name, as crystallize-ml (``Write_OutStep`` for a ``@pipeline_step``
    function ``write_out``), so scripts reading the reference's layout find them. Earlier
    versions used the step's ``name`` (the function's name); readers look there too."""
    return type(step).__name__


@dataclass
class ArtifactPlugin(BasePlugin):
    """Store what runs produce under ``root_dir/<experiment name>/v<version>/``.

    * Files steps write through an :class:`~crystallize_opt.Artifact` go to
      ``replicate_<i>/<condition>/<step class name>/<name>`` (see :func:`step_folder`; their
      paths are listed in ``Result.artifacts``). :meth:`Experiment.apply` writes below ``apply/`` and optimization
      trials below ``trials/<n>/``, so neither overwrites a run's files; during ``apply`` the
      run hooks below do nothing, so it changes no version, record or metadata.
    * After every condition of every replicate of a run, a small record of its metrics
      (``_result.json``), from which ``strategy="resume"`` continues an interrupted run.
    * ``metadata.json`` with the replicate count, conditions, seed and pipeline signature.
    * After a run, ``<condition>/results.json`` for every condition: ``{"metrics": {name:
      [values of every replicate, in replicate order]}}``, crystallize-ml's file, which
      :func:`load_metrics` and :func:`load_all_metrics` read.

    Args:
        root_dir: folder below which experiments are stored.
        versioned: when True every fresh run gets a new ``v<n>`` folder; otherwise runs reuse
            ``v0`` (a fresh run first clears the resume records there).
        store_results: write the per-replicate records that resume needs.
        artifact_retention: versioned mode: after each run, the newest version stays whole,
            the others of the ``artifact_retention`` newest lose files larger than
            ``big_file_threshold_mb``, and older ones keep only their small JSON files
            (``results.json``, ``metadata.json``, ``_manifest.json``). None: the environment
            variable ``CRYSTALLIZE_ARTIFACT_RETENTION``, else 0; 0 or less keeps everything.
            crystallize-ml pruned by default (3); here nothing is deleted unless asked.
        big_file_threshold_mb: see ``artifact_retention`` (None: the variable
            ``CRYSTALLIZE_BIG_FILE_THRESHOLD_MB``, else 10).

    Raises:
        ConfigurationError: for a retention that is not an integer or a threshold that is not a
            positive number (argument or environment variable, named).
    """

    root_dir: str | Path = "data"
    versioned: bool = False
    store_results: bool = True
    artifact_retention: int | None = None
    big_file_threshold_mb: float | None = None
    version: int = field(default=0, init=False)
    _resume_next: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        # The arguments now; the environment variables when a run reads them.
        retention_settings(
            0 if self.artifact_retention is None else self.artifact_retention,
            DEFAULT_BIG_FILE_MB if self.big_file_threshold_mb is None else self.big_file_threshold_mb,
        )

    def experiment_dir(self, experiment: Experiment) -> Path:
        """Return ``root_dir/<experiment name>``; for an experiment made without a name,
        ``root_dir/<experiment id>`` (as crystallize-ml), so unnamed experiments with different
        pipelines or datasources do not share a folder.

        Raises:
            ConfigurationError: if the name is not a plain file name (see ``_paths.check_name``):
                no name reaches a folder outside ``root_dir``.
        """
        folder = experiment.name if getattr(experiment, "_named", True) else experiment.id
        return Path(self.root_dir) / check_name(folder or "experiment", "experiment name")

    def version_dir(self, experiment: Experiment, version: int | None = None) -> Path:
        """Return the folder of ``version`` (default: the current one)."""
        return self.experiment_dir(experiment) / f"v{self.version if version is None else version}"

    def existing_versions(self, experiment: Experiment) -> list[int]:
        """Return the version numbers present on disk, ascending."""
        base = self.experiment_dir(experiment)
        if not base.is_dir():
            return []
        return sorted(int(m.group(1)) for p in base.iterdir() if (m := _VERSION_DIR.match(p.name)))

    def prepare_resume(self) -> None:
        """Make the next run continue the latest version instead of starting a new one."""
        self._resume_next = True

    def before_run(self, experiment: Experiment) -> None:
        if experiment.applying:  # apply() writes below apply/ of the current version, stores nothing
            return
        versions = self.existing_versions(experiment)
        resume, self._resume_next = self._resume_next, False
        if resume:
            self.version = versions[-1] if versions else 0
        elif self.versioned:
            self.version = versions[-1] + 1 if versions else 0
        else:
            self.version = 0
        if not resume and self.version_dir(experiment).is_dir():
            for record in self.version_dir(experiment).glob(f"replicate_*/*/{RESULT_RECORD}"):
                record.unlink()

    def after_step(self, experiment: Experiment, step: PipelineStep, data: Any, ctx: FrozenContext) -> None:
        if not len(ctx.artifacts):
            return
        folder = self._condition_dir(experiment, ctx) / check_name(step_folder(step), "step folder")
        folder.mkdir(parents=True, exist_ok=True)
        for record in ctx.artifacts.drain():
            path = (folder / check_name(record.name, "Artifact name")).resolve()
            with open(path, "wb") as handle:
                handle.write(record.data)
            ctx.artifacts.written.append((record.name, step.name, str(path)))

    def after_replicate(self, experiment: Experiment, ctx: FrozenContext, outcome: ConditionOutcome) -> None:
        if not self.store_results or ctx.scope or outcome.fingerprint is None:
            return
        write_atomic(self._condition_dir(experiment, ctx) / RESULT_RECORD, json.dumps(outcome.to_record()))

    def load_record(self, experiment: Experiment, replicate: int, condition: str) -> dict[str, Any] | None:
        """Return the stored record of ``condition`` in ``replicate`` of the current version, if any."""
        path = self.version_dir(experiment) / f"replicate_{replicate}" / check_name(condition, "condition")
        path /= RESULT_RECORD
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            _log.warning("ignoring unreadable resume record %s: %s", path, exc)
            return None
        return data

    def after_run(self, experiment: Experiment, result: Result) -> None:
        if experiment.applying:  # the metadata describes the last run, not an apply() pass
            return
        meta = {
            "id": experiment.id,  # crystallize-ml's key
            "name": experiment.name,
            "version": self.version,
            "replicates": experiment.replicates,
            "conditions": [BASELINE_CONDITION, *(t.name for t in experiment.treatments)],
            "pipeline_signature": result.provenance.get("pipeline_signature"),
            "master_seed": result.provenance.get("master_seed"),
            "written_at": datetime.now(timezone.utc).isoformat(),
        }
        write_atomic(
            self.version_dir(experiment) / METADATA_FILENAME, json.dumps(to_jsonable(meta), indent=2)
        )
        self._write_manifest(experiment, result)
        conditions = {BASELINE_CONDITION: result.metrics.baseline, **result.metrics.treatments}
        for condition, metrics in conditions.items():
            folder = self.version_dir(experiment) / check_name(condition, "condition")
            write_atomic(
                folder / RESULTS_FILE, json.dumps({"metrics": to_jsonable(metrics.metrics)}, indent=2)
            )
            # crystallize-ml's completion marker, for tools that look for it; resume here reads
            # the per-replicate records instead.
            (folder / COMPLETE_MARKER).touch()
        if self.versioned:
            keep, threshold = retention_settings(self.artifact_retention, self.big_file_threshold_mb)
            versions = [self.version_dir(experiment, v) for v in self.existing_versions(experiment)]
            prune_versions(versions, keep, threshold)

    # crystallize-ml's retention helpers, kept under its names for code that called them.
    def _prune_old_versions(self, base: Path) -> None:
        """Apply this plugin's retention to the version folders ``v<n>`` of ``base``."""
        keep, threshold = retention_settings(self.artifact_retention, self.big_file_threshold_mb)
        found = [(int(m.group(1)), p) for p in Path(base).iterdir() if (m := _VERSION_DIR.match(p.name))]
        prune_versions([p for _, p in sorted(found)], keep, threshold)

    def _prune_large_files(self, version_dir: Path, threshold_bytes: float) -> None:
        """Remove the files of ``version_dir`` larger than ``threshold_bytes`` (not its JSON results)."""
        prune_large_files(Path(version_dir), threshold_bytes)

    def _prune_to_metrics(self, version_dir: Path) -> None:
        """Remove every file of ``version_dir`` but its results, metadata and manifest."""
        prune_to_results(Path(version_dir))

    def _write_manifest(self, experiment: Experiment, result: Result) -> None:
        """Add the step folder of every artifact the run stored to ``_manifest.json`` (kept
        entries: a resumed run that rewrote nothing keeps what the earlier run listed)."""
        path = self.version_dir(experiment) / MANIFEST_FILE
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {}
        if not isinstance(manifest, dict):
            manifest = {}
        for name, by_condition in result.artifacts.items():
            paths = [p for ps in by_condition.values() if isinstance(ps, list) for p in ps]
            if paths:
                manifest[name] = Path(paths[0]).parent.name
        if manifest:
            write_atomic(path, json.dumps(manifest, indent=2, sort_keys=True))

    def _condition_dir(self, experiment: Experiment, ctx: FrozenContext) -> Path:
        base = self.version_dir(experiment)
        if ctx.scope:
            base = base / ctx.scope
        condition = check_name(str(ctx.get(CONDITION_KEY, BASELINE_CONDITION)), "condition")
        return base / f"replicate_{ctx.get(REPLICATE_KEY, 0)}" / condition
