"""Shared fixtures of the tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from . import report_browser, servers


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


@pytest.fixture(scope="module")
def browser() -> Iterator[report_browser.Browser | str]:
    """A headless Chromium session, or the reason there is none (the tests then skip or fail)."""
    reason = report_browser.missing_reason()
    if reason is not None:
        yield reason
        return
    try:
        session = report_browser.Browser()
    except Exception as exc:  # installed but broken: always a failure, reported by each test
        yield f"BROKEN: chromium could not be started: {type(exc).__name__}: {exc}"
        return
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def quiet_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test in its own temporary folder with Optuna's per-trial logging off."""
    monkeypatch.chdir(tmp_path)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return tmp_path


@pytest.fixture(params=servers.SHARED_KINDS)
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[servers.StudyPlace]:
    """A fresh study on each kind of storage that processes share (server kinds skip without a URL)."""
    with servers.study_place(request.param, tmp_path) as found:
        yield found
