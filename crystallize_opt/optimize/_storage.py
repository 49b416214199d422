"""Storage URLs to Optuna storage objects, built once per optimizer."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy
from optuna.storages import BaseStorage, InMemoryStorage, RDBStorage

from ..exceptions import ConfigurationError

DEFAULT_STORAGE = "sqlite:///crystallize-studies.db"


def resolve_storage(storage: str | BaseStorage | None) -> BaseStorage:
    """Return the Optuna storage for ``storage``.

    ``None`` means :data:`DEFAULT_STORAGE` (SQLite in the working directory); ``":memory:"`` an
    in-memory storage; any other string an SQLAlchemy URL (``sqlite:///``, ``postgresql://``,
    ``mysql+pymysql://``); a storage object is used as it is.

    Raises:
        ConfigurationError: for another type, or a URL SQLAlchemy cannot use (the message names it).
    """
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
        if storage.startswith("sqlite:///") and storage != "sqlite:///:memory:":
            return sqlite_storage(storage)
        return RDBStorage(storage)
    except Exception as exc:  # SQLAlchemy raises several types for bad URLs and missing drivers
        raise ConfigurationError(
            f"storage {storage!r} cannot be opened: {type(exc).__name__}: {exc}"
        ) from exc


#: Seconds a SQLite writer waits for another process's lock before "database is locked".
SQLITE_BUSY_TIMEOUT = 60.0


def sqlite_storage(url: str) -> RDBStorage:
    """An RDBStorage on a SQLite file in write-ahead-log mode with ``synchronous=NORMAL``.

    WAL lets readers and one writer work at once, and NORMAL syncs to disk at checkpoints
    rather than at every commit, so a trial's few commits cost far less; the database stays
    consistent after a crash (at worst the last commits before a power loss are lost, and
    their trials are run again). The busy timeout makes concurrent writers wait instead of
    failing.
    """
    path = Path(url[len("sqlite:///") :])
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT) as connection:  # WAL mode persists in the file
        connection.execute("PRAGMA journal_mode=WAL")
    storage = RDBStorage(url, engine_kwargs={"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}})

    def configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    sqlalchemy.event.listen(storage.engine, "connect", configure)
    storage.engine.dispose()  # connections opened while Optuna created its tables lack the pragma
    return storage
