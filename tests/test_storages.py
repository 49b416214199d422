"""Every kind of storage URL round-trips a small optimization, with everything we store."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from crystallize_opt import ConfigurationError
from crystallize_opt.coordination import fail_stale_trials
from crystallize_opt.records import RetryRecord, TrialRecord
from crystallize_opt.storage import RetryingRDBStorage, finish_trial, resolve_storage

from . import servers
from .servers import optimizer_for


@pytest.fixture(autouse=True)
def _quiet(quiet_workdir: Path) -> None:
    """Every test runs in its own folder, with Optuna's per-trial logging off."""


def test_each_storage_kind_round_trips_a_small_optimization(place: servers.StudyPlace) -> None:
    exp = servers.tiny_experiment()
    best = exp.optimize(
        optimizer_for(place.url, place.name, run_baseline=True), num_trials=2, replicates_per_trial=2
    )

    study = place.load()  # a fresh storage object, as another process (or plain Optuna) opens it
    settings = study.user_attrs["crystallize"]
    assert settings["objective"]["metrics"] == ["loss"] and settings["replicates_per_trial"] == 2
    assert settings["master_seed"] == exp.master_seed
    assert len(study.user_attrs["crystallize_baseline"]["values"]["loss"]) == 2
    trials = study.get_trials(deepcopy=False)
    servers.assert_consistent(trials, 2)
    for trial in trials:
        record = trial.user_attrs["crystallize"]
        assert len(record["values"]["loss"]) == 2 and len(record["seeds"]) == 2
        assert record["stats"]["loss"]["n"] == 2
        assert trial.value == pytest.approx(record["stats"]["loss"]["mean"])
    assert best.name == f"trial-{study.best_trial.number}"

    # A second optimizer on the same URL continues the study up to its new target.
    exp.optimize(optimizer_for(place.url, place.name), num_trials=3, replicates_per_trial=2)
    servers.assert_consistent(place.trials(), 3)


def test_the_in_memory_storage_still_works() -> None:
    exp = servers.tiny_experiment()
    optimizer = optimizer_for(":memory:", "memory")
    exp.optimize(optimizer, num_trials=3, replicates_per_trial=2)
    assert len(optimizer.study.get_trials(states=(TrialState.COMPLETE,))) == 3


@pytest.mark.parametrize(
    "url",
    [
        "nosuchdatabase://somewhere/db",
        "mysql+nosuchdriver://root@127.0.0.1:3306/test",
        "postgresql+psycopg://postgres@127.0.0.1:not-a-port/test",
        "sqlite:////proc/version/cannot/be/a/folder.db",
        "journal:////proc/version/cannot/be/a/folder.log",
        "journal://no-third-slash.log",
    ],
)
def test_a_bad_storage_url_is_a_configuration_error_naming_it(url: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        resolve_storage(url)
    assert url in str(raised.value)
    with pytest.raises(ConfigurationError, match="storage"):
        optimizer_for(url, "bad")


def test_a_storage_that_is_not_a_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="storage must be a URL"):
        resolve_storage(42)  # type: ignore[arg-type]


POP_QUEUED = """
import json, sys
import optuna
from crystallize_opt.storage import resolve_storage

optuna.logging.set_verbosity(optuna.logging.ERROR)
study = optuna.load_study(study_name=sys.argv[2], storage=resolve_storage(sys.argv[1]))
taken = []
while True:
    trial = study.ask()  # takes a queued (WAITING) trial while there is one
    if "x" not in trial.params and trial.number >= int(sys.argv[3]):
        study.tell(trial, state=optuna.trial.TrialState.FAIL)  # past the queue: done
        break
    taken.append(trial.number)
    study.tell(trial, 0.0)
print("taken", json.dumps(taken))
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_processes_taking_queued_trials_never_take_the_same_one(place: servers.StudyPlace) -> None:
    """Workers that take queued trials at once (retried stale trials, warm starts, queued
    replicates) each get a different one: a trial that two workers run is stored twice, or one
    result is thrown away. Optuna's WAITING -> RUNNING check and write are not atomic on SQLite."""
    queued = 120
    study = optuna.create_study(study_name=place.name, storage=resolve_storage(place.url))
    for i in range(queued):
        study.enqueue_trial({"x": float(i)}, user_attrs={"queued": i})
    with servers.Processes(Path.cwd()) as processes:
        started = [
            processes.start([sys.executable, "-c", POP_QUEUED, place.url, place.name, str(queued)])
            for _ in range(3)
        ]
        results = [processes.finish(process, timeout=240) for process in started]
    taken = []
    for code, output in results:
        assert code == 0, output
        (line,) = [line for line in output.splitlines() if line.startswith("taken ")]
        taken.extend(json.loads(line.removeprefix("taken ")))
    assert len(taken) == len(set(taken)), (
        f"taken twice: {sorted(n for n in set(taken) if taken.count(n) > 1)}"
    )
    assert sorted(taken) == list(range(queued))


