"""Folders the package writes into: created when missing, with a word about it, and a clear error
when a file stands in the way."""

from __future__ import annotations

from pathlib import Path

from ._logging import get_logger
from .exceptions import ConfigurationError

_log = get_logger("files")


def ensure_directory(folder: Path, purpose: str) -> None:
    """Make sure ``folder`` is a directory, creating it and its missing parents.

    A directory created here is logged as a warning naming it (``purpose`` says what it is for,
    e.g. ``"the storage 'sqlite:///...'"``): a mistyped path would otherwise create a new tree
    without a word.

    Raises:
        ConfigurationError: naming the path, when a file (not a directory) stands where one of
            ``folder``'s directories is expected, or the directory cannot be created.
    """
    if folder.is_dir():
        return
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigurationError(
            f"cannot create directory {str(folder)!r} for {purpose}: {str(existing)!r} is a file, not a directory"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create directory {str(folder)!r} for {purpose}: {exc.strerror or exc}"
        ) from exc
    _log.warning("created directory %s for %s", folder, purpose)
