"""Heartbeats for running trials (and the study leases' stamps).

Optuna's own heartbeat only runs inside ``study.optimize`` and not on journal storages; this
one works with the ask/tell loop on every storage: a background thread stamps the running
trial's system attribute :data:`HEARTBEAT_ATTR` with the time, which :mod:`._stale` reads to
tell a live trial from an abandoned one. The same thread keeps the study leases of
:mod:`._lease` alive (:func:`beat_every`).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from optuna.storages import BaseStorage, InMemoryStorage

from .._logging import get_logger
from .._signals import leave_termination_signals_to_main_thread
from ..storage import without_waiting
from ._clock import SYSTEM_CLOCK, Clock
from ._owner import OWNER_ATTR, this_process

_log = get_logger("optimize")

HEARTBEAT_ATTR = "crystallize:heartbeat"


def storage_is_shared(storage: BaseStorage) -> bool:
    """True when other processes may use ``storage`` (so heartbeats matter)."""
    # The exact type first: an ABC's isinstance costs a microsecond, asked several times a trial.
    return type(storage) is not InMemoryStorage and not isinstance(storage, InMemoryStorage)


class _Beating:
    """One registered sign of life: how to stamp it, how often, and when next."""

    __slots__ = ("due", "interval", "stamp", "what")

    def __init__(self, stamp: Callable[[], None], interval: float, what: str):
        self.stamp = stamp
        self.what = what
        self.interval = interval
        #: ``time.monotonic()`` of the next beat: one interval after the start, then after each beat.
        self.due = time.monotonic() + interval

    def beat(self) -> None:
        try:
            # One attempt: a beat that waited out a database outage would hold the sender (and
            # every trial's end, which waits for it) for as long; the next beat tries again.
            with without_waiting():
                self.stamp()
        except Exception as exc:  # a finished trial, or a storage hiccup: the next beat tries again
            _log.debug("heartbeat of %s not recorded: %s", self.what, exc)


class _HeartbeatSender:
    """The one daemon thread of a process that stamps every registered sign of life (running
    trials, study leases) when due.

    Starting a thread per trial cost about as much as a cheap trial's whole orchestration, so
    the thread is shared: started by the first trial, it lives on while trials keep coming and
    ends after one idle interval without any (the next trial starts a new one). Beats are sent
    holding the lock that :meth:`remove` takes, so none lands after a trial was removed.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._beatings: dict[int, _Beating] = {}
        self._thread: threading.Thread | None = None
        self._wake_at = math.inf  # when the thread's current wait ends (monotonic)
        self._idle = 0.0  # how long it waits for a trial before ending: the latest interval

    def add(self, beating: _Beating) -> None:
        """Stamp ``beating`` every ``interval`` seconds from now on, until removed."""
        with self._lock:
            self._beatings[id(beating)] = beating
            self._idle = beating.interval
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="crystallize-heartbeat", daemon=True)
                self._wake_at = math.inf
                self._thread.start()
            elif beating.due < self._wake_at:  # due before the thread looks again (a shorter interval)
                self._wake.notify()

    def remove(self, beating: _Beating) -> None:
        """Stop stamping ``beating``; waits for a beat of it in progress to be stored."""
        with self._lock:
            self._beatings.pop(id(beating), None)

    def _run(self) -> None:
        leave_termination_signals_to_main_thread()  # Ctrl+C must not land here mid-store
        with self._lock:
            try:
                while True:
                    if not self._beatings:
                        self._wake_at = time.monotonic() + self._idle
                        self._wake.wait(self._idle)
                        if not self._beatings:
                            return
                    for beating in list(self._beatings.values()):
                        if time.monotonic() >= beating.due:
                            beating.beat()
                            beating.due = time.monotonic() + beating.interval
                    if self._beatings:
                        self._wake_at = min(b.due for b in self._beatings.values())
                        self._wake.wait(max(0.0, self._wake_at - time.monotonic()))
            finally:
                # Still under the lock: a trial added from now on starts a new thread.
                self._thread = None


_SENDER = _HeartbeatSender()
if hasattr(os, "register_at_fork"):  # a forked child has no sender thread, and maybe a held lock
    os.register_at_fork(after_in_child=_SENDER._reset)


class TrialHeartbeat:
    """Stamps a running trial every ``interval`` seconds while the ``with`` block runs.

    The first stamp comes ``interval`` seconds after entering (until then the trial's start is
    its sign of life), so a trial shorter than ``interval`` writes no heartbeat at all. The
    stamps come from one thread shared by every trial of the process (see ``_HeartbeatSender``);
    each holds ``clock``'s time.
    """

    def __init__(
        self,
        storage: BaseStorage,
        trial_id: int,
        interval: float,
        worker_tag: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ):
        self._storage = storage
        self._clock = clock
        self._worker_tag = worker_tag
        self._trial_id = trial_id
        self._interval = interval
        self._beating: _Beating | None = None

    def __enter__(self) -> TrialHeartbeat:
        # The owner record lets any process of this host fail the trial at once if this process
        # dies; a managed worker also names itself in it, so its parent can fail the trial if
        # the worker dies. One write with the tag in it: a worker's trial costs no more writes
        # than the tag alone did.
        owner: dict[str, Any] = this_process()
        if self._worker_tag is not None:
            owner["worker"] = self._worker_tag
        try:
            self._storage.set_trial_system_attr(self._trial_id, OWNER_ATTR, owner)
        except Exception as exc:
            _log.debug("owner of trial id %d not recorded: %s", self._trial_id, exc)
        storage, trial_id, clock = self._storage, self._trial_id, self._clock
        self._beating = beat_every(
            lambda: storage.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, clock.now()),
            self._interval,
            f"trial id {trial_id}",
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._beating is not None:
            stop_beating(self._beating)
            self._beating = None


def beat_every(stamp: Callable[[], None], interval: float, what: str) -> _Beating:
    """Call ``stamp`` every ``interval`` seconds from the shared sender thread, the first time one
    interval from now, until :func:`stop_beating`; a failing stamp is logged (debug) and retried
    at the next beat. ``what`` names it in that log."""
    beating = _Beating(stamp, interval, what)
    _SENDER.add(beating)
    return beating


def stop_beating(beating: _Beating) -> None:
    """Stop stamping; returns after a stamp in progress has been stored."""
    _SENDER.remove(beating)
