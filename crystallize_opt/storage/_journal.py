"""Journal files (``journal:///study.log``) that survive faults.

Optuna's :class:`~optuna.storages.journal.JournalFileBackend` has three weak spots this backend
replaces while writing the same file format, so plain Optuna still reads (and writes) it:

* a record cut short (a full disk, a killed process) stays at the end of the file; the next
  write is glued to it, and from then on every reader fails with ``JSONDecodeError``. Here a
  write that fails is undone, and a writer that finds a cut-short tail (while it holds the
  lock, so no writer is mid-append) completes it if it is a whole record, else moves it to
  ``<file>.torn-<time>``, saying so;
* its lock is a symlink ``<file>.lock`` that a killed process leaves behind, with an absolute
  target that dangles once the folder is moved, and then ``acquire`` spins forever at full
  CPU. Here the lock is ``flock`` on the journal file itself, which the OS releases when its
  holder dies (journal files are for processes on one machine). The symlink is still taken
  under it, so plain Optuna writers stay excluded, but one left by a dead process is removed;
* a bad line is reported without the file or the line. Here it is one line naming both and
  saying what to do (nothing is dropped: a bad line before the end is damage, not a torn write).

Every wait for a lock polls, so a signal ends it: a plain one at once, and one held back by
:func:`~crystallize_opt._signals.deferred_signals` at the next poll.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from optuna.storages import JournalStorage
from optuna.storages.journal import BaseJournalBackend

from .._logging import get_logger
from .._signals import termination_pending
from ..exceptions import CrystallizeError, JournalFileError

_log = get_logger("storage")

#: Seconds a lock symlink that may belong to a plain Optuna writer (its target is this file,
#: or relative) may stay unchanged while this process holds the flock before it counts as left
#: by a dead process: a live writer holds it for one append, milliseconds.
STALE_SYMLINK_GRACE = 5.0
#: Seconds between the log lines of a process still waiting for a journal's lock.
LOCK_WARN_INTERVAL = 10.0
#: The longest pause between two attempts to take a lock (a held-back signal is seen this fast).
_MAX_POLL = 0.05


class JournalLockInterrupted(CrystallizeError):
    """A wait for a journal's lock was given up because SIGINT or SIGTERM arrived while it was
    held back (the held signal is raised right after, ending the run)."""


class JournalFile(BaseJournalBackend):
    """Optuna's journal file format with a lock the OS releases when its holder dies, writes
    that leave no partial record, and one-line errors naming the file and line.

    Args:
        path: the journal file.
        create: create the file when it is missing (else it must exist).
        symlink_grace: see :data:`STALE_SYMLINK_GRACE`.

    Raises:
        FileNotFoundError: without ``create``, when the file does not exist.
    """

    def __init__(
        self, path: str | Path, *, create: bool = True, symlink_grace: float = STALE_SYMLINK_GRACE
    ) -> None:
        self.path = Path(path)
        self.symlink_grace = symlink_grace
        if create:
            self.path.touch(exist_ok=True)
        elif not self.path.is_file():
            raise FileNotFoundError(errno.ENOENT, "journal file does not exist", str(self.path))
        # The furthest whole line read so far: (its log number + 1, the byte offset after it).
        self._read_up_to = (0, 0)

    def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
        """Yield the records from number ``log_number_from`` on (a record is a line).

        A last line without its newline is left out: a writer may be finishing it, or it is a
        torn tail that the next write mends.

        Raises:
            JournalFileError: for a whole line that is no JSON object.
        """
        number, offset = self._read_up_to if log_number_from >= self._read_up_to[0] else (0, 0)
        with open(self.path, "rb") as handle:
            end = os.fstat(handle.fileno()).st_size  # lines written meanwhile wait for the next read
            handle.seek(offset)
            for line in handle:
                if offset + len(line) > end or not line.endswith(b"\n"):
                    break
                offset += len(line)
                number += 1
                record = _record(line, self.path, number) if number > log_number_from else None
                self._read_up_to = max(self._read_up_to, (number, offset))
                if record is not None:
                    yield record

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """Append ``logs`` as lines, under the journal's lock, and sync them to disk.

        A torn tail left by an earlier writer is mended first (see :func:`_mend_tail`). When the
        write fails (a full disk), the file is cut back to what it was, so no partial record
        stays behind.

        Raises:
            OSError: when the write fails (the message names the file; the file is unchanged).
            JournalLockInterrupted: see :func:`journal_lock`.
        """
        data = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode()
        with journal_lock(self.path, symlink_grace=self.symlink_grace) as reader:
            size = _mend_tail(self.path, reader)
            writer = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            try:
                try:
                    _write_all(writer, data)
                except OSError as exc:
                    # Not yet whole, the record is invisible to readers (no newline): take it back.
                    try:
                        os.ftruncate(writer, size)
                        state = "the file is as it was"
                    except OSError:
                        state = "a partial record may remain: the next write moves it aside"
                    raise OSError(
                        exc.errno,
                        f"{exc.strerror}: writing to the journal file {str(self.path)!r} "
                        f"(the record was not written; {state})",
                    ) from exc
                os.fsync(writer)
            finally:
                os.close(writer)

    def mend(self) -> None:
        """Mend a torn tail now (as the next write would), under the lock."""
        with journal_lock(self.path, symlink_grace=self.symlink_grace) as reader:
            _mend_tail(self.path, reader)


def open_journal(path: str | Path, *, create: bool) -> JournalStorage:
    """Optuna's journal storage on the file ``path`` through :class:`JournalFile`.

    With ``create`` (a run that writes), the file is made when missing and a torn tail is
    mended at once, under the lock; without it (reading), nothing is written: a torn tail is
    left out and a warning says so.

    Raises:
        FileNotFoundError: without ``create``, when the file does not exist.
        JournalFileError: when a line of the file is no journal record.
        JournalLockInterrupted: see :func:`journal_lock`.
    """
    backend = JournalFile(path, create=create)
    if create:
        backend.mend()
    else:
        _warn_of_torn_tail(backend.path)
    return JournalStorage(backend)


def _record(line: bytes, path: Path, number: int) -> dict[str, Any]:
    """The record on line ``number`` of ``path``, or JournalFileError."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        detail = f"{exc.msg} at column {exc.colno}"
    except ValueError:  # UnicodeDecodeError: bytes that are no text
        detail = "bytes that are not UTF-8 text"
    else:
        if isinstance(record, dict) and "op_code" in record:
            return record
        detail = f"a JSON {type(record).__name__} without 'op_code'"
    glued = line.rfind(b'{"op_code"')
    hint = (
        f"it looks like a record cut short with the next one glued to it: keep the line from "
        f"column {glued + 1} on"
        if glued > 0 and _parses(line[glued:])
        else "restore the file from a backup, or delete that line (what it recorded is lost)"
    )
    raise JournalFileError(
        f"journal file {str(path)!r}, line {number}: not a journal record ({detail}); the file is "
        f"damaged there (nothing was changed): {hint}"
    )


