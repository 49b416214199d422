"""Riding out database outages: what a failed storage operation means, waiting for a database
that is unreachable or locked, and failing at once, in plain words, when waiting cannot help.

Optuna wraps a driver's error in ``StorageInternalError`` ("An exception is raised during the
commit. This typically happens due to invalid data in the commit, e.g. exceeding max length."),
whatever it was; :func:`classify` reads the chain of causes underneath. A database that stopped
answering (a restart, a failover, a network cut) or a SQLite file locked by another process is
waited out by :class:`OutageWatch`, for up to ``outage_timeout`` seconds from the first failure,
with one warning when the wait starts and one when the database is back. A full disk or a
damaged file fails at once: waiting would not help. Both end in a one-line
:class:`~crystallize_opt.StorageError`.
"""

from __future__ import annotations

import enum
import errno
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy
from optuna.exceptions import StorageInternalError

from .._checks import refuse, seconds_expected
from .._logging import get_logger
from .._signals import termination_pending
from ..exceptions import StorageError
from ._display import display_storage, redact
from ._sqlite_read import DAMAGED_REMEDY

_log = get_logger("storage")
T = TypeVar("T")

#: Seconds a storage operation waits, from its first failure, for an unreachable or locked database.
DEFAULT_OUTAGE_TIMEOUT = 600.0
#: Seconds opening a server database keeps trying before it reports that it cannot be reached:
#: a database that is down when a run starts is most likely a wrong URL or a server not started.
OPEN_TIMEOUT = 15.0
#: Seconds one attempt to connect to a database server may take (a server that never answers,
#: e.g. behind a firewall that drops packets, would otherwise hold an attempt for minutes).
CONNECT_TIMEOUT = 10
#: The first wait between attempts; it doubles after each failed attempt up to :data:`MAX_DELAY`.
FIRST_DELAY = 0.1
MAX_DELAY = 5.0
#: A wait looks this often (seconds) for a Ctrl+C or SIGTERM held back while a trial is stored.
_SLICE = 0.05


class Fault(enum.Enum):
    """What a failed storage operation means."""

    UNREACHABLE = "unreachable"  # the server is down, restarting or cut off: wait
    LOCKED = "locked"  # another process holds SQLite's lock for longer than its busy timeout: wait
    DISK_FULL = "disk full"  # fail at once
    DAMAGED = "damaged"  # fail at once
    OTHER = "other"  # not a storage fault (a bug, a constraint): raised as it is

    @property
    def waitable(self) -> bool:
        return self in (Fault.UNREACHABLE, Fault.LOCKED)


