"""Faults: killed and signalled workers, workers racing to create a study, dropped connections.

Every test is bounded in time (each wait polls with a deadline) and ends every process it
started (``servers.Processes`` kills whole process groups on the way out).
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.pool import NullPool

from crystallize_opt import Objective, OptunaOptimizer

from . import servers

# Every test starts worker processes; none may hang the suite (cleanup still runs on timeout).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

HEARTBEAT = 0.5
GRACE = 2.0
SPACE = {"x": FloatDistribution(-2.0, 3.0)}


@pytest.fixture(autouse=True)
def _quiet(quiet_workdir: Path) -> None:
    """Every test here runs in its own folder, without Optuna's per-trial logging."""


#: The ``optimize:`` lines of a study that notices dead workers within seconds.
FAULT_TOLERANCE = f"  heartbeat_interval: {HEARTBEAT}\n  grace_period: {GRACE}\n"


def worker_command(folder: Path, place: servers.StudyPlace) -> list[str]:
    """``crystallize-opt worker`` on the study folder, joining the test's study."""
    return servers.cli_command("worker", str(folder), "--storage", place.url, "--study", place.name, "-q")


# -- SIGKILL: stale trials ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgres"])
def test_a_worker_killed_mid_trial_has_its_trial_failed_as_stale_and_retried_once(
    tmp_path: Path, kind: str
) -> None:
    target = 6
    folder = servers.write_study(
        tmp_path / "tiny", sleep=0.4, trials=target, replicates_per_trial=2, extra_yaml=FAULT_TOLERANCE
    )
    with servers.study_place(kind, tmp_path) as place, servers.Processes(tmp_path) as processes:
        command = worker_command(folder, place)
        victim = processes.start(command)
        # Once it runs steadily, stop it in the middle of a trial and kill it there.
        caught = servers.stop_mid_trial(victim.pid, place.url, place.name, min_complete=1, timeout=90)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        before = place.trials()
        assert before[caught.number].state == TrialState.RUNNING, "the kill should land mid-trial"
        completed_before = {t.number for t in servers.complete(before)}

        survivors = [processes.start(command) for _ in range(2)]
        for process in survivors:
            code, output = processes.finish(process, timeout=90)
            assert code == 0, output

        after = place.trials()
        servers.assert_consistent(after, target)
        stale = after[caught.number]
        assert stale.state == TrialState.FAIL
        assert "stale" in servers.failure_of(stale), stale.user_attrs
        assert [t.number for t in servers.real_failures(after)] == [caught.number]
        assert completed_before <= {t.number for t in servers.complete(after)}, "a completed trial was lost"
        retried = [
            t
            for t in after
            if t.params == caught.params and t.number != caught.number and not servers.given_up(t)
        ]
        if not retried:
            # Lower-numbered trials of the survivors reached the target while the retry was
            # queued (it is numbered when queued): its worker gave it up as "not needed", and
            # its parameters wait, queued, for the next run that has trials to spare.
            waiting = [
                t
                for t in after
                if t.state == TrialState.WAITING and t.system_attrs.get("fixed_params") == caught.params
            ]
            assert len(waiting) == 1, "the retry is kept queued when the target was reached first"
            retried = waiting
        else:
            assert retried[0].state == TrialState.COMPLETE
        assert len(retried) == 1, "its parameters are tried again exactly once"
        assert retried[0].number > caught.number
        assert retried[0].user_attrs.get("crystallize_retry", {}).get("of") == caught.number
        # Its process is gone from this host: failed as soon as a survivor looked, without
        # waiting for the grace period (test_liveness.py shows it with a grace period of minutes).
        assert "no longer exists" in servers.failure_of(stale), stale.user_attrs
        last_beat = stale.system_attrs.get("crystallize:heartbeat", caught.datetime_start.timestamp())
        assert stale.datetime_complete is not None
        assert stale.datetime_complete.timestamp() - float(last_beat) <= GRACE + 15


def _orphan_study(place: servers.StudyPlace) -> FrozenTrial:
    """A study with one complete trial and one RUNNING trial that nobody works on."""
    servers.tiny_experiment().optimize(_optimizer(place), num_trials=1, replicates_per_trial=2)
    study = place.load()
    orphan = study.ask(SPACE)  # as if its worker had died right after asking
    return study.trials[orphan.number]


