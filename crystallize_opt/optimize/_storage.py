"""Storage URLs to Optuna storage objects, built once per optimizer."""

from __future__ import annotations

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
        raise ConfigurationError(f"storage must be a URL string or an Optuna storage, got {type(storage).__name__}")
    if storage == ":memory:":
        return InMemoryStorage()
    try:
        return RDBStorage(storage)
    except Exception as exc:  # SQLAlchemy raises several types for bad URLs and missing drivers
        raise ConfigurationError(f"storage {storage!r} cannot be opened: {type(exc).__name__}: {exc}") from exc