def _parses(data: bytes) -> bool:
    try:
        return isinstance(json.loads(data), dict)
    except ValueError:
        return False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _tail(fd: int, size: int) -> bytes:
    """The bytes after the last newline of the first ``size`` bytes of ``fd``."""
    chunk, start = 4096, size
    while start > 0:
        start = max(0, start - chunk)
        block = os.pread(fd, size - start, start)
        cut = block.rfind(b"\n")
        if cut >= 0:
            return block[cut + 1 :]
        chunk *= 2
    return os.pread(fd, size, 0)


def _mend_tail(path: Path, fd: int) -> int:
    """Make the file end with a newline; return its size. Call only while holding the lock: a
    last line without its newline is then no write in progress but one cut short.

    A tail that is a whole record (only its newline missing) gets its newline; anything else is
    copied to ``<file>.torn-<UTC time>`` and cut off. Either is logged as a warning.
    """
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    tail = _tail(fd, size)
    if _parses(tail):
        with open(path, "ab") as handle:
            handle.write(b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        _log.warning(
            "journal file %s ended with a whole record without its newline (a write cut short); "
            "the newline was added and the record kept",
            path,
        )
        return size + 1
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    aside = path.with_name(f"{path.name}.torn-{stamp}")
    try:
        aside.write_bytes(tail)
        kept = f"kept in {aside}"
    except OSError as exc:  # e.g. the disk is still full: the bytes are a fragment, shown here
        kept = f"not kept ({exc.strerror}); they began {tail[:80]!r}"
    os.truncate(path, size - len(tail))
    _log.warning(
        "journal file %s ended with an incomplete record of %d bytes (a write cut short by a full "
        "disk or a killed process); it was removed, every whole record before it is intact; "
        "the removed bytes were %s",
        path,
        len(tail),
        kept,
    )
    return size - len(tail)


def _warn_of_torn_tail(path: Path) -> None:
    """Warn when the file ends with a torn record and no writer of this package is mid-append."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0 or os.pread(handle.fileno(), 1, size - 1) == b"\n":
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:  # a writer holds the lock: the line is being written
            return
        tail = _tail(handle.fileno(), size)
    _log.warning(
        "journal file %s ends with %d bytes without a newline (a write cut short); they are left "
        "out, and the next run that writes to the study mends the file",
        path,
        len(tail),
    )


@contextmanager
def journal_lock(path: Path, *, symlink_grace: float = STALE_SYMLINK_GRACE) -> Iterator[int]:
    """Hold the journal's lock while the block runs; yields a read-only descriptor of the file.

    The lock is ``flock`` on the file (released by the OS when the holder dies) plus Optuna's
    symlink ``<file>.lock`` (so plain Optuna writers wait too). A symlink whose absolute target
    is not this file (left in a folder that was moved or copied) is removed at once; any other
    that stays unchanged for ``symlink_grace`` seconds while the flock is held is removed too
    (its owner died). Each removal is logged as a warning.

    Raises:
        JournalLockInterrupted: when SIGINT or SIGTERM arrives, held back, during the wait
            (a signal that is not held back interrupts the wait as it would anything else).
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _wait(lambda: _try_flock(fd), path)
        symlink = _Symlink(path, symlink_grace)
        _wait(symlink.take, path)
        try:
            yield fd
        finally:
            symlink.release()
    finally:
        os.close(fd)  # releases the flock


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:  # a file system without flock: Optuna's symlink alone guards the file
        if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            raise
        _log.debug("flock is not supported for the journal file (%s); using the lock symlink alone", exc)
    return True


def _wait(attempt: Callable[[], bool], path: Path) -> None:
    """Call ``attempt`` until it returns True, pausing between calls (never busy-waiting)."""
    started = last_note = time.monotonic()
    pause = 0.001
    while not attempt():
        if termination_pending():
            raise JournalLockInterrupted(
                f"gave up waiting for the lock of the journal file {path}: interrupted"
            )
        if pause == 0.001:
            _log.debug("waiting for the lock of the journal file %s", path)
        now = time.monotonic()
        if now - last_note >= LOCK_WARN_INTERVAL:
            _log.warning(
                "still waiting for the lock of the journal file %s after %.0f s", path, now - started
            )
            last_note = now
        time.sleep(pause)
        pause = min(pause * 2, _MAX_POLL)


class _Symlink:
    """Optuna's lock symlink ``<file>.lock``, taken while the flock is held."""

    def __init__(self, path: Path, grace: float) -> None:
        self.path = path
        self.lock = path.with_name(path.name + ".lock")
        self.grace = grace
        self._seen: tuple[int, int] | None = None
        self._since = 0.0

    def take(self) -> bool:
        """One attempt: True when the symlink is now this process's."""
        try:
            os.symlink(os.path.abspath(self.path), self.lock)
            return True
        except FileExistsError:
            pass
        try:
            found = os.lstat(self.lock)
        except FileNotFoundError:  # released meanwhile
            return False
        if self._points_elsewhere():
            self._remove("it points to another file (left in a study folder that was moved or copied)")
            return False
        now = time.monotonic()
        if self._seen != (found.st_ino, found.st_mtime_ns):
            self._seen, self._since = (found.st_ino, found.st_mtime_ns), now
        elif now - self._since >= self.grace:
            self._remove(f"it stayed for {self.grace:g} s while nobody wrote (left by a process that died)")
        return False

    def release(self) -> None:
        with suppress(FileNotFoundError):
            os.unlink(self.lock)

    def _points_elsewhere(self) -> bool:
        """True for a symlink whose absolute target is not this journal file (or dangles)."""
        try:
            target = os.readlink(self.lock)
        except OSError:  # a plain file (Optuna's open lock): its owner cannot be told
            return False
        if not os.path.isabs(target):  # plain Optuna given a relative path: cannot be told
            return False
        try:
            return not os.path.samefile(target, self.path)
        except OSError:  # dangling
            return True

    def _remove(self, why: str) -> None:
        with suppress(FileNotFoundError):
            os.unlink(self.lock)
        _log.warning("removed the stale lock %s of the journal file: %s", self.lock, why)
        self._seen = None