def _optimizer(place: servers.StudyPlace, **kwargs: object) -> OptunaOptimizer:
    return OptunaOptimizer(
        search_space=SPACE,
        objective=Objective("loss"),
        sampler=optuna.samplers.TPESampler(seed=0),
        storage=place.url,
        study_name=place.name,
        heartbeat_interval=0.2,
        grace_period=1.0,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("max_retries", [1, 0])
def test_an_orphaned_running_trial_is_failed_by_the_ask_tell_loop(tmp_path: Path, max_retries: int) -> None:
    with servers.study_place("sqlite", tmp_path) as place:
        orphan = _orphan_study(place)
        started = time.monotonic()
        servers.tiny_experiment().optimize(
            _optimizer(place, max_retries=max_retries), num_trials=3, replicates_per_trial=2
        )
        assert time.monotonic() - started < 20
        trials = place.trials()
        servers.assert_consistent(trials, 3)
        failed = trials[orphan.number]
        assert failed.state == TrialState.FAIL and "stale" in servers.failure_of(failed)
        retried = [t for t in trials if t.params == orphan.params and t.number != orphan.number]
        assert len(retried) == max_retries
        assert all(t.state == TrialState.COMPLETE for t in retried)


# -- SIGINT and SIGTERM ------------------------------------------------------------------------


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signalled_worker_stores_its_trial_as_failed_and_a_rerun_resumes(
    tmp_path: Path, signum: int, exit_code: int
) -> None:
    target = 6
    folder = servers.write_study(tmp_path / "tiny", sleep=0.3, trials=target, replicates_per_trial=2)
    with servers.study_place("sqlite", tmp_path) as place, servers.Processes(tmp_path) as processes:
        command = worker_command(folder, place)
        worker = processes.start(command)
        # Stopped mid-trial, the signal waits for SIGCONT: it lands in that trial.
        caught = servers.stop_mid_trial(worker.pid, place.url, place.name, timeout=90)
        worker.send_signal(signum)
        worker.send_signal(signal.SIGCONT)
        code, output = processes.finish(worker, timeout=30)
        assert code == exit_code, output
        assert "Traceback" not in output, output

        trials = place.trials()
        assert "running" not in servers.states(trials), (servers.states(trials), output)
        interrupted = trials[caught.number]
        assert interrupted.state == TrialState.FAIL
        assert "interrupted" in servers.failure_of(interrupted), interrupted.user_attrs
        assert len(servers.complete(trials)) < target

        code, output = processes.finish(processes.start(command), timeout=60)
        assert code == 0, output
        servers.assert_consistent(place.trials(), target)


@pytest.mark.parametrize("via", ["cli", "python"])
def test_ctrl_c_on_a_multi_worker_run_stops_every_worker_and_leaves_nothing_running(
    tmp_path: Path, via: str
) -> None:
    target = 8
    folder = servers.write_study(tmp_path / "tiny", sleep=0.2, trials=target, replicates_per_trial=2)
    with servers.study_place("sqlite", tmp_path) as place, servers.Processes(tmp_path) as processes:
        where = ["--storage", place.url, "--study", place.name]
        if via == "cli":  # crystallize-opt optimize CONFIG --workers 2
            command = servers.cli_command(
                "optimize", str(folder), "--workers", "2", *where, "--no-report", "-q"
            )
        else:  # Experiment.optimize(..., workers=2)
            command = servers.runner_command(str(folder), "--workers", "2", "--trials", str(target), *where)
        parent = processes.start(command)

        def both_mid_trial() -> bool:
            trials = servers.trials_or_none(place.url, place.name) or []
            return sum(t.state == TrialState.RUNNING for t in trials) >= 2

        servers.wait_for(both_mid_trial, timeout=30, what="both workers to be in a trial", interval=0.02)
        os.killpg(parent.pid, signal.SIGINT)  # what a terminal's Ctrl+C does: the whole group
        code, output = processes.finish(parent, timeout=30)
        assert code == 130, output
        servers.wait_for(
            lambda: not servers.living_in_group(parent.pid), timeout=15, what="every worker process to exit"
        )
        trials = place.trials()
        assert "running" not in servers.states(trials), (servers.states(trials), output)
        failed = [t for t in trials if t.state == TrialState.FAIL]
        assert failed and all("interrupted" in servers.failure_of(t) for t in failed)

        code, output = processes.finish(processes.start(command), timeout=90)
        assert code == 0, output
        servers.assert_consistent(place.trials(), target)


# -- SIGKILL of the parent of --workers N ---------------------------------------------------


def test_after_kill_9_of_the_parent_the_workers_finish_the_study_and_nothing_of_the_run_is_left(
    tmp_path: Path,
) -> None:
    """The workers finish the study (0 lost, 0 duplicated); then no process of the run lives on:
    not the workers, not the forkserver that started them, not the resource tracker."""
    target = 8
    folder = servers.write_study(tmp_path / "tiny", sleep=0.2, trials=target, replicates_per_trial=2)
    with servers.study_place("sqlite", tmp_path) as place, servers.Processes(tmp_path) as processes:
        where = ["--storage", place.url, "--study", place.name, "--no-report", "-q"]
        parent = processes.start(servers.cli_command("optimize", str(folder), "--workers", "2", *where))

        def both_mid_trial() -> bool:
            trials = servers.trials_or_none(place.url, place.name) or []
            return sum(t.state == TrialState.RUNNING for t in trials) >= 2

        servers.wait_for(both_mid_trial, timeout=60, what="both workers to be in a trial", interval=0.02)
        started = servers.living_in_group(parent.pid)
        assert len(started) >= 5, started  # the parent, its resource tracker, forkserver, 2 workers
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)

        def alive(pid: int) -> bool:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                return False
            return stat[stat.rindex(")") + 2] != "Z"

        try:
            servers.wait_for(
                lambda: not servers.living_in_group(parent.pid) and not any(alive(pid) for pid in started),
                timeout=90,
                what="every process of the run to exit",
                interval=0.2,
            )
        except AssertionError as exc:
            left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes()[:120] for pid in started if alive(pid)}
            raise AssertionError(f"{exc}; still running: {left}") from None
        servers.assert_consistent(place.trials(), target)


