"""SIGTERM as an exception, so a terminated worker stores its running trial as failed."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM (inside :func:`sigterm_raises`).

    Like KeyboardInterrupt it derives from BaseException, so ``except Exception`` in user code
    does not swallow it.
    """

    exit_code = 143  # 128 + SIGTERM, what a shell reports for a terminated process


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated("terminated by SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
