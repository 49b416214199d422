"""Storage URLs to Optuna storage objects: SQLite made safe for several processes, server
databases that survive dropped connections (the storage class itself, which also finishes a
trial with its record in one transaction, is in :mod:`._rdb`), journal files and Redis."""

from __future__ import annotations

import fcntl
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy
from optuna.exceptions import StorageInternalError
from optuna.storages import BaseStorage, InMemoryStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalRedisBackend

from .._logging import get_logger
from .._paths import ensure_directory
from ..exceptions import ConfigurationError
from ._display import DEFAULT_STORAGE, display_storage, redact
from ._journal import open_journal
from ._outage import (
    DEFAULT_OUTAGE_TIMEOUT,
    FIRST_DELAY,
    MAX_DELAY,
    OPEN_TIMEOUT,
    Fault,
    cause_text,
    check_outage_timeout,
    classify,
)
from ._rdb import RetryingRDBStorage, count_states, fail_running_trial, finish_trial
from ._sqlite_read import damaged_error, first_line

_log = get_logger("storage")
F = TypeVar("F", bound=Callable[..., Any])

#: Seconds a SQLite writer waits for another process's lock before "database is locked".
SQLITE_BUSY_TIMEOUT = 60.0


def resolve_storage(
    storage: str | BaseStorage | None, *, outage_timeout: float = DEFAULT_OUTAGE_TIMEOUT
) -> BaseStorage:
    """Return the Optuna storage for ``storage``.

    * ``None``: :data:`DEFAULT_STORAGE` (a SQLite file in the working directory);
    * ``":memory:"``: an in-memory storage (one process only);
    * ``sqlite:///path``: SQLite in write-ahead-log mode with a busy timeout; creating the schema
      is serialized across processes by a lock file, so several workers can start on a fresh
      database at the same moment;
    * ``postgresql+psycopg://...``, ``mysql+pymysql://...`` (any SQLAlchemy URL): a server
      database; connections are checked before use, each attempt to connect gives up after
      ``CONNECT_TIMEOUT`` seconds (unless the URL sets ``connect_timeout``), and a server that
      cannot be reached within ``OPEN_TIMEOUT`` (15 s), or within ``outage_timeout`` when that
      is shorter, here is reported at once;
    * ``redis://host:port/db``: Optuna's journal storage on Redis;
    * ``journal:///relative/path.log`` or ``journal:////absolute/path.log``: Optuna's journal
      storage on a file (safe for processes on one machine), see :mod:`._journal`;
    * an Optuna storage object: used as it is.

    A missing directory of a ``sqlite:///`` or ``journal:///`` file is created, with a warning
    naming it (see :func:`open_existing_storage` to read without creating anything).

    Operations on a SQLite or server database wait out an outage: a database that stops
    answering, or a SQLite file locked by another process, is retried with backoff for up to
    ``outage_timeout`` seconds from the first failure (see :class:`._outage.OutageWatch`); a full
    disk or a damaged file fails at once, with a :class:`~crystallize_opt.StorageError`.

    Raises:
        ConfigurationError: for another type, a URL that cannot be opened, a file where a
            directory of the path belongs (the message names the URL, its password hidden), or
            an ``outage_timeout`` that is not a positive, finite number.
    """
    outage_timeout = check_outage_timeout(outage_timeout)
    if isinstance(storage, BaseStorage):
        return storage
    if storage is None:
        storage = DEFAULT_STORAGE
    if not isinstance(storage, str):
        raise ConfigurationError(
            f"storage must be a URL string or an Optuna storage, got {type(storage).__name__}"
        )
    if storage == ":memory:":
        return InMemoryStorage()
    try:
        if storage.startswith("journal:"):
            path = journal_path(storage)
            ensure_directory(path.parent, f"the storage {display_storage(storage)!r}")
            return open_journal(path, create=True)
        if storage.startswith(REDIS_SCHEMES):
            return JournalStorage(JournalRedisBackend(storage))
        database = (
            _sqlite_storage(storage)
            if sqlite_file(storage) is not None
            else _server_storage(storage, outage_timeout)
        )
        if isinstance(database, RetryingRDBStorage):
            database.outage.timeout = outage_timeout
        return database
    except ConfigurationError:
        raise
    except Exception as exc:  # SQLAlchemy and drivers raise many types for bad URLs
        raise cannot_open_error(storage, exc) from exc


