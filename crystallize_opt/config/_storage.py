"""Where a study folder keeps its study: ``study.db`` (SQLite) or ``study.log`` (a journal file),
read without creating either (see :meth:`OptimizeConfig.storage_for`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .._optuna_compat import SchemaChanged, sqlite_file_holds_study
from ..exceptions import StorageFileError
from ..storage import read_only_uri, unreadable_error

#: The default storages of a study folder: see :meth:`OptimizeConfig.storage_for`.
DATABASE_FILE = "study.db"
JOURNAL_FILE = "study.log"
#: Seconds a read of ``study.db`` waits for a writer (another run) to let go.
SQLITE_READ_TIMEOUT = 10.0


def sqlite_holds(database: Path, study_name: str) -> bool:
    """True when the SQLite file exists and holds an Optuna study named ``study_name``; False
    when it is missing, empty or holds no Optuna schema yet.

    Read-only, so asking never creates the file (an empty one would then count as used).

    Raises:
        StorageFileError: when the file exists but cannot be read (damaged, locked, unreadable):
            never "no study here", which would start a new study beside the one it holds.
    """
    if not database.is_file():
        return False
    try:
        return sqlite_file_holds_study(read_only_uri(database), study_name, SQLITE_READ_TIMEOUT)
    except SchemaChanged as exc:
        raise StorageFileError(f"storage file {str(database)!r} cannot be read: {exc}") from exc
    except sqlite3.Error as exc:
        raise unreadable_error(database, exc) from exc


def journal_holds(journal: Path, study_name: str) -> bool:
    """True when the journal file exists and holds a study named ``study_name``.

    Raises:
        JournalFileError: when a line of the file is no journal record (never "no study here").
    """
    if not journal.is_file():
        return False
    from ..storage import open_journal

    storage = open_journal(journal, create=False)
    return any(study.study_name == study_name for study in storage.get_all_studies())
