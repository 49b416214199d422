"""Where the package writes: folders created when missing, with a word about it, and a clear
error when a file stands in the way; names (of experiments, treatments, steps, artifacts, study
reports) that become file or folder names, held to one rule so none reaches outside its folder."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ._logging import get_logger
from ._text import short_repr
from .exceptions import ConfigurationError

_log = get_logger("files")

#: The rule every name used as one file or folder name follows, as messages state it.
NAME_RULE = "a plain file name: 1 to 255 bytes (UTF-8), not starting with '.', without '/', '\\' or control characters"
_MAX_NAME_BYTES = 255  # the longest file name Linux, macOS and Windows file systems take
_REFUSED = re.compile(r"[/\\\x00-\x1f\x7f-\x9f\u2028\u2029]")


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be used as one file or folder name, or None when it can.

    The rule (:data:`NAME_RULE`): a non-empty string of at most 255 bytes in UTF-8, not starting
    with ``.`` (so neither ``.`` nor ``..``, nor a hidden file), without ``/`` or ``\\`` (path
    separators on POSIX and Windows) and without control characters (NUL ends a path in the
    operating system; a newline breaks every message that names the file). Other characters,
    spaces and non-ASCII letters included, are allowed.
    """
    if not isinstance(name, str) or not name:
        return "is empty" if name == "" else "is not a string"
    found = _REFUSED.search(name)
    if found:
        return f"contains {found.group()!r}"
    if name.startswith("."):
        return "starts with '.'"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate, e.g. from a file name in a foreign encoding
        return "is not valid Unicode text"
    if size > _MAX_NAME_BYTES:
        return f"is {size} bytes long"
    return None


def check_name(name: Any, what: str) -> str:
    """Return ``name`` when it may be used as one file or folder name (see :func:`name_problem`).

    Raises:
        ConfigurationError: ``<what> <name> ... must be a plain file name: ...``, naming the value
            and saying what is wrong and what is allowed.
    """
    problem = name_problem(name)
    if problem is not None:
        raise ConfigurationError(f"{what} {short_repr(name)} {problem}; it must be {NAME_RULE}")
    return str(name)


def file_stem(name: str, fallback: str, suffix: str = "") -> str:
    """``name`` made a name that follows :func:`name_problem`'s rule with ``suffix`` appended:
    refused characters become ``_``, leading dots go, and it is cut to fit 255 bytes; ``fallback``
    when nothing is left. For names that are not ours to refuse, such as the name of a study
    found in a storage, which Optuna allows to be anything."""
    stem = _REFUSED.sub("_", name).lstrip(".")
    room = _MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    stem = stem.encode("utf-8", "replace")[:room].decode("utf-8", "ignore") or fallback
    return stem + suffix


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


def find_experiments_root(start: str | Path | None = None, *, strict: bool = True) -> Path:
    """Return the folder of experiments above ``start`` (a file or folder; default: the
    current directory): the nearest folder, from ``start`` upwards, that is named
    ``experiments`` or holds a folder ``experiments`` (then that folder is returned).

    With ``strict=False`` a ``start`` without such a folder above it is returned itself (its
    folder when it is a file), with a warning.

    Raises:
        FileNotFoundError: if ``strict`` and no such folder is found up to the filesystem's root.
    """
    origin = Path.cwd() if start is None else Path(start).resolve()
    if origin.is_file():
        origin = origin.parent
    for folder in (origin, *origin.parents):
        if folder.name == "experiments":
            return folder
        if (folder / "experiments").is_dir():
            return folder / "experiments"
    if not strict:
        # "Could not locate 'experiments' dir": crystallize-ml's wording, which its users match on.
        _log.warning(
            "Could not locate 'experiments' dir: no folder named 'experiments' at or above %s; using %s",
            origin,
            origin,
        )
        return origin
    raise FileNotFoundError(
        f"Could not locate 'experiments' directory: no folder named 'experiments' at or above {origin}"
    )
