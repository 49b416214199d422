"""Where cached step results live: a bounded in-memory LRU per process and a bounded folder on
disk shared by processes (:class:`StepCache`)."""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from .._logging import get_logger

_log = get_logger("cache")

#: Environment variables read by :meth:`StepCache.from_environment`.
CACHE_DIR_ENV = "CRYSTALLIZE_CACHE_DIR"
MEMORY_BYTES_ENV = "CRYSTALLIZE_CACHE_MEMORY_BYTES"
DISK_BYTES_ENV = "CRYSTALLIZE_CACHE_DISK_BYTES"
DEFAULT_DIRECTORY = ".cache"
DEFAULT_MEMORY_BYTES = 256 * 2**20
DEFAULT_DISK_BYTES = 2 * 2**30
_MAGIC = b"crystallize-opt step cache 1\n"
_SUFFIX = ".pkl"


class StepCache:
    """The results of cacheable steps: a memory cache per process and, optionally, a folder.

    Entries are pickled bytes under a hex key. The memory cache keeps at most ``memory_bytes``
    of them and drops the least recently used first; an entry larger than that is kept on disk
    only. The folder (``directory``; None: memory only) keeps at most ``disk_bytes``; when a
    write takes it past that, the least recently used files (by modification time, which a hit
    refreshes) are deleted until it fits. Files are written atomically (a temporary file
    renamed into place), so processes sharing the folder never read half an entry; a file that
    cannot be read back (truncated, damaged, written by something else) counts as a miss, is
    logged as a warning and deleted. Only point ``directory`` at a folder you trust: entries
    are unpickled.

    Thread-safe. ``hits`` and ``misses`` count :meth:`get` answers since creation or
    :meth:`clear`.

    Raises:
        ValueError: when a bound is negative.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        disk_bytes: int = DEFAULT_DISK_BYTES,
    ) -> None:
        if memory_bytes < 0 or disk_bytes < 0:
            raise ValueError(f"cache bounds must be >= 0, got memory {memory_bytes}, disk {disk_bytes}")
        self.directory = None if directory is None else Path(directory)
        self.memory_bytes = memory_bytes
        self.disk_bytes = disk_bytes
        self.hits = 0
        self.misses = 0
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._memory_used = 0
        self._disk_used: int | None = None  # this process's estimate; None until first scanned
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls) -> StepCache:
        """Return the cache the environment describes: folder ``$CRYSTALLIZE_CACHE_DIR``
        (default ``.cache`` in the working directory; an empty value keeps results in memory
        only), bounds ``$CRYSTALLIZE_CACHE_MEMORY_BYTES`` (default 256 MiB) and
        ``$CRYSTALLIZE_CACHE_DISK_BYTES`` (default 2 GiB).

        Raises:
            ValueError: when a bound is not a non-negative integer (the variable is named).
        """
        directory = os.environ.get(CACHE_DIR_ENV, DEFAULT_DIRECTORY)
        return cls(
            Path(directory).absolute() if directory else None,
            memory_bytes=_env_int(MEMORY_BYTES_ENV, DEFAULT_MEMORY_BYTES),
            disk_bytes=_env_int(DISK_BYTES_ENV, DEFAULT_DISK_BYTES),
        )

    def get(self, key: str) -> bytes | None:
        """Return the entry stored under ``key`` (memory first, then disk), or None."""
        with self._lock:
            data = self._memory.get(key)
            if data is not None:
                self._memory.move_to_end(key)
                self.hits += 1
                return data
        data = self._read_file(key) if self.directory is not None else None
        with self._lock:
            if data is None:
                self.misses += 1
                return None
            self.hits += 1
            self._remember(key, data)
        return data

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` in memory and on disk, evicting beyond the bounds."""
        with self._lock:
            self._remember(key, data)
        if self.directory is not None:
            self._write_file(key, data)

    def clear(self) -> None:
        """Forget every entry in memory and delete the folder's entries; reset the counts."""
        with self._lock:
            self._memory.clear()
            self._memory_used = 0
            self.hits = self.misses = 0
            self._disk_used = 0
        for path in self._files():
            path.unlink(missing_ok=True)

    def _remember(self, key: str, data: bytes) -> None:
        old = self._memory.pop(key, None)
        if old is not None:
            self._memory_used -= len(old)
        if len(data) > self.memory_bytes:
            return
        self._memory[key] = data
        self._memory_used += len(data)
        while self._memory_used > self.memory_bytes:
            _, dropped = self._memory.popitem(last=False)
            self._memory_used -= len(dropped)

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}{_SUFFIX}"

    def _files(self) -> list[Path]:
        if self.directory is None or not self.directory.is_dir():
            return []
        return [p for p in self.directory.glob(f"??/*{_SUFFIX}") if p.is_file()]

    def _read_file(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            _log.warning("step cache: cannot read %s (%s); running the step", path, exc)
            return None
        if not raw.startswith(_MAGIC):
            _log.warning("step cache: %s is damaged or not a cache entry; deleted, running the step", path)
            path.unlink(missing_ok=True)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used: evicted last
        return raw[len(_MAGIC) :]

    def _write_file(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if len(data) + len(_MAGIC) > self.disk_bytes:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(_MAGIC)
                    handle.write(data)
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            _log.warning("step cache: cannot write %s (%s); the result is kept in memory only", path, exc)
            return
        with self._lock:
            if self._disk_used is not None:
                self._disk_used += len(data) + len(_MAGIC)
            over = self._disk_used is None or self._disk_used > self.disk_bytes
        if over:
            self._evict_files()

    def _evict_files(self) -> None:
        entries = []
        for path in self._files():
            try:
                stat = path.stat()
            except OSError:
                continue
            entries.append((stat.st_mtime_ns, stat.st_size, path))
        used = sum(size for _, size, _ in entries)
        entries.sort()
        for _, size, path in entries:
            if used <= self.disk_bytes:
                break
            path.unlink(missing_ok=True)
            used -= size
            _log.debug("step cache: evicted %s", path.name)
        with self._lock:
            self._disk_used = used

    def __repr__(self) -> str:
        return (
            f"StepCache(directory={self.directory!r}, memory_bytes={self.memory_bytes}, "
            f"disk_bytes={self.disk_bytes})"
        )


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"${name} must be a number of bytes, got {text!r}") from None
    if value < 0:
        raise ValueError(f"${name} must be >= 0, got {value}")
    return value


_default: StepCache | None = None
_default_lock = threading.Lock()


def get_step_cache() -> StepCache:
    """Return this process's step cache: the one given to :func:`set_step_cache`, else one
    built from the environment on first use (:meth:`StepCache.from_environment`). Worker
    processes build their own from the environment they inherit: set ``$CRYSTALLIZE_CACHE_DIR``
    to share a folder with them.

    Raises:
        ValueError: as :meth:`StepCache.from_environment`.
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = StepCache.from_environment()
        return _default


def set_step_cache(cache: StepCache | None) -> None:
    """Use ``cache`` for the cacheable steps of this process; None: go back to the environment's
    (built again on next use)."""
    global _default
    with _default_lock:
        _default = cache


def _after_fork_in_child() -> None:
    # A forked worker inherits the parent's cache; a lock another parent thread held at the
    # fork would never be released in the child.
    global _default_lock
    _default_lock = threading.Lock()
    if _default is not None:
        _default._lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


def dumps(entry: Any) -> bytes:
    """Pickle ``entry`` for the cache (protocol 5)."""
    return pickle.dumps(entry, protocol=5)
