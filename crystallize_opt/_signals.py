"""SIGTERM as an exception, so a terminated worker stores its running trial as failed; and
helper threads that leave SIGINT and SIGTERM to the main thread."""

from __future__ import annotations

import importlib
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, cast


def _handler_swap() -> Callable[[int, Any], Any]:
    """``signal.signal`` without its enum conversions: CPython's C function beneath it.

    :func:`deferred_signals` swaps two handlers in and out around every stored trial; the
    ``signal`` module's wrapper converts the signal number and both handlers to and from enums
    (~3 µs a call against ~0.2 µs), which was the largest cost the loop added to a trivial
    trial. The handlers it returns (ints for the defaults) are only ever passed back to it.
    Where the C module is missing (another Python), the wrapper itself.
    """
    try:
        return cast("Callable[[int, Any], Any]", importlib.import_module("_signal").signal)
    except (ImportError, AttributeError):
        return signal.signal


_swap_handler = _handler_swap()


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


#: Signals that end a run: the main thread turns them into exceptions at safe points.
TERMINATION_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
_TERMINATION_NUMBERS = tuple(int(signum) for signum in sorted(TERMINATION_SIGNALS))

#: The signals each active :func:`deferred_signals` block holds back (innermost last).
_held: list[list[int]] = []


def termination_pending() -> bool:
    """True when a SIGINT or SIGTERM is being held back by :func:`deferred_signals`: code that
    waits (for a lock) inside such a block checks this and gives up, so the wait never outlives
    the user's wish to stop."""
    return any(_held)


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while the block runs (a trial is created or stored).

    A Ctrl+C between Optuna creating a trial and the optimizer knowing about it, or while a
    trial's record and state are stored, would leave the trial RUNNING; held back, the signal
    is raised again right after the block, where the loop fails the trial cleanly.

    The handlers are swapped rather than the signals masked: Python runs a signal's handler in
    the main thread at its next check, which may come after a mask is set (the signal arrived
    just before) or come from a thread without the mask; the handler in place at that moment
    is the one that runs. Only in the main thread (elsewhere this does nothing).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {signum: _swap_handler(signum, hold) for signum in _TERMINATION_NUMBERS}
    _held.append(received)
    try:
        yield
    finally:
        _held[:] = [other for other in _held if other is not received]  # by identity, not equality
        for held, handler in previous.items():
            _swap_handler(held, handler)
        for signum in dict.fromkeys(received):  # once each, in arrival order
            signal.raise_signal(signum)  # now handled as it would have been


def leave_termination_signals_to_main_thread() -> None:
    """Block SIGINT and SIGTERM in the calling (helper) thread.

    A signal sent to the process may be delivered to any thread that does not block it;
    Python then runs its handler in the main thread at the next instruction, even where the
    main thread holds the signal back (while it stores a trial). Helper threads that block
    these signals leave their delivery to the main thread, which takes them when it is ready.
    """
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, TERMINATION_SIGNALS)
