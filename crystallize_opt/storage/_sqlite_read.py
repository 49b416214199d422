"""Reading a SQLite study file without writing to it, read-only media included, and one-line
errors for a file that exists but cannot be read: a damaged or unreadable file is an error,
never "no study here".

Standard library only: the study config asks which file holds a study with it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..exceptions import StorageFileError


def read_only_uri(database: Path) -> str:
    """The SQLite URI (for ``sqlite3.connect(..., uri=True)``) that opens ``database`` for
    reading only: ``mode=ro``, so a reader never writes the file, its journal mode or a lock
    file (SQLite itself makes the ``-wal``/``-shm`` files a WAL-mode reader needs, when missing).

    A rollback journal (``-journal``, as plain Optuna's SQLite files keep) left by an interrupted
    write must be undone before the file can be read, which SQLite does only where it may write:
    such a file is opened ``mode=rw`` (which creates nothing), and SQLite restores it as any
    program opening it would.

    On a read-only file system SQLite cannot make the ``-shm`` file, and nobody can write there,
    so the file is opened ``immutable=1`` (no locks, no ``-shm``). That ignores a write-ahead
    log: when a non-empty ``-wal`` file holds changes not yet in the file, SQLite reads them
    through the ``-shm`` file beside it (no ``immutable``); without one they cannot be read
    consistently.

    Raises:
        StorageFileError: on a read-only file system, when a non-empty ``-wal`` file has no
            ``-shm`` file beside it, or a rollback journal holds an interrupted write.
    """
    uri = database.resolve().as_uri()
    journal, wal = (database.with_name(database.name + suffix) for suffix in ("-journal", "-wal"))
    interrupted = _has_content(journal, _JOURNAL_MAGIC)  # a commit removes or zeroes the header
    if not on_read_only_file_system(database.parent):
        return f"{uri}?mode={'rw' if interrupted else 'ro'}"
    if interrupted:
        pending = f"its rollback journal {str(journal)!r} holds an interrupted write to undo"
    elif not _has_content(wal):
        return f"{uri}?mode=ro&immutable=1"
    elif database.with_name(database.name + "-shm").is_file():
        return f"{uri}?mode=ro"
    else:
        pending = f"its write-ahead log {str(wal)!r} holds changes not yet in the file and has no '-shm' file beside it"
    raise StorageFileError(
        f"storage file {str(database)!r} cannot be read on this read-only file system: {pending}; "
        "copy the folder (with that file) to writable storage and read it there"
    )


#: The first bytes of a rollback journal's header while the write it records may be undone.
_JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")


#: What to do about a damaged SQLite file, in every message that reports one (opening it or mid-run).
DAMAGED_REMEDY = (
    "restore it from a backup, or move it away (with its -wal and -shm files) to start a new study"
)


def damaged_error(database: Path, exc: BaseException) -> StorageFileError | None:
    """The error for the SQLite file ``database`` when ``exc`` (a ``sqlite3`` error, or an
    error caused by one, such as SQLAlchemy's) says the file is damaged: a malformed database,
    or no database at all. None for any other error."""
    found = sqlite_error(exc)
    # sqlite3 raises plain DatabaseError for SQLITE_CORRUPT, SQLITE_NOTADB and codes that reading
    # never meets: a locked, missing or unreadable file is an OperationalError, a missing table too.
    if found is None or type(found) is not sqlite3.DatabaseError:
        return None
    return StorageFileError(
        f"storage file {str(database)!r} is damaged ({first_line(found)}); {DAMAGED_REMEDY}"
    )


def unreadable_error(database: Path, exc: BaseException) -> StorageFileError:
    """The error for the SQLite file ``database`` that exists but cannot be read because of
    ``exc``: :func:`damaged_error` when it is damaged, else one naming the cause."""
    damaged = damaged_error(database, exc)
    if damaged is not None:
        return damaged
    found = sqlite_error(exc) or exc
    return StorageFileError(
        f"storage file {str(database)!r} cannot be read ({first_line(found)}); check that the "
        "file and its folder can be read and that no other program holds it locked"
    )


def sqlite_error(exc: BaseException) -> sqlite3.Error | None:
    """The ``sqlite3`` error ``exc`` is or wraps (SQLAlchemy's ``orig``, or a cause), or None."""
    seen: BaseException | None = exc
    for _ in range(16):  # a bounded walk: a chain of causes may loop
        if seen is None:
            return None
        if isinstance(seen, sqlite3.Error):
            return seen
        orig = getattr(seen, "orig", None)
        seen = orig if isinstance(orig, BaseException) else seen.__cause__ or seen.__context__
    return None


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (a driver's message may add the SQL and links)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def on_read_only_file_system(folder: Path) -> bool:
    """True when ``folder`` is on a file system mounted read-only (nobody can write there)."""
    if not hasattr(os, "statvfs"):  # Windows: no such test; read as on a writable disk
        return False
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _has_content(path: Path, prefix: bytes = b"") -> bool:
    """True when the file ``path`` exists, is not empty and begins with ``prefix``."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(max(len(prefix), 1))
    except OSError:
        return False
    return bool(head) and head.startswith(prefix)
