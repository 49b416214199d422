"""A trial or lease whose process is gone from this host is taken over at once, not after the
grace period: owner records (host, boot, pid namespace, pid, start time) checked against real
processes, and real ``kill -9`` of serial runs, of winner selection and of workers.

The grace period of the multi-process tests is 120 s while each of them finishes in seconds:
any wait for a heartbeat to go stale would show as a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from crystallize_opt.coordination import (
    HEARTBEAT_ATTR,
    OWNER_ATTR,
    StudyLease,
    TrialHeartbeat,
    fail_stale_trials,
    fail_trials_of_workers,
    owner_is_dead,
    this_process,
)
from crystallize_opt.optimize import stored_selection
from crystallize_opt.records import RetryRecord

from . import servers
from .fake_clock import FakeClock
from .stored import record_of as stored_record

GRACE = 120.0
#: ``optimize:`` lines: a grace period no test here may wait out, and frequent stale checks.
LONG_GRACE = f"  grace_period: {GRACE:g}\n  heartbeat_interval: 0.5\n"
#: Far below the grace period, far above what each rerun needs on a loaded machine.
QUICK = 40.0
RETRY = "crystallize_retry"
linux_only = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="owner checks read Linux's /proc"
)


def start_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def record_of(pid: int, **changes: Any) -> dict[str, Any]:
    """The owner record process ``pid`` of this host writes (it shares our host, boot and
    pid namespace), with ``changes``."""
    return {**this_process(), "pid": pid, "start": start_ticks(pid), **changes}


@pytest.fixture()
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated live process."""
    process = subprocess.Popen(["sleep", "60"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


# -- owner records -----------------------------------------------------------------------------


@linux_only
def test_a_live_process_is_alive_and_a_killed_one_dead_at_once(sleeper: subprocess.Popen[bytes]) -> None:
    record = record_of(sleeper.pid)
    assert not owner_is_dead(this_process()) and not owner_is_dead(record)
    sleeper.kill()  # not reaped until wait(): a zombie meanwhile, which must count as dead
    servers.wait_for(lambda: owner_is_dead(record), timeout=10, what="the killed process to count as dead")
    sleeper.wait()
    assert owner_is_dead(record), "a free pid is dead"


@linux_only
def test_a_reused_pid_is_not_mistaken_for_the_owner(sleeper: subprocess.Popen[bytes]) -> None:
    """The pid of a live unrelated process, started at another time than the owner: dead."""
    assert owner_is_dead(record_of(sleeper.pid, start=start_ticks(sleeper.pid) - 1))
    assert owner_is_dead(record_of(os.getpid(), start=start_ticks(os.getpid()) + 1))


@linux_only
def test_records_this_host_cannot_check_count_as_alive(sleeper: subprocess.Popen[bytes]) -> None:
    record = record_of(sleeper.pid)
    sleeper.kill()
    sleeper.wait()
    assert owner_is_dead(record)
    for changes in ({"host": "elsewhere"}, {"boot": "another-boot"}, {"pidns": "pid:[1]"}, {"start": None}):
        assert not owner_is_dead({**record, **changes}), changes
    for malformed in (None, "w:1", {}, {"pid": "1"}, {**record, "pid": True}, {**record, "pid": -1}):
        assert not owner_is_dead(malformed), malformed


# -- trials and leases of dead owners, in one process ------------------------------------------


@pytest.fixture()
def dead_record(sleeper: subprocess.Popen[bytes]) -> dict[str, Any]:
    record = record_of(sleeper.pid)
    sleeper.kill()
    sleeper.wait()
    return record


@pytest.fixture()
def study(tmp_path: Path) -> optuna.Study:
    return optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}")


def running_with_owner(study: optuna.Study, owner: object) -> FrozenTrial:
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0.0, 1.0)})
    if owner is not None:
        study._storage.set_trial_system_attr(trial._trial_id, OWNER_ATTR, owner)
    return study.trials[trial.number]


