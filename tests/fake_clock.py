"""A clock for the coordination code that moves only when a test moves it."""

from __future__ import annotations

import threading


class FakeClock:
    """Unix time that stands still until :meth:`advance` (thread-safe: leases and heartbeats
    read it from their own threads)."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
