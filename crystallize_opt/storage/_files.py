"""The files a storage touches: opening a storage that exists to read it, creating nothing (no
directory, file, lock file or schema), and leaving a SQLite study complete in its ``.db`` file
once a run ends (its write-ahead log checkpointed into it)."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import sqlalchemy
from optuna.storages import BaseStorage, InMemoryStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalRedisBackend

from .._logging import get_logger
from .._optuna_compat import OPTUNA_TABLES
from ..exceptions import ConfigurationError
from ._display import display_storage
from ._journal import open_journal
from ._open import (
    REDIS_SCHEMES,
    SQLITE_BUSY_TIMEOUT,
    RetryingRDBStorage,
    cannot_open_error,
    journal_path,
    sqlite_file,
)
from ._sqlite_read import read_only_uri

_log = get_logger("storage")


def open_existing_storage(storage: str) -> BaseStorage:
    """Return the Optuna storage of URL ``storage`` (any URL :func:`resolve_storage` takes) for
    reading, creating nothing: no directory, file, lock file or database schema.

    A ``sqlite:///`` file is read through read-only connections: nothing is written to it,
    and a file on read-only media can be read.

    Raises:
        ConfigurationError: naming the storage (its password hidden) and the path, when a
            ``sqlite:///`` or ``journal:///`` file does not exist, a database holds no Optuna
            schema, or the storage cannot be opened (a damaged SQLite file: ``StorageFileError``).
    """
    if storage == ":memory:":
        return InMemoryStorage()
    shown = display_storage(storage)
    try:
        if storage.startswith("journal:"):
            path = journal_path(storage)
            if not path.is_file():
                raise ConfigurationError(f"storage {shown!r}: the journal file {str(path)!r} does not exist")
            return open_journal(path, create=False)
        if storage.startswith(REDIS_SCHEMES):
            return JournalStorage(JournalRedisBackend(storage))
        database = sqlite_file(storage)
        engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if database is not None:
            if not database.is_file():
                raise ConfigurationError(
                    f"storage {shown!r}: the database file {str(database)!r} does not exist"
                )
            # Read-only connections: no lock file, no journal-mode change, read-only media too.
            engine_kwargs = {"creator": _read_only_connector(database)}
        _check_optuna_schema(storage, engine_kwargs)
        # The schema is there: Optuna's set-up only reads it (skipping creation skips no check).
        opened = RetryingRDBStorage(storage, engine_kwargs=engine_kwargs, skip_table_creation=True)
        if database is not None:
            # Read the studies here, so that a file damaged where they are kept fails with the
            # message that says what to do (see cannot_open_error), not in the command.
            opened.get_all_studies()
        return opened
    except ConfigurationError:
        raise
    except Exception as exc:
        raise cannot_open_error(storage, exc) from exc


def _read_only_connector(database: Path) -> Callable[[], sqlite3.Connection]:
    """What makes the connections of a reading engine on ``database``: SQLite's read-only
    connections (see :func:`~._sqlite_read.read_only_uri`), with the busy timeout of writers.

    Raises:
        StorageFileError: see :func:`~._sqlite_read.read_only_uri`.
    """
    return functools.partial(
        sqlite3.connect,
        read_only_uri(database),
        uri=True,
        timeout=SQLITE_BUSY_TIMEOUT,
        check_same_thread=False,  # as SQLAlchemy's own for file databases: its pool shares them
    )


def _check_optuna_schema(url: str, engine_kwargs: dict[str, Any]) -> None:
    """Raise ConfigurationError unless the database at ``url`` has Optuna's tables
    (:data:`~.._optuna_compat.OPTUNA_TABLES`; Optuna's own set-up writes to a database without them)."""
    engine = sqlalchemy.create_engine(url, **engine_kwargs)
    try:
        tables = set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    missing = sorted(OPTUNA_TABLES - tables)
    if missing:
        raise ConfigurationError(
            f"storage {display_storage(url)!r} holds no Optuna studies (it lacks the tables {missing})"
        )


#: Seconds a checkpoint waits for other processes' transactions before leaving the log as it is.
CHECKPOINT_BUSY_TIMEOUT = 1.0


def checkpoint(storage: BaseStorage) -> bool:
    """Copy a SQLite storage's write-ahead log into the database file and truncate the log to
    zero bytes (``PRAGMA wal_checkpoint(TRUNCATE)``), so the ``.db`` file alone holds every
    trial: copied without its ``-wal`` file, it is the whole study. Other storages keep no such
    log: nothing to do.

    Never raises: when another process is writing or reading the database (other workers still
    running), the log is left for a later checkpoint (that process's own at the end of its run,
    or SQLite's automatic one) and this is logged.

    Returns:
        True when the database file is complete on its own (or the storage is not SQLite).
    """
    if not isinstance(storage, RDBStorage) or storage.engine.url.get_backend_name() != "sqlite":
        return True
    database = storage.engine.url.database
    if not database or database == ":memory:" or not Path(database).is_file():
        return True
    try:
        # A connection of its own with a short busy timeout, never a new file (mode=rw): the
        # storage's connections wait a minute for a lock, far too long for a courtesy.
        with closing(
            sqlite3.connect(
                f"{Path(database).resolve().as_uri()}?mode=rw", uri=True, timeout=CHECKPOINT_BUSY_TIMEOUT
            )
        ) as connection:
            busy, log_frames, moved = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.Error as exc:
        _log.info("write-ahead log of %s not checkpointed (%s); it stays beside the database", database, exc)
        return False
    if busy:
        _log.info(
            "write-ahead log of %s not checkpointed: another process is using the database "
            "(%d of %d pages copied); the last process to finish checkpoints it",
            database,
            moved,
            log_frames,
        )
        return False
    _log.debug("write-ahead log of %s checkpointed into the database file", database)
    return True
