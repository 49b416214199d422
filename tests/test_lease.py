"""The study lease that lets exactly one worker of a shared study do study-wide work (choosing
the winner): claims, waiting for the holder, taking over from a dead holder (real SQLite study)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

from crystallize_opt.coordination._lease import StudyLease, once_per_study

ATTR = "test_lease"
INTERVAL = 0.05
GRACE = 0.5
SETTLE = 0.05


@pytest.fixture()
def study_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'lease.db'}"
    optuna.create_study(study_name="s", storage=url)
    return url


def lease_for(
    url: str, owner: str, grace: float = GRACE, clock: Callable[[], float] = time.time
) -> StudyLease:
    """A lease on the study through a storage of its own (as another process would open it)."""
    study = optuna.load_study(study_name="s", storage=url)
    return StudyLease(study, ATTR, owner, INTERVAL, grace, SETTLE, clock=clock)


class Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_held_lease_is_refused_to_others_and_free_once_released(study_url: str) -> None:
    first, second = lease_for(study_url, "first"), lease_for(study_url, "second")
    assert asyncio.run(first.acquire())
    with first.held():
        time.sleep(3 * GRACE)  # the heartbeat keeps it alive past the grace period
        assert second.holder() == "first"
        assert not asyncio.run(second.acquire())
    assert second.holder() is None
    assert asyncio.run(second.acquire())


def test_a_lease_whose_holder_went_silent_is_taken_over(study_url: str) -> None:
    clock = Clock()
    dead, alive = lease_for(study_url, "dead", clock=clock), lease_for(study_url, "alive", clock=clock)
    assert asyncio.run(dead.acquire())  # claimed, then never stamped again
    clock.now += GRACE
    assert not asyncio.run(alive.acquire()), "a claim is live for exactly the grace period"
    clock.now += 0.001
    assert alive.holder() is None
    assert asyncio.run(alive.acquire())
    assert dead.holder() == "alive"


def test_simultaneous_claims_leave_exactly_one_holder(study_url: str) -> None:
    leases = [lease_for(study_url, f"w{i}") for i in range(4)]
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


def test_a_claim_written_late_never_makes_a_second_holder(study_url: str) -> None:
    """A worker finds the lease free, then its claim is written only after another worker has
    claimed and confirmed the lease (its process stalled, or it waited for SQLite's write lock):
    it must step back. With one attribute overwritten by every claim, both held the lease."""
    late, early = lease_for(study_url, "late"), lease_for(study_url, "early")
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
    url: str, owner: str, done: dict[str, str], log: list[str], running: list[int], grace: float = GRACE
) -> str | None:
    """``once_per_study`` whose work writes ``owner`` into ``done`` (the 'stored result')."""
    lease = lease_for(url, owner, grace)

    async def work() -> str:
        log.append(owner)
        await asyncio.sleep(0.3)
        done["result"] = owner
        return owner

    return asyncio.run(
        once_per_study(
            lease,
            settled=lambda: ("result" in done, done.get("result")),
            work=work,
            others_running=lambda: running[0],
            poll_interval=0.02,
            what="testing",
        )
    )


def test_workers_wait_for_running_trials_then_one_works_and_all_get_its_result(study_url: str) -> None:
    done: dict[str, str] = {}
    log: list[str] = []
    running = [1]  # another worker's trial is still running
    results: dict[str, str | None] = {}

    def worker(owner: str) -> None:
        # Nobody dies here: a grace far above any stall of a loaded machine's heartbeat thread.
        results[owner] = run_once(study_url, owner, done, log, running, grace=60.0)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    assert log == [], "nobody works while a trial of the study is still running"
    running[0] = 0
    for thread in threads:
        thread.join(timeout=10)
    assert len(log) == 1, log
    assert results == {f"w{i}": log[0] for i in range(3)}
    assert lease_for(study_url, "x").holder() is None, "the holder cleared its lease"


def test_a_worker_that_finds_the_lease_free_just_after_the_work_was_done_takes_its_result(
    study_url: str,
) -> None:
    """The holder stores its result and clears its lease between another worker's look at the
    result and its claim: that worker must take the stored result, not do the work again."""
    done: dict[str, str] = {}
    log: list[str] = []

    def settled() -> tuple[bool, str | None]:
        looked = ("result" in done, done.get("result"))
        if not looked[0] and not log:  # right after this look, another worker does the work
            first = threading.Thread(target=run_once, args=(study_url, "first", done, log, [0]))
            first.start()
            first.join()
        return looked

    async def work() -> str:
        log.append("second")
        return "second"

    lease = lease_for(study_url, "second")
    result = asyncio.run(
        once_per_study(
            lease, settled=settled, work=work, others_running=lambda: 0, poll_interval=0.02, what="testing"
        )
    )
    assert log == ["first"] and result == "first"


def test_the_work_is_taken_over_when_its_holder_dies(study_url: str) -> None:
    dead = lease_for(study_url, "dead")
    assert asyncio.run(dead.acquire())  # then its process died: no more stamps, nothing stored
    log: list[str] = []
    started = time.monotonic()
    assert run_once(study_url, "heir", {}, log, [0]) == "heir"
    assert log == ["heir"]
    assert time.monotonic() - started >= GRACE - 0.1, "the heir waited for the lease to expire"


def test_a_failing_holder_clears_its_lease(study_url: str) -> None:
    lease = lease_for(study_url, "failing")

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
