"""Reading back the metrics :class:`ArtifactPlugin` stores: crystallize-ml's ``load_metrics``
and ``load_all_metrics``, over ``<experiment dir>/v<version>/<condition>/results.json``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .._constants import BASELINE_CONDITION

#: The file of one condition's metrics in a version folder: ``{"metrics": {name: [values]}}``.
RESULTS_FILE = "results.json"
_VERSION_DIR = re.compile(r"^v(\d+)$")


def _versions(exp_dir: Path) -> list[int]:
    """The version numbers of ``exp_dir``'s ``v<n>`` folders, ascending."""
    if not exp_dir.is_dir():
        return []
    return sorted(
        int(m.group(1)) for p in exp_dir.iterdir() if p.is_dir() and (m := _VERSION_DIR.match(p.name))
    )


def _read_metrics(path: Path) -> dict[str, Any] | None:
    """The ``metrics`` of a results file, ``{}`` when it has none, None when there is no file.

    Raises:
        ValueError: naming the file, when it is not JSON or not a JSON object.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); delete it or rerun the experiment") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds {type(data).__name__}, expected a JSON object with 'metrics'")
    metrics = data.get("metrics", {})
    return dict(metrics) if isinstance(metrics, dict) else {}


def _treatments(version_dir: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    if not version_dir.is_dir():
        return found
    for folder in sorted(version_dir.iterdir(), key=lambda p: p.name):
        if folder.is_dir() and folder.name != BASELINE_CONDITION:
            metrics = _read_metrics(folder / RESULTS_FILE)
            if metrics is not None:
                found[folder.name] = metrics
    return found


def load_metrics(
    exp_dir: str | Path, version: int | None = None
) -> tuple[int, dict[str, Any], dict[str, dict[str, Any]]]:
    """Read the metrics :class:`ArtifactPlugin` stored for one version of an experiment.

    Args:
        exp_dir: the experiment's folder (``<root_dir>/<experiment name>``).
        version: the version to read; None for the latest ``v<n>`` folder.

    Returns:
        ``(version, baseline, treatments)``: the version read (-1 when ``exp_dir`` has no
        version folder), the baseline's metrics (``{}`` when it has no results file) and
        treatment name -> metrics for every other folder of the version holding a results
        file, sorted by name.

    Raises:
        ValueError: naming the file, when a results file is not a JSON object.
    """
    exp_dir = Path(exp_dir)
    if version is None:
        versions = _versions(exp_dir)
        if not versions:
            return -1, {}, {}
        version = versions[-1]
    base = exp_dir / f"v{version}"
    baseline = _read_metrics(base / BASELINE_CONDITION / RESULTS_FILE) or {}
    return version, baseline, _treatments(base)


def load_all_metrics(
    exp_dir: str | Path, version: int | None = None
) -> tuple[int, dict[str, Any], dict[str, tuple[int, dict[str, Any]]]]:
    """Read every treatment's newest stored metrics across the versions of an experiment.

    Args:
        exp_dir: the experiment's folder (``<root_dir>/<experiment name>``).
        version: the newest version to consider; None for the latest.

    Returns:
        ``(version, baseline, treatments)``: the newest version considered (-1 when there is
        none), its baseline's metrics, and treatment name -> ``(version, metrics)`` from the
        newest version (up to ``version``) holding that treatment's results file, sorted by name.

    Raises:
        ValueError: naming the file, when a results file is not a JSON object.
    """
    exp_dir = Path(exp_dir)
    versions = [v for v in _versions(exp_dir) if version is None or v <= version]
    if version is not None and version not in versions:
        versions.append(version)
    if not versions:
        return -1, {}, {}
    latest, baseline, _ = load_metrics(exp_dir, versions[-1])
    found: dict[str, tuple[int, dict[str, Any]]] = {}
    for v in reversed(versions):
        for name, metrics in _treatments(exp_dir / f"v{v}").items():
            found.setdefault(name, (v, metrics))
    return latest, baseline, dict(sorted(found.items()))