# -- several workers creating one fresh study at the same moment -------------------------------


@pytest.mark.parametrize(("kind", "rounds"), [("sqlite", 2), ("journal", 1), ("postgres", 1), ("mysql", 1)])
def test_four_workers_creating_one_fresh_study_at_once_never_crash(
    tmp_path: Path, kind: str, rounds: int
) -> None:
    """Four processes open a storage nobody has used yet (a new SQLite or journal file, a new,
    empty PostgreSQL or MariaDB database) and create the same study at the same moment.

    Started this way, plain Optuna crashed 2 or 3 of the 4 processes in each of 6 rounds on a
    fresh SQLite file and in each of 3 rounds on a fresh PostgreSQL database (they race on the
    schema: IntegrityError on alembic_version / pg_type). Ours must all finish, with one
    consistent study."""
    folder = servers.write_study(tmp_path / "tiny", trials=8, replicates_per_trial=2)
    for round_number in range(rounds):
        here = tmp_path / f"round-{round_number}"
        here.mkdir()
        if kind in ("postgres", "mysql"):
            with servers.fresh_database(kind) as url:
                _race_once(folder, kind, here, target=8, url=url)
        else:
            _race_once(folder, kind, here, target=8)


def _race_once(folder: Path, kind: str, here: Path, target: int, url: str | None = None) -> None:
    with servers.study_place(kind, here, url=url) as place, servers.Processes(here) as processes:
        start = here / "start"
        command = servers.runner_command(
            str(folder), "--storage", place.url, "--study", place.name, "--trials", str(target),
            "--start-file", str(start), "--ready-dir", str(here),
        )  # fmt: skip
        started = [processes.start(command) for _ in range(4)]
        servers.wait_for(
            lambda: len(list(here.glob("ready-*"))) == 4, timeout=60, what="four workers ready to start"
        )
        if kind == "sqlite":
            assert not Path(place.url.removeprefix("sqlite:///")).exists(), "the database must be fresh"
        start.touch()  # all four open the storage and create the study now
        for process in started:
            code, output = processes.finish(process, timeout=90)
            assert code == 0, f"{here.name}: a worker crashed:\n{output}"
        servers.assert_consistent(place.trials(), target)


