"""Storages: one transaction and one query where Optuna's public RDB API needs more, the calls
Optuna's cache makes, and which SQLite file holds a study."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial

# --- RDB storages: one transaction and one query where Optuna's public API needs more ----------


@dataclass(frozen=True)
class RDBInternals:
    """Optuna's private RDB storage pieces (Optuna 5.0 and 5.1).

    Attributes:
        models: ``optuna.storages._rdb.models`` (the SQLAlchemy models of the schema).
        session: ``optuna.storages._rdb.storage._create_scoped_session``: a context manager
            giving a session of a storage's ``scoped_session`` that commits on exit and rolls
            back (raising Optuna's ``StorageInternalError`` for SQLAlchemy errors) on an error.
    """

    models: Any
    session: Callable[..., contextlib.AbstractContextManager[Any]]

    def set_user_attr(self, storage: RDBStorage, session: Any, trial_id: int, key: str, value: Any) -> None:
        """Upsert a trial user attribute in ``session`` without committing
        (``RDBStorage._set_trial_attr_without_commit``)."""
        storage._set_trial_attr_without_commit(
            session, self.models.TrialUserAttributeModel, trial_id, key, value
        )

    def set_value(self, storage: RDBStorage, session: Any, trial: Any, objective: int, value: float) -> None:
        """Write objective ``objective``'s value of the trial model ``trial`` in ``session``
        without committing (``RDBStorage._set_trial_value_without_commit``)."""
        storage._set_trial_value_without_commit(session, trial, objective, value)

    def set_system_attr(self, storage: RDBStorage, session: Any, trial_id: int, key: str, value: Any) -> None:
        """Upsert a trial system attribute in ``session`` without committing (as :meth:`set_user_attr`)."""
        storage._set_trial_attr_without_commit(
            session, self.models.TrialSystemAttributeModel, trial_id, key, value
        )

    def add_trial(
        self, storage: RDBStorage, session: Any, study_id: int, template: FrozenTrial | None
    ) -> Any:
        """Add a new trial (RUNNING, or as ``template``) to the study in ``session``, numbered,
        without committing; returns its model (``RDBStorage._get_prepared_new_trial``). The caller
        locks the study row first, as Optuna does, so that two processes never share a number."""
        return storage._get_prepared_new_trial(study_id, template, session)


def rdb_internals() -> RDBInternals | None:
    """Optuna's private RDB pieces (:class:`RDBInternals`), or None where Optuna moved one.

    Fast path (Optuna 5.0 and 5.1): all found. Fallback (None): callers use public storage
    calls instead: a finished trial's record, values and state as separate commits, trials
    counted by reading them, a queued trial claimed by Optuna's own read-then-write, a trial
    created by Optuna's own create (which a retry after a connection lost at its commit can
    repeat, leaving the first trial RUNNING with no worker until the stale-trial check).
    """
    try:
        from optuna.storages._rdb import models
        from optuna.storages._rdb.models import (  # noqa: F401 - resolution only
            StudyModel,
            TrialModel,
            TrialSystemAttributeModel,
            TrialUserAttributeModel,
        )
        from optuna.storages._rdb.storage import _create_scoped_session
    except ImportError:
        return None
    if not all(hasattr(RDBStorage, name) for name in _RDB_METHODS):
        return None
    return RDBInternals(models=models, session=_create_scoped_session)


#: The private methods of :class:`RDBStorage` that :class:`RDBInternals` calls.
_RDB_METHODS = (
    "_set_trial_attr_without_commit",
    "_set_trial_value_without_commit",
    "_get_prepared_new_trial",
)


#: Private methods of :class:`RDBStorage` that Optuna's cache (``_CachedStorage``, Optuna 5.0 and
#: 5.1) calls on the storage it wraps instead of the public ones; a storage that wraps every
#: operation (to retry it) must wrap these too. Names a later Optuna lacks are skipped.
CACHED_STORAGE_CALLS = ("_get_trials", "_create_new_trial", "_set_trial_param", "_get_best_trial_id")


def cached_storage_calls() -> tuple[str, ...]:
    """The names of :data:`CACHED_STORAGE_CALLS` that this Optuna's :class:`RDBStorage` has
    (all of them on Optuna 5.0 and 5.1; none is needed where Optuna's cache no longer calls it)."""
    return tuple(name for name in CACHED_STORAGE_CALLS if hasattr(RDBStorage, name))


# --- SQLite files: which one holds a study -----------------------------------------------------

#: Tables every database of Optuna's RDB storage has (Optuna 5.0 and 5.1 name them so): a
#: database with any of them holds Optuna's schema; without one, Optuna's set-up writes it.
OPTUNA_TABLES = frozenset({"studies", "version_info", "alembic_version"})


class SchemaChanged(Exception):
    """A SQLite file holds Optuna's schema without the table ``studies`` (a later Optuna renamed it)."""


def sqlite_holds_study(connection: sqlite3.Connection, study_name: str) -> bool:
    """True when the SQLite database of ``connection`` holds an Optuna study named
    ``study_name``; False when it holds none, or no Optuna schema at all (a new file).

    Reads Optuna's ``studies`` table directly (Optuna 5.0 and 5.1 name it so), without loading
    a storage: the config asks this before choosing a file, and must create nothing.

    Raises:
        SchemaChanged: when the file has Optuna's schema but no ``studies`` table: never "no
            study here", which would start a new study beside the one the file holds.
        sqlite3.Error: when the file cannot be read (damaged, locked, unreadable).
    """
    try:
        found = connection.execute("SELECT 1 FROM studies WHERE study_name = ?", (study_name,)).fetchone()
    except sqlite3.OperationalError as exc:
        if not str(exc).startswith("no such table"):
            raise
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables & OPTUNA_TABLES:
            raise SchemaChanged(
                f"it holds Optuna's tables {sorted(tables & OPTUNA_TABLES)} but no 'studies' table "
                f"(optuna {optuna.__version__} cannot read its layout)"
            ) from exc
        return False
    return found is not None


def sqlite_file_holds_study(uri: str, study_name: str, timeout: float) -> bool:
    """:func:`sqlite_holds_study` on the SQLite file of ``uri`` (a ``file:`` URI, opened with
    ``uri=True``, read-only where the URI says so), waiting up to ``timeout`` s for a lock."""
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=timeout)) as connection:
        return sqlite_holds_study(connection, study_name)
