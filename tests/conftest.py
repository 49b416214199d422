"""Shared fixtures of the engine tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test inside a fresh temporary folder, so the default ArtifactPlugin (root
    ``data``) writes there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def traces(tmp_path: Path) -> Path:
    """A folder, outside the artifact root, for files that steps leave as traces."""
    folder = tmp_path / "traces"
    folder.mkdir()
    return folder