# -- dropped database connections --------------------------------------------------------------


def _drop_connections_while_running(
    worker: Callable[[], int | None], drop: Callable[[], int], *, every: float = 0.15, limit: int = 40
) -> int:
    """Call ``drop`` every ``every`` seconds while the worker runs (at most ``limit`` times);
    return how many connections it ended."""
    ended = 0
    for _ in range(limit):
        if worker() is not None:
            break
        ended += drop()
        time.sleep(every)
    return ended


def _a_worker_outlives_dropped_connections(
    tmp_path: Path, kind: str, url: str, drop: Callable[[], int], *, read_url: str, dropped: str
) -> None:
    """Run one ``crystallize-opt worker`` on a 24-trial study at ``url`` (on the ``kind``
    server) and, once two trials are complete, end its connections with ``drop`` while it runs.

    Asserts that the worker exits 0, that ``drop`` ended at least two connections (else the test
    proved nothing; ``dropped`` names them in the message, e.g. "session(s) were ended"), that the
    study is consistent with exactly its target, and that no trial failed other than as stale.
    The test reads the study through ``read_url``, before and after the drops only.
    """
    target = 24
    folder = servers.write_study(
        tmp_path / "tiny", sleep=0.04, trials=target, replicates_per_trial=2, extra_yaml=FAULT_TOLERANCE
    )
    with (
        servers.study_place(kind, tmp_path, url=url) as place,
        servers.Processes(tmp_path) as processes,
    ):
        worker = processes.start(worker_command(folder, place))
        servers.wait_for(
            lambda: len(servers.complete(servers.trials_or_none(read_url, place.name) or [])) >= 2,
            timeout=30,
            what="the first trials",
        )
        ended = _drop_connections_while_running(worker.poll, drop)
        code, output = processes.finish(worker, timeout=120)
        assert code == 0, output
        assert ended >= 2, f"only {ended} {dropped} while the worker ran; the test proved nothing"
        trials = servers.trials_of(read_url, place.name)
        servers.assert_consistent(trials, target)
        unexpected = [t.number for t in servers.real_failures(trials) if "stale" not in servers.failure_of(t)]
        assert not unexpected, f"trials failed by dropped connections: {unexpected}\n{output}"


def test_postgresql_sessions_ended_by_the_server_are_retried_and_nothing_is_lost(tmp_path: Path) -> None:
    base = servers.server_url("postgres")
    # The worker's sessions carry this name, so that only they are ended.
    app = f"crystallize-fault-{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(base, poolclass=NullPool)

    def terminate() -> int:
        with admin.connect() as connection:
            rows = connection.execute(
                sqlalchemy.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND application_name = :app"
                ),
                {"app": app},
            ).all()
        return sum(1 for (ended,) in rows if ended)

    try:
        _a_worker_outlives_dropped_connections(
            tmp_path,
            "postgres",
            servers.with_query(base, application_name=app),
            terminate,
            read_url=base,  # the plain URL, so our reads are never the ones ended
            dropped="session(s) were ended",
        )
    finally:
        admin.dispose()


def test_mariadb_connections_killed_by_the_server_are_retried_and_nothing_is_lost(tmp_path: Path) -> None:
    admin = sqlalchemy.create_engine(
        servers.server_url("mysql"), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    # A database of its own, so that killing every session on it kills only this test's.
    with servers.fresh_database("mysql") as url:
        database = sqlalchemy.engine.make_url(url).database

        def kill() -> int:
            ended = 0
            with admin.connect() as connection:
                sessions = connection.execute(
                    sqlalchemy.text(
                        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = :db AND ID <> CONNECTION_ID()"
                    ),
                    {"db": database},
                ).scalars()
                for session in list(sessions):
                    try:
                        connection.execute(sqlalchemy.text(f"KILL {int(session)}"))
                        ended += 1
                    except sqlalchemy.exc.OperationalError:  # it ended by itself meanwhile
                        pass
            return ended

        try:
            # Reading through the same URL is safe: the test reads only before and after the kills.
            _a_worker_outlives_dropped_connections(
                tmp_path, "mysql", url, kill, read_url=url, dropped="connection(s) were killed"
            )
        finally:
            admin.dispose()