@linux_only
def test_a_running_trial_of_a_dead_process_is_failed_and_retried_at_once(
    study: optuna.Study, dead_record: dict[str, Any]
) -> None:
    dead = running_with_owner(study, dead_record)
    elsewhere = running_with_owner(study, {**dead_record, "host": "elsewhere"})
    legacy = running_with_owner(study, None)  # a study written before owner records
    mine = running_with_owner(study, this_process())
    assert fail_stale_trials(study, GRACE, 1) == [dead.number]
    trials = study.trials
    assert "no longer exists" in stored_record(trials[dead.number]).failure
    assert {t.number for t in trials if t.state == TrialState.RUNNING} == {
        elsewhere.number,
        legacy.number,
        mine.number,
    }
    (retry,) = [t for t in trials if t.state == TrialState.WAITING]
    assert RetryRecord.from_trial(retry) == RetryRecord(of=dead.number, attempt=1)
    assert retry.system_attrs["fixed_params"] == dead.params


@linux_only
def test_the_lease_of_a_dead_process_is_taken_over_at_once(
    study: optuna.Study, dead_record: dict[str, Any]
) -> None:
    clock = FakeClock()
    lease = StudyLease(study, "lease", "heir", 0.05, GRACE, 0.01, clock=clock)
    study.set_user_attr("lease:dead", {"owner": "dead", "stamp": clock.now(), "process": dead_record})
    assert lease.holder() is None
    assert asyncio.run(lease.acquire()) and lease.holder() == "heir"


@linux_only
@pytest.mark.parametrize(
    "process", [{"host": "elsewhere"}, None], ids=["another host", "a claim without a process"]
)
def test_a_lease_this_host_cannot_check_is_held_until_stale(
    study: optuna.Study, dead_record: dict[str, Any], process: dict[str, str] | None
) -> None:
    clock = FakeClock()
    lease = StudyLease(study, "lease", "heir", 0.05, GRACE, 0.01, clock=clock)
    claim: dict[str, Any] = {"owner": "other", "stamp": clock.now()}
    if process is not None:
        claim["process"] = {**dead_record, **process}
    study.set_user_attr("lease:other", claim)
    clock.advance(GRACE)
    assert not asyncio.run(lease.acquire()) and lease.holder() == "other"
    clock.advance(0.001)
    assert asyncio.run(lease.acquire()) and lease.holder() == "heir"


def test_trials_the_parent_fails_as_interrupted_are_queued_again_once(study: optuna.Study) -> None:
    ours = running_with_owner(study, {**this_process(), "worker": "run1:0"})
    theirs = running_with_owner(study, {**this_process(), "worker": "run2:0"})
    legacy = running_with_owner(study, None)
    study._storage.set_trial_system_attr(legacy._trial_id, "crystallize:worker", "run1:1")
    assert fail_trials_of_workers(study, "run1", time.time(), 1) == [
        ours.number,
        legacy.number,
    ]
    assert fail_trials_of_workers(study, "run1", time.time(), 1) == []
    trials = study.trials
    assert trials[theirs.number].state == TrialState.RUNNING
    retries = sorted(t.user_attrs[RETRY]["of"] for t in trials if t.state == TrialState.WAITING)
    assert retries == [ours.number, legacy.number]


# -- silence: the grace period, on a clock the test moves ----------------------------------------


def test_a_trial_is_stale_once_silent_for_longer_than_the_grace_period(study: optuna.Study) -> None:
    """Silence counts from the last heartbeat, or from the trial's start before the first one."""
    clock = FakeClock(time.time())  # trials start on the real clock: begin there
    silent = running_with_owner(study, None)
    beating = running_with_owner(study, None)
    assert silent.datetime_start is not None
    started = silent.datetime_start.timestamp()
    clock.advance(started + GRACE - clock.now())
    study._storage.set_trial_system_attr(beating._trial_id, HEARTBEAT_ATTR, clock.now())
    assert fail_stale_trials(study, GRACE, 1, clock=clock) == []
    clock.advance(0.001)  # just over the grace period after the start
    assert fail_stale_trials(study, GRACE, 1, clock=clock) == [silent.number]
    assert "no heartbeat" in stored_record(study.trials[silent.number]).failure
    clock.advance(GRACE - 0.001)  # the grace period after the heartbeat: still live
    assert fail_stale_trials(study, GRACE, 1, clock=clock) == []
    clock.advance(0.001)
    assert fail_stale_trials(study, GRACE, 1, clock=clock) == [beating.number]


