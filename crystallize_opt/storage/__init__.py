"""Where studies live: opening Optuna storages from URLs, and keeping them consistent.

Internal package (no public names); the layer below ``coordination`` and ``optimize``. It
imports nothing from the other packages of crystallize-opt but the shared basics
(``exceptions``, ``_logging``, ``_signals``, ``_paths``).

- ``_open``: storage URLs to Optuna storages (SQLite by default, PostgreSQL, MySQL, Redis,
  journal files), with the retrying RDB wrapper and the trial counts;
- ``_files``: opening a study that must already exist (the read commands), checkpoints;
- ``_sqlite_read``: reading SQLite files without changing them (read-only, damaged files);
- ``_journal``: the journal file backend with its lock and torn-tail repair;
- ``_outage``: riding out a database that is down, and naming storage faults;
- ``_display``: storage URLs as shown to users (passwords hidden).
"""
