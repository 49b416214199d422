"""Artifact retention: what a versioned ArtifactPlugin keeps of older versions (crystallize-ml's
``artifact_retention`` and ``big_file_threshold_mb``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .._checks import integer_expected, number_expected
from .._logging import get_logger
from ..exceptions import ConfigurationError

_log = get_logger("plugins")

RETENTION_VARIABLE = "CRYSTALLIZE_ARTIFACT_RETENTION"
THRESHOLD_VARIABLE = "CRYSTALLIZE_BIG_FILE_THRESHOLD_MB"
#: The big-file threshold when retention is on and none is given (crystallize-ml's default).
DEFAULT_BIG_FILE_MB = 10.0
#: What an old version keeps: the run's small JSON files (metrics, metadata, artifact manifest).
KEPT_FILES = frozenset({"results.json", "metadata.json", "_manifest.json"})


def retention_settings(retention: int | None, threshold_mb: float | None) -> tuple[int, float]:
    """The versions to keep whole (0: all) and the big-file threshold in MB, from the plugin's
    arguments or else the environment variables.

    Raises:
        ConfigurationError: naming the argument or variable, for a value that is not an integer
            (retention) or a positive number (threshold).
    """
    keep: float
    if retention is None:
        text = os.environ.get(RETENTION_VARIABLE)
        keep = 0 if text is None else _parsed(text, RETENTION_VARIABLE, int)
    elif integer_expected(retention) is not None:
        raise ConfigurationError(f"ArtifactPlugin artifact_retention must be an integer, got {retention!r}")
    else:
        keep = retention
    if threshold_mb is None:
        text = os.environ.get(THRESHOLD_VARIABLE)
        threshold_mb = DEFAULT_BIG_FILE_MB if text is None else _parsed(text, THRESHOLD_VARIABLE, float)
    if number_expected(threshold_mb) is not None:
        raise ConfigurationError(
            f"ArtifactPlugin big_file_threshold_mb must be a positive number, got {threshold_mb!r}"
        )
    return max(int(keep), 0), float(threshold_mb)


def _parsed(text: str, variable: str, kind: type[int] | type[float]) -> float:
    try:
        return kind(text)
    except ValueError:
        raise ConfigurationError(
            f"environment variable {variable} must be {'an integer' if kind is int else 'a number'}, got {text!r}"
        ) from None


def prune_versions(versions: list[Path], keep: int, threshold_mb: float) -> None:
    """Apply retention to ``versions`` (version folders, oldest first): the newest stays whole;
    the others of the ``keep`` newest lose files larger than ``threshold_mb``; older ones keep
    only :data:`KEPT_FILES`. Each removal is logged at INFO; ``keep`` 0 keeps everything."""
    if keep <= 0 or len(versions) <= 1:
        return
    kept = versions[-keep:]
    for version in versions[:-1]:
        if version in kept:
            prune_large_files(version, threshold_mb * 1024 * 1024)
        else:
            prune_to_results(version)


def prune_large_files(version: Path, limit_bytes: float) -> int:
    """Remove the files below ``version`` larger than ``limit_bytes`` (never :data:`KEPT_FILES`)
    and the folders left empty; log and return how many files went."""
    removed = _remove(version, lambda path: path.stat().st_size > limit_bytes)
    if removed:
        _log.info(
            "artifact retention: removed %d file(s) of %s (files over %g MB)",
            removed,
            version,
            limit_bytes / 2**20,
        )
    return removed


def prune_to_results(version: Path) -> int:
    """Remove every file below ``version`` but :data:`KEPT_FILES`, and the folders left empty;
    log and return how many files went."""
    removed = _remove(version, lambda path: True)
    if removed:
        _log.info(
            "artifact retention: removed %d file(s) of %s (everything but its results)", removed, version
        )
    return removed


def _remove(version: Path, doomed: Callable[[Path], bool]) -> int:
    removed = 0
    for path in sorted(version.rglob("*"), reverse=True):  # files before their folders
        if path.is_file() or path.is_symlink():
            if path.name not in KEPT_FILES and doomed(path):
                path.unlink()
                removed += 1
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return removed