def test_a_heartbeat_keeps_a_trial_live_past_the_grace_period(study: optuna.Study) -> None:
    clock = FakeClock(time.time())
    trial = running_with_owner(study, None)
    with TrialHeartbeat(study._storage, trial._trial_id, 0.02, clock=clock):
        clock.advance(3 * GRACE)  # silent that long, until the next beat stamps the new time
        servers.wait_for(
            lambda: study.trials[trial.number].system_attrs.get(HEARTBEAT_ATTR) == clock.now(),
            timeout=30,
            what="the next heartbeat",
        )
        assert fail_stale_trials(study, GRACE, 1, clock=clock) == []
    assert study.trials[trial.number].system_attrs[OWNER_ATTR]["pid"] == os.getpid()
    clock.advance(GRACE + 0.001)  # no beats after the block
    assert fail_stale_trials(study, GRACE, 1, clock=clock) == [trial.number]


def test_a_retry_lost_by_a_process_that_stopped_after_the_fail_is_queued_once_later(
    study: optuna.Study, tmp_path: Path
) -> None:
    """A process that stops between failing a stale trial and queueing its parameters (here: it
    exits where it would queue them) loses nothing: once the failure is older than the grace
    period, the next stale-trial check queues the retry it promised, once."""
    stale = running_with_owner(study, None)
    url = f"sqlite:///{tmp_path / 'study.db'}"  # the ``study`` fixture's
    script = (
        "import os, optuna\n"
        "from crystallize_opt.coordination import fail_stale_trials\n"
        "optuna.Study.enqueue_trial = lambda *a, **k: os._exit(9)\n"
        f"study = optuna.load_study(study_name='s', storage={url!r})\n"
        "fail_stale_trials(study, 0.0, 2)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == 9, done.stderr.decode()
    failed = study.trials[stale.number]
    assert failed.state == TrialState.FAIL and stored_record(failed).retry == 1
    assert [t for t in study.trials if t.state == TrialState.WAITING] == []

    assert failed.datetime_complete is not None
    ended = failed.datetime_complete.timestamp()
    fail_stale_trials(study, 0.0, 2, clock=FakeClock(ended + 30))  # a short grace period: a minute at least
    assert [t for t in study.trials if t.state == TrialState.WAITING] == [], "queued within a minute"
    clock = FakeClock(ended + GRACE)
    assert fail_stale_trials(study, GRACE, 2, clock=clock) == []
    assert [t for t in study.trials if t.state == TrialState.WAITING] == [], "queued within the grace period"
    clock.advance(0.001)
    fail_stale_trials(study, GRACE, 2, clock=clock)
    fresh = optuna.load_study(study_name="s", storage=url)  # another process's view: no cache
    for checker in (study, fresh):
        fail_stale_trials(checker, GRACE, 2, clock=clock)
    (retry,) = [t for t in study.trials if t.state == TrialState.WAITING]
    assert RetryRecord.from_trial(retry) == RetryRecord(of=stale.number, attempt=1)
    assert retry.system_attrs["fixed_params"] == stale.params


def test_a_retry_queued_by_the_failing_process_is_not_queued_again(
    study: optuna.Study, tmp_path: Path
) -> None:
    """Nor is a failure past ``max_retries`` (it promised none)."""
    clock = FakeClock(time.time())
    first = running_with_owner(study, None)
    clock.advance(GRACE + 1)
    assert fail_stale_trials(study, GRACE, 1, clock=clock) == [first.number]
    (retry,) = [t for t in study.trials if t.state == TrialState.WAITING]
    retried = study.ask()  # the queued retry runs, and goes stale too: not retried again
    assert retried.number == retry.number
    clock.advance(GRACE + 1)
    assert fail_stale_trials(study, GRACE, 1, clock=clock) == [retry.number]
    assert stored_record(study.trials[retry.number]).retry is None
    clock.advance(10 * GRACE)
    fresh = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert fail_stale_trials(fresh, GRACE, 1, clock=clock) == []
    assert [t.number for t in study.trials if t.state == TrialState.WAITING] == []
    assert len(study.trials) == 2


# -- kill -9 of real runs ----------------------------------------------------------------------


def optimize_command(folder: Path, place: servers.StudyPlace, *extra: str) -> list[str]:
    where = ("--storage", place.url, "--study", place.name, "--no-report", "-q")
    return servers.cli_command("optimize", str(folder), *where, *extra)


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def timed_rerun(processes: servers.Processes, command: list[str]) -> float:
    """Run ``command`` to its end (exit 0); return its wall time, which must be far below the
    grace period (the process is killed and the test fails after ``QUICK`` seconds)."""
    started = time.monotonic()
    code, output = processes.finish(processes.start(command), timeout=QUICK)
    assert code == 0, output
    return time.monotonic() - started


def retries_of(trials: list[FrozenTrial], failed: FrozenTrial) -> list[FrozenTrial]:
    return [t for t in trials if t.user_attrs.get(RETRY, {}).get("of") == failed.number]


def assert_retried_once(trials: list[FrozenTrial], failed: FrozenTrial) -> None:
    (retry,) = retries_of(trials, failed)
    assert retry.state == TrialState.COMPLETE and retry.params == failed.params


@linux_only
@pytest.mark.slow
@pytest.mark.timeout(150)
def test_a_serial_rerun_after_kill_9_retries_the_dead_trial_without_waiting(
    tmp_path: Path, quiet_workdir: Path
) -> None:
    target = 4
    folder = servers.write_study(tmp_path / "tiny", sleep=0.2, trials=target, extra_yaml=LONG_GRACE)
    with servers.study_place("sqlite", tmp_path) as place, servers.Processes(tmp_path) as processes:
        command = optimize_command(folder, place)
        victim = processes.start(command)
        caught = servers.stop_mid_trial(victim.pid, place.url, place.name, min_complete=1, timeout=90)
        kill(victim.pid)
        victim.wait(timeout=10)
        elapsed = timed_rerun(processes, command)
        trials = place.trials()
        servers.assert_consistent(trials, target)
        dead = trials[caught.number]
        assert dead.state == TrialState.FAIL and "no longer exists" in servers.failure_of(dead)
        assert_retried_once(trials, dead)
        print(f"serial rerun after kill -9: {elapsed:.1f} s (grace period {GRACE:g} s)")


@linux_only
@pytest.mark.slow
@pytest.mark.timeout(150)
def test_a_rerun_after_kill_9_during_winner_selection_takes_the_lease_at_once(
    tmp_path: Path, quiet_workdir: Path
) -> None:
    folder = servers.write_study(
        tmp_path / "tiny", sleep=0.05, trials=8, extra_yaml=LONG_GRACE + "  noise: true\n"
    )
    with servers.Processes(tmp_path) as processes:
        with servers.study_place("sqlite", tmp_path) as reference:
            timed_rerun(processes, optimize_command(folder, reference))
            expected = stored_selection(reference.load())
        assert expected is not None
        with servers.study_place("sqlite", tmp_path) as place:
            command = optimize_command(folder, place)
            victim = processes.start(command)

            def choosing() -> bool:
                """A selection lease is claimed (read with sqlite3: fast enough to poll)."""
                with contextlib.closing(sqlite3.connect(tmp_path / "study.db", timeout=5)) as db:
                    try:
                        rows = db.execute(
                            "SELECT value_json FROM study_user_attributes WHERE key LIKE ?",
                            ("crystallize_selection_lease:%",),
                        ).fetchall()
                    except sqlite3.OperationalError:  # no tables yet
                        return False
                return any(json.loads(value) for (value,) in rows)

            servers.wait_for(choosing, timeout=60, what="the run to choose the winner", interval=0.02)
            kill(victim.pid)
            victim.wait(timeout=10)
            assert stored_selection(place.load()) is None, "killed before the choice was stored"
            elapsed = timed_rerun(processes, command)
            chosen = stored_selection(place.load())
    assert chosen is not None and chosen.winner == expected.winner
    print(f"rerun after kill -9 during winner selection: {elapsed:.1f} s (grace period {GRACE:g} s)")


def worker_pids(parent: int) -> list[int]:
    """The workers of ``crystallize-opt optimize --workers N`` started as ``parent``: the
    processes of its group started by its forkserver (not by the parent itself)."""
    found = []
    for pid in servers.living_in_group(parent):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if pid != parent and int(stat[stat.rindex(")") + 2 :].split()[1]) != parent:
            found.append(pid)
    return found


def stop_workers_mid_trial(place: servers.StudyPlace, parent: int, count: int) -> list[int]:
    """Stop ``count`` of the run's two workers, each in the middle of a trial; their pids."""

    def both() -> list[int]:
        found = worker_pids(parent)
        return found if len(found) == 2 else []

    pids = servers.wait_for(both, timeout=60, what="both workers to start")
    for pid in pids[:count]:
        servers.stop_mid_trial(pid, place.url, place.name, timeout=60)
    return pids[:count]


@linux_only
@pytest.mark.slow
@pytest.mark.timeout(150)
def test_when_a_worker_is_killed_the_other_takes_its_trial_over_at_once(
    tmp_path: Path, quiet_workdir: Path
) -> None:
    target = 6
    folder = servers.write_study(tmp_path / "tiny", sleep=0.2, trials=target, extra_yaml=LONG_GRACE)
    with servers.study_place("sqlite", tmp_path) as place, servers.Processes(tmp_path) as processes:
        parent = processes.start(optimize_command(folder, place, "--workers", "2"))
        (pid,) = stop_workers_mid_trial(place, parent.pid, 1)
        kill(pid)
        killed = time.monotonic()
        code, output = processes.finish(parent, timeout=QUICK)
        elapsed = time.monotonic() - killed
        assert code == 1 and "worker exit codes" in output, output  # the run reports the dead worker
        trials = place.trials()
        servers.assert_consistent(trials, target)
        (dead,) = servers.real_failures(trials)
        assert "no longer exists" in servers.failure_of(dead)
        assert_retried_once(trials, dead)
        assert dead.datetime_complete is not None
        noticed = dead.datetime_complete.timestamp() - (time.time() - (time.monotonic() - killed))
        print(
            f"a worker's kill -9: its trial failed after {noticed:.2f} s, the run ended after {elapsed:.1f} s"
        )


@linux_only
@pytest.mark.slow
@pytest.mark.timeout(150)
def test_trials_the_parent_fails_as_interrupted_are_retried_by_the_next_run(
    tmp_path: Path, quiet_workdir: Path
) -> None:
    target = 6
    folder = servers.write_study(tmp_path / "tiny", sleep=0.2, trials=target, extra_yaml=LONG_GRACE)
    with servers.study_place("sqlite", tmp_path) as place, servers.Processes(tmp_path) as processes:
        command = optimize_command(folder, place, "--workers", "2")
        parent = processes.start(command)
        for pid in stop_workers_mid_trial(place, parent.pid, 2):
            kill(pid)
        code, output = processes.finish(parent, timeout=QUICK)
        assert code == 1, output
        failed = servers.real_failures(place.trials())
        assert any("interrupted" in servers.failure_of(t) for t in failed), [
            servers.failure_of(t) for t in failed
        ]
        timed_rerun(processes, command)
        trials = place.trials()
        servers.assert_consistent(trials, target)
        assert [t.number for t in servers.real_failures(trials)] == [t.number for t in failed]
        for trial in failed:
            assert_retried_once(trials, trial)


if __name__ == "__main__":  # pragma: no cover - run by hand to read the timings
    sys.exit(pytest.main([__file__, "-s", "-q"]))
