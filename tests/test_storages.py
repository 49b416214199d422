"""Every kind of storage URL round-trips a small optimization, with everything we store."""

from __future__ import annotations

import json
import sys
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
from crystallize_opt._optuna_compat import trial_id
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
def answer_lost(storage: RetryingRDBStorage, statement: str) -> Iterator[list[str]]:
    """The first transaction that runs a statement starting with ``statement`` commits on the
    database, then fails as if the connection had dropped before the server's answer arrived
    (the driver's own "lost connection" error). Yields a list that holds ``statement`` once it did."""
    engine, lost = storage.engine, []
    ran: list[Any] = []  # the DBAPI connections whose transaction ran the statement

    def seen(connection: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        if sql.startswith(statement):
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


def test_a_trial_whose_creation_answer_is_lost_is_created_once(
    rdb: tuple[optuna.Study, RetryingRDBStorage],
) -> None:
    """Retried blindly, the create made a second trial and left the first RUNNING with nobody
    on it: a worker counted it as running and ended the study one trial short of its target."""
    study, storage = rdb
    with answer_lost(storage, "INSERT INTO trials ") as lost:
        asked = study.ask()
    assert lost
    with answer_lost(storage, "INSERT INTO trials ") as lost:
        study.enqueue_trial({"x": 1.0})
    assert lost
    trials = study.get_trials()
    assert [(t.number, t.state) for t in trials] == [(0, TrialState.RUNNING), (1, TrialState.WAITING)]
    assert asked.number == 0
    study.tell(asked, 1.0)


def test_a_queued_trial_whose_claim_answer_is_lost_is_run_by_its_claimer(
    rdb: tuple[optuna.Study, RetryingRDBStorage],
) -> None:
    study, storage = rdb
    study.enqueue_trial({"x": 1.0})
    with answer_lost(storage, "UPDATE trials SET state") as lost:
        taken = study.ask({"x": FloatDistribution(0.0, 2.0)})  # claims the queued trial
    assert lost
    assert (taken.number, taken.params) == (0, {"x": 1.0})
    assert [t.state for t in study.get_trials()] == [TrialState.RUNNING]


def test_a_trial_whose_finishing_answer_is_lost_is_finished_without_an_error(
    rdb: tuple[optuna.Study, RetryingRDBStorage],
) -> None:
    """The retry found the trial finished and raised, and the worker took its own result for
    one thrown away because another worker had failed the trial as stale."""
    study, storage = rdb
    trial = study.ask()
    record = {"crystallize": {"values": {"loss": [1.0, 2.0]}}}
    with answer_lost(storage, "UPDATE trials SET state") as lost:
        finish_trial(storage, trial_id(study, trial), TrialState.COMPLETE, [1.5], record)
    assert lost
    (stored,) = study.get_trials()
    assert (stored.state, stored.value, stored.user_attrs) == (TrialState.COMPLETE, 1.5, record)
    # Another result for a trial already finished is still refused.
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        finish_trial(storage, trial_id(study, trial), TrialState.FAIL, None, {"crystallize": {}})
    told = study.ask()  # Optuna's own tell, on this storage
    with answer_lost(storage, "UPDATE trials SET state") as lost:
        study.tell(told, 2.5)
    assert lost and study.get_trials()[1].value == 2.5