# -- a commit that lands, but whose answer the connection drops --------------------------------


@contextmanager
def answer_lost(storage: RetryingRDBStorage, statement: str, nth: int = 1) -> Iterator[list[str]]:
    """The ``nth`` transaction that runs a statement starting with ``statement`` commits on the
    database, then fails as if the connection had dropped before the server's answer arrived
    (the driver's own "lost connection" error). Yields a list that holds ``statement`` once it did."""
    engine, lost, count = storage.engine, [], [0]
    ran: list[Any] = []  # the DBAPI connection whose transaction ran the statement the nth time

    def seen(connection: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        if sql.startswith(statement):
            count[0] += 1
            if count[0] == nth:
                ran.append(connection.connection.dbapi_connection)

    dialect = engine.dialect
    commit = dialect.do_commit

    def commit_then_drop(connection: Any) -> None:
        commit(connection)
        if not lost and any(connection.dbapi_connection is each for each in ran):
            lost.append(statement)
            dbapi = dialect.loaded_dbapi
            if dialect.name in ("mysql", "mariadb"):
                raise dbapi.OperationalError(2013, "Lost connection to MySQL server during query")
            raise dbapi.OperationalError("server closed the connection unexpectedly")

    sqlalchemy.event.listen(engine, "before_cursor_execute", seen)
    dialect.do_commit = commit_then_drop  # type: ignore[method-assign]
    try:
        yield lost
    finally:
        del dialect.do_commit
        sqlalchemy.event.remove(engine, "before_cursor_execute", seen)


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def rdb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[optuna.Study, RetryingRDBStorage]]:
    """A new study on a SQLite file or a PostgreSQL or MariaDB server (skipped without its URL)."""
    with servers.study_place(request.param, tmp_path) as place, servers.opened(place.url) as storage:
        assert isinstance(storage, RetryingRDBStorage)
        yield optuna.create_study(study_name=place.name, storage=storage), storage


def test_a_trial_is_created_taken_and_finished_once_when_the_answer_to_the_commit_is_lost(
    rdb: tuple[optuna.Study, RetryingRDBStorage],
) -> None:
    """Retried blindly, a create made a second trial and left the first RUNNING with nobody on
    it; a claim took a second queued (or new) trial and left the first RUNNING; a finish found
    its own trial finished and raised, as if another worker had failed it as stale."""
    study, storage = rdb
    with answer_lost(storage, "INSERT INTO trials ") as lost:
        asked = study.ask()
    with answer_lost(storage, "INSERT INTO trials ") as lost_too:
        study.enqueue_trial({"x": 1.0})
    assert lost and lost_too
    assert [(t.number, t.state) for t in study.get_trials()] == [
        (0, TrialState.RUNNING),
        (1, TrialState.WAITING),
    ]
    assert asked.number == 0

    with answer_lost(storage, "UPDATE trials SET state") as lost:
        taken = study.ask({"x": FloatDistribution(0.0, 2.0)})  # claims the queued trial
    assert lost and (taken.number, taken.params) == (1, {"x": 1.0})
    assert [t.state for t in study.get_trials()] == [TrialState.RUNNING] * 2

    asked_id = storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name(study.study_name), asked.number
    )
    record = {"crystallize": {"values": {"loss": [1.0, 2.0]}}}
    with answer_lost(storage, "UPDATE trials SET state") as lost:
        finish_trial(storage, asked_id, TrialState.COMPLETE, [1.5], record)
    assert lost
    stored = study.get_trials()[0]
    assert (stored.state, stored.value, stored.user_attrs) == (TrialState.COMPLETE, 1.5, record)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):  # another result is still refused
        finish_trial(storage, asked_id, TrialState.FAIL, None, {"crystallize": {}})
    with answer_lost(storage, "UPDATE trials SET state") as lost:
        study.tell(taken, 2.5)  # Optuna's own tell, on this storage
    assert lost and study.get_trials()[1].value == 2.5


