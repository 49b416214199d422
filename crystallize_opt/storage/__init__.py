"""Where studies live: opening Optuna storages from URLs, and keeping them consistent.

Internal package: the names below are its interface to the other packages (not the user API,
which ``crystallize_opt`` exports; they may change between releases). It is the layer below ``coordination`` and ``optimize``. It
imports nothing from the other packages of crystallize-opt but the shared basics
(``exceptions``, ``_logging``, ``_signals``, ``_paths``).

- ``_open``: storage URLs to Optuna storages (SQLite by default, PostgreSQL, MySQL, Redis,
  journal files), with the retrying RDB wrapper and the trial counts;
- ``_files``: opening a study that must already exist (the read commands), checkpoints;
- ``_sqlite_read``: reading SQLite files without changing them (read-only, damaged files);
- ``_journal``: the journal file backend with its lock and torn-tail repair;
- ``_outage``: riding out a database that is down, and naming storage faults;
- ``_once``: creating, claiming and failing a trial once though retried after a lost commit answer;
- ``_display``: storage URLs as shown to users (passwords hidden).
"""

from ._display import DEFAULT_STORAGE, display_storage
from ._files import checkpoint, open_existing_storage
from ._journal import JournalFile, open_journal
from ._open import RetryingRDBStorage, count_states, fail_running_trial, finish_trial, resolve_storage
from ._outage import DEFAULT_OUTAGE_TIMEOUT, last_recovery, without_waiting
from ._sqlite_read import on_read_only_file_system, read_only_uri, unreadable_error

__all__ = [
    "DEFAULT_OUTAGE_TIMEOUT",
    "DEFAULT_STORAGE",
    "JournalFile",
    "RetryingRDBStorage",
    "checkpoint",
    "count_states",
    "display_storage",
    "fail_running_trial",
    "finish_trial",
    "last_recovery",
    "on_read_only_file_system",
    "open_existing_storage",
    "open_journal",
    "read_only_uri",
    "resolve_storage",
    "unreadable_error",
    "without_waiting",
]
