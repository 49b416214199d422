"""The study lease that lets exactly one worker of a shared study do study-wide work (choosing
the winner): claims, waiting for the holder, taking over from a dead holder (real SQLite study).

Claims are stamped and aged by a :class:`FakeClock` that only the test moves, so no grace
period is waited out and no stall of a loaded machine can make a claim expire."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

from crystallize_opt.coordination import StudyLease, once_per_study

from .fake_clock import FakeClock
from .servers import wait_for

ATTR = "test_lease"
INTERVAL = 0.05
GRACE = 0.5
SETTLE = 0.05


@pytest.fixture()
def study_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'lease.db'}"
    optuna.create_study(study_name="s", storage=url)
    return url


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


def lease_for(url: str, owner: str, clock: FakeClock, grace: float = GRACE) -> StudyLease:
    """A lease on the study through a storage of its own (as another process would open it)."""
    study = optuna.load_study(study_name="s", storage=url)
    return StudyLease(study, ATTR, owner, INTERVAL, grace, SETTLE, clock=clock)


def test_a_held_lease_is_refused_to_others_and_free_once_released(study_url: str, clock: FakeClock) -> None:
    first, second = lease_for(study_url, "first", clock), lease_for(study_url, "second", clock)
    assert asyncio.run(first.acquire())
    with first.held():
        clock.advance(3 * GRACE)  # the claim has aged past the grace period...
        # ...until the holder's heartbeat stamps it again (every INTERVAL real seconds).
        wait_for(lambda: second.holder() == "first", timeout=30, what="the holder's next stamp")
        assert not asyncio.run(second.acquire())
    assert second.holder() is None
    assert asyncio.run(second.acquire())


def test_a_lease_whose_holder_went_silent_is_taken_over(study_url: str, clock: FakeClock) -> None:
    dead, alive = lease_for(study_url, "dead", clock), lease_for(study_url, "alive", clock)
    assert asyncio.run(dead.acquire())  # claimed, then never stamped again
    clock.advance(GRACE)
    assert not asyncio.run(alive.acquire()), "a claim is live for exactly the grace period"
    clock.advance(0.001)
    assert alive.holder() is None
    assert asyncio.run(alive.acquire())
    assert dead.holder() == "alive"


def test_simultaneous_claims_leave_exactly_one_holder(study_url: str, clock: FakeClock) -> None:
    leases = [lease_for(study_url, f"w{i}", clock) for i in range(4)]
    barrier = threading.Barrier(len(leases))
    won: list[str] = []

    def claim(lease: StudyLease) -> None:
        barrier.wait()
        if asyncio.run(lease.acquire()):
            won.append(lease.owner)

    threads = [threading.Thread(target=claim, args=(lease,)) for lease in leases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1, won
    assert leases[0].holder() == won[0]


def test_a_claim_written_late_never_makes_a_second_holder(study_url: str, clock: FakeClock) -> None:
    """A worker finds the lease free, then its claim is written only after another worker has
    claimed and confirmed the lease (its process stalled, or it waited for SQLite's write lock):
    it must step back. With one attribute overwritten by every claim, both held the lease."""
    late, early = lease_for(study_url, "late", clock), lease_for(study_url, "early", clock)
    early_won: list[bool] = []
    write = late.study.set_user_attr

    def stalled_write(key: str, value: object) -> None:
        if not early_won:  # the other worker claims the lease while this write waits
            thread = threading.Thread(target=lambda: early_won.append(asyncio.run(early.acquire())))
            thread.start()
            thread.join()
        write(key, value)

    late.study.set_user_attr = stalled_write  # type: ignore[method-assign]
    late_won = asyncio.run(late.acquire())
    assert early_won == [True]
    assert not late_won, "two workers held the lease"
    assert late.holder() == "early" and early.holder() == "early"


def run_once(
    url: str,
    owner: str,
    clock: FakeClock,
    done: dict[str, str],
    log: list[str],
    others_running: Callable[[], int] = lambda: 0,
) -> str | None:
    """``once_per_study`` whose work writes ``owner`` into ``done`` (the 'stored result')."""
    lease = lease_for(url, owner, clock)

    async def work() -> str:
        log.append(owner)
        await asyncio.sleep(0.1)  # the others look meanwhile, and find the lease held
        done["result"] = owner
        return owner

    return asyncio.run(
        once_per_study(
            lease,
            settled=lambda: ("result" in done, done.get("result")),
            work=work,
            others_running=others_running,
            poll_interval=0.02,
            what="testing",
        )
    )


class Running:
    """``others_running`` for several workers: ``count`` trials run until the test says; counts
    how often each worker looked."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.looks: dict[str, int] = {}

    def of(self, owner: str) -> Callable[[], int]:
        def others_running() -> int:
            self.looks[owner] = self.looks.get(owner, 0) + 1
            return self.count

        return others_running


def test_workers_wait_for_running_trials_then_one_works_and_all_get_its_result(
    study_url: str, clock: FakeClock
) -> None:
    done: dict[str, str] = {}
    log: list[str] = []
    running = Running(1)  # another worker's trial is still running
    owners = [f"w{i}" for i in range(3)]
    results: dict[str, str | None] = {}

    def worker(owner: str) -> None:
        results[owner] = run_once(study_url, owner, clock, done, log, running.of(owner))

    threads = [threading.Thread(target=worker, args=(owner,)) for owner in owners]
    for thread in threads:
        thread.start()
    wait_for(
        lambda: all(running.looks.get(owner, 0) >= 2 for owner in owners),
        timeout=30,
        what="every worker to look at the running trials twice",
    )
    assert log == [], "nobody works while a trial of the study is still running"
    running.count = 0
    for thread in threads:
        thread.join(timeout=30)
    assert len(log) == 1, log
    assert results == {owner: log[0] for owner in owners}
    assert lease_for(study_url, "x", clock).holder() is None, "the holder cleared its lease"


def test_a_worker_that_finds_the_lease_free_just_after_the_work_was_done_takes_its_result(
    study_url: str, clock: FakeClock
) -> None:
    """The holder stores its result and clears its lease between another worker's look at the
    result and its claim: that worker must take the stored result, not do the work again."""
    done: dict[str, str] = {}
    log: list[str] = []

    def settled() -> tuple[bool, str | None]:
        looked = ("result" in done, done.get("result"))
        if not looked[0] and not log:  # right after this look, another worker does the work
            first = threading.Thread(target=run_once, args=(study_url, "first", clock, done, log))
            first.start()
            first.join()
        return looked

    async def work() -> str:
        log.append("second")
        return "second"

    lease = lease_for(study_url, "second", clock)
    result = asyncio.run(
        once_per_study(
            lease, settled=settled, work=work, others_running=lambda: 0, poll_interval=0.02, what="testing"
        )
    )
    assert log == ["first"] and result == "first"


def test_the_work_is_taken_over_when_its_holder_dies(study_url: str, clock: FakeClock) -> None:
    dead = lease_for(study_url, "dead", clock)
    assert asyncio.run(dead.acquire())  # then its process died: no more stamps, nothing stored
    log: list[str] = []
    running = Running(0)
    results: list[str | None] = []
    heir = threading.Thread(
        target=lambda: results.append(run_once(study_url, "heir", clock, {}, log, running.of("heir")))
    )
    heir.start()
    wait_for(lambda: running.looks.get("heir", 0) >= 3, timeout=30, what="the heir to look a few times")
    assert log == [] and dead.holder() == "dead", "the heir waits while the claim is live"
    clock.advance(GRACE + 0.001)  # the dead holder's claim expires
    heir.join(timeout=30)
    assert results == ["heir"] and log == ["heir"]


def test_a_failing_holder_clears_its_lease(study_url: str, clock: FakeClock) -> None:
    lease = lease_for(study_url, "failing", clock)

    async def work() -> str:
        raise RuntimeError("pipeline broke")

    with pytest.raises(RuntimeError, match="pipeline broke"):
        asyncio.run(
            once_per_study(
                lease,
                settled=lambda: (False, None),
                work=work,
                others_running=lambda: 0,
                poll_interval=0.02,
                what="testing",
            )
        )
    assert lease.holder() is None