def test_a_run_whose_last_trial_creation_answer_is_lost_still_reaches_its_target(tmp_path: Path) -> None:
    """The flaky MariaDB fault test's ending, made on purpose: the lost create left trial 2
    RUNNING, the worker gave its duplicate (trial 3) up as "not needed" since trial 2 seemed
    to be running, and the run ended with 2 of 3 trials complete."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    optimizer = optimizer_for(url, "s", heartbeat_interval=0.5, grace_period=2.0)
    assert isinstance(optimizer.storage, RetryingRDBStorage)
    with answer_lost(optimizer.storage, "INSERT INTO trials ", nth=3) as lost:
        servers.tiny_experiment().optimize(optimizer, num_trials=3, replicates_per_trial=2)
    assert lost
    servers.assert_consistent(servers.trials_of(url, "s"), 3)


def test_a_stale_trial_whose_fail_answer_is_lost_is_queued_again_once(
    rdb: tuple[optuna.Study, RetryingRDBStorage],
) -> None:
    """The process whose FAIL of an abandoned trial landed queues its parameters again even when
    the commit's answer was lost: its retry found the trial failed, took it for another
    process's doing, and nobody queued the parameters (the retry was lost)."""
    study, storage = rdb
    asked = study.ask({"x": FloatDistribution(0.0, 2.0)})
    stale = study.get_trials()[asked.number]
    with answer_lost(storage, "UPDATE trials SET state") as lost:
        # A grace period of -1 s: every RUNNING trial counts as stale at once.
        assert fail_stale_trials(study, -1.0, max_retries=2) == [stale.number]
    assert lost
    failed, queued = study.get_trials()
    assert (failed.state, queued.state) == (TrialState.FAIL, TrialState.WAITING)
    record = TrialRecord.from_trial(failed)
    assert record is not None and record.failure is not None and "no heartbeat" in record.failure
    assert list(failed.user_attrs) == [TrialRecord.ATTR], "the once-token is no user attribute"
    assert queued.system_attrs["fixed_params"] == stale.params
    assert RetryRecord.from_trial(queued) == RetryRecord(of=stale.number, attempt=1)
    assert fail_stale_trials(study, -1.0, max_retries=2) == [], "the queued trial is not running"


@pytest.mark.timeout(120)
def test_processes_failing_the_same_stale_trials_at_once_queue_each_once(place: servers.StudyPlace) -> None:
    """Workers that find the same abandoned trials at the same moment (each on its own storage,
    as separate processes) fail each once and queue its parameters once, on every storage kind."""
    rounds, workers = 4, 3
    study = optuna.create_study(study_name=place.name, storage=resolve_storage(place.url))
    for i in range(rounds):
        study.enqueue_trial({"x": float(i)})
        study.ask({"x": FloatDistribution(0.0, 10.0)})
    studies = [place.load() for _ in range(workers)]
    start = threading.Barrier(workers)
    failed: list[list[int]] = [[] for _ in range(workers)]

    def fail_all(index: int) -> None:
        start.wait()
        # A grace period of -1 s: every RUNNING trial counts as stale at once.
        failed[index] = fail_stale_trials(studies[index], -1.0, max_retries=1)

    threads = [threading.Thread(target=fail_all, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=100)
    assert sorted(n for each in failed for n in each) == list(range(rounds)), failed
    trials = place.trials()
    assert [t.state for t in trials[:rounds]] == [TrialState.FAIL] * rounds
    retried = sorted(RetryRecord.from_trial(t).of for t in trials if t.state == TrialState.WAITING)  # type: ignore[union-attr]
    assert retried == list(range(rounds)) and len(trials) == 2 * rounds
    assert sorted(t.system_attrs["fixed_params"]["x"] for t in trials[rounds:]) == [
        float(i) for i in range(rounds)
    ]
