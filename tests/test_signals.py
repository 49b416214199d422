"""Signals held back while a trial is created or stored (``deferred_signals``): raised again
right after the block, with every handler as it was before."""

from __future__ import annotations

import os
import signal

import pytest

from crystallize_opt._signals import Terminated, deferred_signals, sigterm_raises, termination_pending


def _handlers() -> tuple[object, object]:
    return signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)


def test_a_ctrl_c_inside_the_block_is_raised_once_after_it() -> None:
    before = _handlers()
    reached_the_end = False
    with pytest.raises(KeyboardInterrupt), deferred_signals():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        assert termination_pending()
        reached_the_end = True
    assert reached_the_end, "the block ran to its end before the interrupt"
    assert not termination_pending()
    assert _handlers() == before, "the default handlers are back, the same objects (enums included)"


def test_nested_blocks_raise_after_the_outermost() -> None:
    with pytest.raises(KeyboardInterrupt), deferred_signals():
        with deferred_signals():
            os.kill(os.getpid(), signal.SIGINT)
        assert termination_pending(), "the inner block passes the signal to the outer one"
    assert _handlers()[0] is signal.default_int_handler


def test_sigterm_held_back_then_raised_as_terminated() -> None:
    with sigterm_raises():
        with pytest.raises(Terminated), deferred_signals():
            os.kill(os.getpid(), signal.SIGTERM)
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_user_handler_is_called_after_the_block_and_stays_in_place() -> None:
    calls: list[int] = []

    def mine(signum: int, frame: object) -> None:
        calls.append(signum)

    previous = signal.signal(signal.SIGINT, mine)
    try:
        with deferred_signals():
            os.kill(os.getpid(), signal.SIGINT)
            assert calls == []
        assert calls == [signal.SIGINT]
        assert signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGINT, previous)


FINALIZER_INTERRUPTED = """
import os, signal, sys, time
from crystallize_opt.cli import interrupt_handler

interrupted = []
signal.signal(signal.SIGINT, interrupt_handler(interrupted))


class Finalized:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(10_000):  # the handler runs here, inside __del__
            pass


try:
    Finalized()  # collected at once: its __del__ runs
    time.sleep(10)
    print("not interrupted")
except KeyboardInterrupt:
    print(f"interrupted, handler called {len(interrupted)} times")
"""


def test_a_ctrl_c_landing_in_a_finalizer_still_stops_the_command_line() -> None:
    """Python ignores (and prints) an exception raised in ``__del__`` or a weakref callback, such
    as importlib's module-lock cleanup that a Ctrl+C may hit while a command imports its modules:
    the command line's handler delivers the interrupt again after it, instead of losing it."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", FINALIZER_INTERRUPTED], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "interrupted, handler called 2 times", result.stdout + result.stderr
    assert "Exception ignored" not in result.stderr, result.stderr