# Lower-case fragments of drivers' messages (psycopg, psycopg2, PyMySQL, mysqlclient, SQLite).
_DISK_FULL = ("database or disk is full", "no space left on device", "disk full", "' is full")
_DAMAGED = ("malformed", "file is not a database", "database corruption")
_LOCKED = ("database is locked", "database table is locked")
_UNREACHABLE = (
    "connection refused",
    "connection reset",
    "connection timed out",
    "timeout expired",
    "server closed the connection",
    "terminating connection",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "could not connect",
    "can't connect",
    "lost connection",
    "server has gone away",
    "connection is closed",
    "connection already closed",
    "consuming input failed",
    "broken pipe",
    "no route to host",
    "network is unreachable",
    "could not translate host name",
    "temporary failure in name resolution",
)
#: A server that answers but refuses (a wrong password, a database that does not exist): waiting
#: would not help, even though drivers raise these as OperationalError like a lost connection.
_REFUSED = (
    "authentication failed",
    "access denied",
    "no pg_hba.conf entry",
    "does not exist",
    "unknown database",
)
#: SQLAlchemy's own signs of a dead connection.
_DISCONNECTED = (
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.InterfaceError,  # a driver used a connection the server already closed
    sqlalchemy.exc.PendingRollbackError,  # a session whose connection died mid-transaction
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify(exc: BaseException) -> Fault:
    """What the failed storage operation that raised ``exc`` means, read from ``exc`` and its
    causes: a full disk or a damaged file first (their errors may also look like a lost
    connection), then a locked SQLite file, then a server that refuses (a wrong password: other),
    then an unreachable database. On a server database (not SQLite) any other
    ``OperationalError`` counts as unreachable too, as SQLAlchemy's own disconnect checks do not
    know every driver's wording."""
    chain = list(_chain(exc))
    # The driver's own words: SQLAlchemy's text adds the statement and its parameters (values
    # such as a trial's stored failure message), and Optuna's is always the same.
    texts = [
        str(item).lower()
        for item in chain
        if not isinstance(item, (sqlalchemy.exc.StatementError, StorageInternalError))
    ]
    if any(isinstance(item, OSError) and item.errno == errno.ENOSPC for item in chain) or any(
        marker in text for text in texts for marker in _DISK_FULL
    ):
        return Fault.DISK_FULL
    if any(marker in text for text in texts for marker in _DAMAGED):
        return Fault.DAMAGED
    if any(marker in text for text in texts for marker in _LOCKED):
        return Fault.LOCKED
    if any(marker in text for text in texts for marker in _REFUSED):
        return Fault.OTHER
    if any(
        isinstance(item, _DISCONNECTED)
        or (isinstance(item, sqlalchemy.exc.DBAPIError) and item.connection_invalidated)
        or isinstance(item, (ConnectionError, TimeoutError))
        for item in chain
    ) or any(marker in text for text in texts for marker in _UNREACHABLE):
        return Fault.UNREACHABLE
    import sqlite3

    on_server = not any(isinstance(item, sqlite3.Error) for item in chain)
    if on_server and any(isinstance(item, sqlalchemy.exc.OperationalError) for item in chain):
        return Fault.UNREACHABLE
    return Fault.OTHER


def cause_text(exc: BaseException, storage: object) -> str:
    """The database's own words for ``exc``: the first line of the driver's error (not Optuna's
    misleading wrapper, nor SQLAlchemy's decorations), at most 200 characters, with the storage
    URL's password hidden."""
    cause: BaseException = exc
    for item in _chain(exc):
        if isinstance(item, sqlalchemy.exc.DBAPIError) and item.orig is not None:
            cause = item.orig
            break
        if not isinstance(item, (StorageInternalError, sqlalchemy.exc.SQLAlchemyError)):
            cause = item
            break
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    text = lines[0] if lines else type(cause).__name__
    return redact(text[:200], storage)


def check_outage_timeout(value: object, name: str = "outage_timeout") -> float:
    """``value`` as seconds to wait for an unreachable database.

    Raises:
        ConfigurationError: unless it is a positive, finite number (booleans are not numbers).
    """
    return float(refuse(name, seconds_expected(value), value))


def with_connect_timeout(url: str, engine_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """``engine_kwargs`` for the database at ``url``, with a :data:`CONNECT_TIMEOUT` for drivers
    that take one as ``connect_timeout`` (psycopg, psycopg2, PyMySQL, mysqlclient), unless the
    URL or ``engine_kwargs`` already set it. Other URLs get ``engine_kwargs`` as they are."""
    kwargs = dict(engine_kwargs or {})
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except Exception:  # not a URL SQLAlchemy parses: opening it reports that
        return kwargs
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    takes_it = (backend == "postgresql" and driver in ("psycopg", "psycopg2")) or (
        backend in ("mysql", "mariadb") and driver in ("pymysql", "mysqldb")
    )
    connect_args = dict(kwargs.get("connect_args") or {})
    if takes_it and "connect_timeout" not in parsed.query and "connect_timeout" not in connect_args:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT
        kwargs["connect_args"] = connect_args
    return kwargs


def storage_error(
    fault: Fault, storage: object, exc: BaseException, *, waited: float | None = None
) -> StorageError:
    """The one-line error for ``fault`` of ``storage`` (caused by ``exc``): what happened, the
    database's words, and what to do. ``waited``: seconds waited before giving up (None: not
    waited)."""
    shown, cause = display_storage(storage), cause_text(exc, storage)
    url = storage if isinstance(storage, str) else getattr(storage, "url", "")
    if fault is Fault.DISK_FULL:
        return StorageError(
            f"storage {shown!r}: the disk is full ({cause}); free some space, then run the command "
            "again to resume (the stored trials are kept)"
        )
    if fault is Fault.DAMAGED:
        remedy = (
            DAMAGED_REMEDY
            if isinstance(url, str) and url.startswith("sqlite:")
            else "restore the database from a backup"
        )
        return StorageError(f"storage {shown!r} is damaged ({cause}); {remedy}")
    what = "stayed locked by another process" if fault is Fault.LOCKED else "is unreachable"
    if waited is None:
        return StorageError(f"storage {shown!r} {what} ({cause})")
    return StorageError(
        f"storage {shown!r} {what}: gave up after {waited:.0f} s ({cause}); run the command again "
        "once the database is back to resume (outage_timeout sets how long to wait)"
    )


_local = threading.local()
#: ``time.time()`` when this process last saw a storage come back after an outage (0: never).
_back_at = 0.0


@contextmanager
def without_waiting() -> Iterator[None]:
    """Storage operations of this thread fail at once, in the block, instead of waiting for an
    unreachable database (heartbeats: the next beat tries again anyway)."""
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1


def last_recovery() -> float:
    """Unix time at which a storage of this process last came back after an outage (0.0 when
    none did). Signs of life that other processes could not store during the outage were
    missed, not absent: the stale-trial and lease checks count silence from this moment."""
    return _back_at


class OutageWatch:
    """Runs a storage's operations and waits out outages of its database.

    A waitable failure (:attr:`Fault.waitable`) starts an outage: attempts with backoff (:data:`FIRST_DELAY` doubling to :data:`MAX_DELAY`, with jitter) until one
    succeeds or ``timeout`` seconds have passed since the first failure (:class:`StorageError`,
    "gave up"). A connection that dropped is usually replaced at the first retry, silently; when
    that fails too, one warning says that the database is unreachable and how long the watch
    waits, and one more when it is back, after how long (never a line per attempt). Once given
    up (or interrupted while waiting), the watch waits no more until an operation succeeds, so
    a failing run does not wait again to store its running trial as failed. While a Ctrl+C or
    SIGTERM is held back (a trial is being stored), the wait ends at once.
    """

    def __init__(self, storage: object, timeout: float = DEFAULT_OUTAGE_TIMEOUT):
        self.storage = storage
        self.timeout = timeout
        self._lock = threading.Lock()
        self._since: float | None = None  # monotonic time of the first failure of this outage
        self._delay = FIRST_DELAY
        self._gave_up = False
        self._gave_up_after: float | None = None  # seconds waited when it gave up (None: interrupted)
        self._warned: Fault | None = None  # the fault announced by the warning, once there was one

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (with its storage): the settings, not the outage in progress nor the lock."""
        return {"storage": self.storage, "timeout": self.timeout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["storage"], state["timeout"])  # type: ignore[misc]

    def run(self, operation: Callable[[], T]) -> T:
        """Return ``operation()``, waiting out an outage of the database.

        Raises:
            StorageError: for a full disk or a damaged file (at once), or a database still
                unreachable or locked after ``timeout`` seconds.
            KeyboardInterrupt, Terminated: when the process is stopped while waiting.
            Exception: whatever ``operation`` raised for other reasons, as it is.
        """
        while True:
            try:
                result = operation()
            except (sqlalchemy.exc.SQLAlchemyError, StorageInternalError) as exc:
                fault = classify(exc)
                if fault is Fault.OTHER:
                    raise
                if not fault.waitable:
                    raise storage_error(fault, self.storage, exc) from exc
                if getattr(_local, "depth", 0):
                    raise storage_error(fault, self.storage, exc) from exc
                if self._gave_up:
                    # Given up already (by this thread or another of this process): the same
                    # words, so that a process's threads and a run's workers report one outage.
                    raise storage_error(fault, self.storage, exc, waited=self._gave_up_after) from exc
                self._wait(fault, exc)
            else:
                if self._since is not None or self._gave_up:
                    self._recovered()
                return result

    def run_knowing_retries(self, operation: Callable[[bool], T]) -> T:
        """As :meth:`run`, calling ``operation(again)`` with ``again`` True on every attempt after
        the first: an operation whose commit may have landed before its connection dropped
        checks, on a retry, whether it did.

        Raises:
            As :meth:`run`.
        """
        attempts = 0

        def attempt() -> T:
            nonlocal attempts
            attempts += 1
            return operation(attempts > 1)

        return self.run(attempt)

    def _wait(self, fault: Fault, exc: BaseException) -> None:
        with self._lock:
            now = time.monotonic()
            if self._since is None:
                self._since, self._delay = now, FIRST_DELAY
                _log.debug(
                    "storage %r: %s; retrying", display_storage(self.storage), cause_text(exc, self.storage)
                )
            elif self._warned is None:
                self._warned = fault
                _log.warning(
                    "storage %r %s (%s); retrying for up to %g s",
                    display_storage(self.storage),
                    "is locked by another process" if fault is Fault.LOCKED else "is unreachable",
                    cause_text(exc, self.storage),
                    self.timeout,
                )
            waited = now - self._since
            left = self.timeout - waited
            if left <= 0:
                self._gave_up, self._gave_up_after = True, waited
                raise storage_error(fault, self.storage, exc, waited=waited) from exc
            delay = min(self._delay * random.uniform(0.75, 1.25), left)
            self._delay = min(2 * self._delay, MAX_DELAY)
        try:
            end = time.monotonic() + delay
            while (remaining := end - time.monotonic()) > 0:
                if termination_pending():
                    what = "is locked by another process" if fault is Fault.LOCKED else "is unreachable"
                    raise StorageError(
                        f"storage {display_storage(self.storage)!r} {what}: stopped waiting, "
                        f"interrupted ({cause_text(exc, self.storage)})"
                    ) from exc
                time.sleep(min(_SLICE, remaining))
        except BaseException:  # interrupted: storing the trial as failed must not wait again
            self._gave_up, self._gave_up_after = True, None
            raise

    def _recovered(self) -> None:
        global _back_at
        with self._lock:
            if self._warned is not None and self._since is not None:
                _log.warning(
                    "storage %r is %s again after %.1f s",
                    display_storage(self.storage),
                    "unlocked" if self._warned is Fault.LOCKED else "reachable",
                    time.monotonic() - self._since,
                )
            if self._since is not None:
                _back_at = time.time()
            self._since, self._delay, self._gave_up, self._warned = None, FIRST_DELAY, False, None
            self._gave_up_after = None
