"""Work that one worker of a shared study does for all of them, once (choosing the winner of a
noise-aware search), even when the workers were started separately and finish together.

Optuna's storages have no compare-and-set, so the claim is a lease in a study user attribute:
a worker writes its name and the time, waits ``settle`` seconds and reads the attribute back.
Of workers that claim at about the same moment the last write wins and the others read it and
step back. (Two claims could both succeed only if one worker's read and write were further apart
than ``settle``; the cost would be the work done twice, with the same result.) The holder stamps
the lease every ``interval`` seconds from the shared heartbeat thread, so a lease whose stamp is
older than ``grace`` seconds belongs to a worker that died and is taken over. The holder clears
the lease when it is done, also when its work fails or is interrupted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import optuna

from .._logging import get_logger
from ._heartbeat import beat_every, stop_beating

_log = get_logger("optimize")

T = TypeVar("T")


@dataclass
class StudyLease:
    """A lease named ``attr`` on ``study``, claimed as ``owner``.

    Attributes:
        study: the shared study (the lease lives in its user attributes).
        attr: the user attribute holding ``{"owner": ..., "stamp": <Unix time>}`` (None when free).
        owner: this worker's name, unique among the study's workers.
        interval: seconds between the holder's stamps.
        grace: a lease not stamped for this long is free (its holder died).
        settle: seconds between writing a claim and reading it back.
    """

    study: optuna.Study
    attr: str
    owner: str
    interval: float
    grace: float
    settle: float

    def holder(self) -> str | None:
        """The owner of the lease, or None when it is free (never taken, cleared, or silent for
        longer than ``grace``)."""
        record = self.study.user_attrs.get(self.attr)
        if not isinstance(record, dict):
            return None
        owner, stamp = record.get("owner"), record.get("stamp")
        if not isinstance(owner, str) or not isinstance(stamp, (int, float)):
            return None
        return owner if time.time() - stamp <= self.grace else None

    async def acquire(self) -> bool:
        """Claim the lease unless another worker holds it; True when this worker holds it then."""
        holder = self.holder()
        if holder is not None:
            return holder == self.owner
        self._stamp()
        await asyncio.sleep(self.settle)
        return self.holder() == self.owner

    @contextmanager
    def held(self) -> Iterator[None]:
        """Keep the acquired lease alive while the block runs, then clear it (if still ours)."""
        beating = beat_every(self._stamp, self.interval, f"study lease {self.attr!r}")
        try:
            yield
        finally:
            stop_beating(beating)
            try:
                if self.holder() == self.owner:
                    self.study.set_user_attr(self.attr, None)
            except Exception as exc:  # the storage went away: the lease expires after ``grace``
                _log.warning("could not clear the study lease %r: %s", self.attr, exc)

    def _stamp(self) -> None:
        self.study.set_user_attr(self.attr, {"owner": self.owner, "stamp": time.time()})


async def once_per_study(
    lease: StudyLease,
    *,
    settled: Callable[[], tuple[bool, T | None]],
    work: Callable[[], Awaitable[T | None]],
    others_running: Callable[[], int],
    poll_interval: float,
    what: str,
) -> T | None:
    """Return the result of ``work``, done by exactly one of the workers that call this on the
    same study.

    Each round: while ``others_running()`` (the study's live running trials, after failing the
    stale ones) is not zero, wait; then ``settled()`` returns ``(True, result)`` when the work is
    already done (its stored result) and ``(False, None)`` otherwise; in that case the worker
    that gets ``lease`` runs ``work`` while holding it, and the others wait ``poll_interval``
    seconds and look again. When the holder dies, its lease expires and another worker takes
    the work over. ``what`` names the work in the log.

    Raises:
        Whatever ``work`` raises in the worker that runs it (the lease is cleared first).
    """
    announced = ""
    while True:
        running = others_running()
        if running:
            waiting = f"{running} running trial(s) of other workers to finish before {what}"
        else:
            done, result = settled()
            if done:
                return result
            if await lease.acquire():
                _log.info("%s (for every worker of the study)", what)
                with lease.held():
                    return await work()
            waiting = f"worker {lease.holder() or '(another)'} to finish {what}"
        if waiting != announced:
            _log.info("waiting for %s", waiting)
            announced = waiting
        await asyncio.sleep(poll_interval)
