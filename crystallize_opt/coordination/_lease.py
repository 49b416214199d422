"""Work that one worker of a shared study does for all of them, once (choosing the winner of a
noise-aware search), even when the workers were started separately and finish together.

Optuna's storages have no compare-and-set, so the lease is a set of claims in study user
attributes, one per worker (``<attr>:<owner>``, never overwritten by another worker): a worker
that finds no live claim writes its own and reads the claims back; it holds the lease when its
claim is the only live one, and otherwise clears its claim, waits a random moment (up to
``settle`` seconds) and looks again. Two workers can never both hold it: each read follows its
own write, so of two claimants the later reader sees the other's claim. (The earlier protocol,
one attribute that every claimant overwrote, let a claim whose write landed late, after a stall
or a wait for SQLite's lock, replace a claim already confirmed, and both workers did the work.)
The holder stamps its claim every ``interval`` seconds from the shared heartbeat thread; a
claim older than ``grace`` seconds belongs to a worker that died and no longer counts, so
``grace`` must exceed the longest stall of a live holder's heartbeat. A claim also names its
process (:func:`._owner.this_process`): one whose process certainly no longer exists on this
host (``kill -9`` while choosing the winner) stops counting at once. The holder clears its
claim when it is done, also when its work fails or is interrupted.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import optuna

from .._logging import get_logger
from ..storage import last_recovery
from ._clock import SYSTEM_CLOCK, Clock, SystemClock
from ._heartbeat import beat_every, stop_beating
from ._owner import owner_is_dead, this_process

_log = get_logger("optimize")

T = TypeVar("T")


@dataclass
class StudyLease:
    """A lease named ``attr`` on ``study``, claimed as ``owner``.

    Attributes:
        study: the shared study (the claims live in its user attributes).
        attr: the lease's name: worker ``w`` claims it in the user attribute ``<attr>:<w>``,
            holding ``{"owner": w, "stamp": <clock time>, "process": <owner record>}`` (None
            once cleared; claims of older versions have no ``"process"``).
        owner: this worker's name, unique among the study's workers.
        interval: seconds between the holder's stamps.
        grace: a claim not stamped for this long no longer counts (its worker died); nor does
            one whose process certainly no longer exists (see :func:`._owner.owner_is_dead`).
        settle: the longest random wait after claims collided, before looking again.
        clock: the time of stamps and of their expiry (tests pass one they move themselves;
            the end of a database outage, which is real Unix time, only counts on the real one).
    """

    study: optuna.Study
    attr: str
    owner: str
    interval: float
    grace: float
    settle: float
    clock: Clock = SYSTEM_CLOCK

    def claims(self) -> dict[str, float]:
        """The live claims, ``{owner: stamp}``: those stamped within the last ``grace`` seconds
        (or since this process's last database outage ended: nobody could stamp during it) whose
        process is not certainly gone."""
        prefix, now = f"{self.attr}:", self.clock.now()
        back = last_recovery() if isinstance(self.clock, SystemClock) else 0.0
        live: dict[str, float] = {}
        for key, record in self.study.user_attrs.items():
            if not key.startswith(prefix) or not isinstance(record, dict):
                continue
            owner, stamp = record.get("owner"), record.get("stamp")
            if not isinstance(owner, str) or not isinstance(stamp, (int, float)):
                continue
            if now - max(stamp, back) > self.grace:
                continue
            if not owner_is_dead(record.get("process")):
                live[owner] = float(stamp)
        return live

    def holder(self) -> str | None:
        """The owner of the lease: the only live claim's; None when the lease is free or claims
        are colliding (their workers step back)."""
        claims = self.claims()
        return next(iter(claims)) if len(claims) == 1 else None

    async def acquire(self) -> bool:
        """Claim the lease unless another worker has a live claim; True when this worker holds
        it then (its claim is the only live one), False when another worker holds or claims it."""
        while True:
            claims = self.claims()
            if set(claims) - {self.owner}:
                return False
            if claims:  # ours alone
                return True
            self._stamp()
            if set(self.claims()) == {self.owner}:
                return True
            # Claimed at about the same moment as another worker: both step back, and the one
            # that looks again first takes the lease.
            self._clear()
            await asyncio.sleep(random.uniform(0.0, self.settle))

    @contextmanager
    def held(self) -> Iterator[None]:
        """Keep the acquired lease alive while the block runs, then clear this worker's claim."""
        beating = beat_every(self._stamp, self.interval, f"study lease {self.attr!r}")
        try:
            yield
        finally:
            stop_beating(beating)
            try:
                self._clear()
            except Exception as exc:  # the storage went away: the claim expires after ``grace``
                _log.warning("could not clear the study lease %r: %s", self.attr, exc)

    def _stamp(self) -> None:
        record = {"owner": self.owner, "stamp": self.clock.now(), "process": this_process()}
        self.study.set_user_attr(f"{self.attr}:{self.owner}", record)

    def _clear(self) -> None:
        self.study.set_user_attr(f"{self.attr}:{self.owner}", None)


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
    that gets ``lease`` looks at ``settled()`` again while holding it (a holder that just finished
    may have let go in between) and runs ``work`` only when it is still not done; the others wait
    ``poll_interval`` seconds and look again. When the holder dies, its lease expires (at once
    when it was a process of this host) and another worker takes the work over. ``what`` names the work in the log.

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
                with lease.held():
                    # The previous holder may have stored the result and let go since we looked.
                    done, result = settled()
                    if done:
                        return result
                    _log.info("%s (for every worker of the study)", what)
                    return await work()
            waiting = f"worker {lease.holder() or '(another)'} to finish {what}"
        if waiting != announced:
            _log.info("waiting for %s", waiting)
            announced = waiting
        await asyncio.sleep(poll_interval)