#: URL schemes of Optuna's journal storage on Redis.
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def cannot_open_error(storage: str, exc: BaseException) -> ConfigurationError:
    """The error for a storage URL that could not be opened because of ``exc``: names the URL
    and quotes the first line of the cause (a driver's error, without the SQL and links that
    SQLAlchemy adds), the URL's password hidden in both. A damaged SQLite file gets
    :func:`~._sqlite_read.damaged_error`'s message, which says what to do."""
    database = sqlite_file(storage)
    damaged = None if database is None else damaged_error(database, exc)
    if damaged is not None:
        return damaged
    cause = getattr(exc, "orig", None)
    cause = cause if isinstance(cause, BaseException) else exc
    detail = redact(f"{type(cause).__name__}: {first_line(cause)}", storage)
    return ConfigurationError(f"storage {display_storage(storage)!r} cannot be opened: {detail}")


def journal_path(url: str) -> Path:
    """The file of a ``journal:///`` URL.

    Raises:
        ConfigurationError: for a malformed journal URL.
    """
    if not url.startswith("journal:///") or len(url) == len("journal:///"):
        raise ConfigurationError(
            f"storage {display_storage(url)!r}: a journal file is written 'journal:///relative/path.log' or "
            "'journal:////absolute/path.log' (like sqlite:/// URLs)"
        )
    return Path(url[len("journal:///") :])


def sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (None for other URLs and in-memory SQLite)."""
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return None
    return Path(url[len("sqlite:///") :].split("?", 1)[0])


def _server_storage(url: str, outage_timeout: float) -> RetryingRDBStorage:
    """A server database storage.

    Creating the schema is retried, since Optuna does not guard it against other processes
    creating it at the same moment (they collide on unique keys). A server that cannot be
    reached is tried again for up to :data:`OPEN_TIMEOUT` seconds (a restart takes a few), or
    ``outage_timeout`` seconds when that is shorter (a run that would not wait longer for an
    outage in its middle does not wait longer at its start), then reported: at the start of a
    run, an unreachable database is more likely a wrong URL or a server not started than an
    outage worth waiting minutes for.

    Raises:
        ConfigurationError: when the server stays unreachable (the message says so, names the
            URL with its password hidden and quotes the driver's error).
    """
    started = time.monotonic()
    schema_deadline = started + OPEN_TIMEOUT
    reach_deadline = started + min(OPEN_TIMEOUT, outage_timeout)
    delay = FIRST_DELAY
    while True:
        try:
            return RetryingRDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except (
            sqlalchemy.exc.IntegrityError,
            sqlalchemy.exc.ProgrammingError,
            sqlalchemy.exc.InternalError,
        ) as exc:
            if time.monotonic() > schema_deadline:
                raise
            _log.info("storage schema is being created by another process (%s); retrying", type(exc).__name__)
            deadline = schema_deadline
        except (sqlalchemy.exc.SQLAlchemyError, StorageInternalError) as exc:
            if classify(exc) is not Fault.UNREACHABLE:
                raise
            if time.monotonic() > reach_deadline:
                raise ConfigurationError(
                    f"storage {display_storage(url)!r} cannot be opened: the database server is unreachable "
                    f"({cause_text(exc, url)}); check that it runs and that the URL names the right host and port"
                ) from exc
            deadline = reach_deadline
        # The last wait ends at the deadline (the backoff would pass it by up to MAX_DELAY), so
        # that one more attempt is made there and the report comes when it was promised.
        wait = delay * (0.5 + random.random())
        time.sleep(min(wait, max(deadline - time.monotonic(), 0.0)))
        delay = min(2 * delay, MAX_DELAY)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sqlite_storage(url: str) -> RDBStorage:
    """SQLite in WAL mode with ``synchronous=NORMAL`` and a busy timeout.

    WAL lets readers and one writer work at once, and NORMAL syncs at checkpoints rather than at
    every commit, so a trial's few commits cost far less; the file stays consistent after a
    crash (a power loss may lose the last commits, whose trials then run again). Optuna creates
    its schema without guarding against other processes doing the same (four workers starting
    on a fresh file crash on it), so that step holds an exclusive lock file.
    """
    path = sqlite_file(url)
    assert path is not None
    ensure_directory(path.parent, f"the storage {display_storage(url)!r}")
    with _file_lock(path.with_name(path.name + ".lock")):
        # WAL persists in the file. Closed at once: ``with`` on a connection only commits, and the
        # file stayed open until the garbage collector found it.
        with closing(sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
        storage = RetryingRDBStorage(url, engine_kwargs={"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}})

    def configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    sqlalchemy.event.listen(storage.engine, "connect", configure)
    storage.engine.dispose()  # connections opened while the schema was made lack the pragma
    return storage


__all__ = ["RetryingRDBStorage", "count_states", "fail_running_trial", "finish_trial", "resolve_storage"]
