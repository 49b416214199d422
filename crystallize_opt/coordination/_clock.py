"""The clock that heartbeats, stale-trial checks and study leases read.

Every time these compare is Unix time stored by one process and read by another (a heartbeat
stamp, a lease claim, a trial's start), so one reading, :meth:`Clock.now`, is all they need.
It is passed explicitly (the ``clock`` argument of :class:`._lease.StudyLease`,
:class:`._heartbeat.TrialHeartbeat` and :func:`._stale.fail_stale_trials`) so that tests
drive grace periods, expiry and takeover with a clock they move themselves instead of sleeping.
When to send the next heartbeat is not on it: that schedule is local to one process and uses
``time.monotonic``.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of Unix time."""

    def now(self) -> float:
        """The current Unix time in seconds."""
        ...  # pragma: no cover - protocol


class SystemClock:
    """The real clock: :func:`time.time`."""

    def now(self) -> float:
        """The current Unix time in seconds (:func:`time.time`)."""
        return time.time()


#: The clock every caller gets unless it passes its own.
SYSTEM_CLOCK = SystemClock()
