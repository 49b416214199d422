"""Every private Optuna access of crystallize_opt._optuna_compat: its fast path is taken on the
installed Optuna (5.0 and 5.1 in CI), its fallback gives the same result where the private name
is missing (removed here with monkeypatch), and failures other than a missing name surface.

Each test runs against a real SQLite storage made by crystallize-opt's own ``resolve_storage``."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy
from optuna.distributions import FloatDistribution
from optuna.exceptions import StorageInternalError, UpdateFinishedTrialError
from optuna.samplers import GridSampler
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from crystallize_opt import OptimizationError, StorageFileError
from crystallize_opt import _optuna_compat as compat
from crystallize_opt.config import load_study
from crystallize_opt.optimize._tell import tell_trial
from crystallize_opt.storage import (
    RetryingRDBStorage,
    count_states,
    fail_running_trial,
    finish_trial,
    resolve_storage,
)
from crystallize_opt.storage._rdb import RETRIED_WHERE_DEFINED

from . import servers
from .optional import require_package

RECORD = {"crystallize": {"replicates": 2, "note": "the trial's record"}}


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[RetryingRDBStorage]:
    opened = resolve_storage(f"sqlite:///{tmp_path / 'study.db'}")
    assert isinstance(opened, RetryingRDBStorage)
    yield opened
    servers.close_storage(opened)


def new_study(storage: RetryingRDBStorage, **kwargs: Any) -> optuna.Study:
    return optuna.create_study(study_name="s", storage=storage, **kwargs)


def spy(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[tuple[Any, ...]]:
    """Record the calls of ``owner.name`` (still calling the real one)."""
    calls: list[tuple[Any, ...]] = []
    real: Callable[..., Any] = getattr(owner, name)

    def recording(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, recording)
    return calls


def commits(storage: RDBStorage) -> list[int]:
    """A list that grows by one at each commit on ``storage``'s engine."""
    seen: list[int] = []
    sqlalchemy.event.listen(storage.engine, "commit", lambda _connection: seen.append(1))
    return seen


def without_rdb_internals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Optuna as if it no longer had the module ``optuna.storages._rdb.models`` (importing it
    raises ImportError; Optuna's own modules keep the one they imported)."""
    monkeypatch.setitem(sys.modules, "optuna.storages._rdb.models", None)
    assert compat.rdb_internals() is None


# -- study, trial and storage ids -----------------------------------------------------------------


def test_study_and_trial_ids_are_read_without_a_query(
    storage: RetryingRDBStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = new_study(storage)
    trial = study.ask()
    cached = compat.study_storage(study)
    by_name = spy(monkeypatch, cached, "get_study_id_from_name")
    by_number = spy(monkeypatch, cached, "get_trial_id_from_study_id_trial_number")
    frozen = study.get_trials()[0]
    assert compat.study_id(study) == storage.get_all_studies()[0]._study_id
    assert compat.trial_id(study, trial) == compat.trial_id(study, frozen) == 1
    assert by_name == [] and by_number == []  # the fast path asks the storage nothing
    assert compat.study_storage(study)._backend is storage  # type: ignore[attr-defined]


def test_without_private_ids_they_are_looked_up_in_the_storage(
    storage: RetryingRDBStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = new_study(storage)
    study.ask()
    trial = study.ask()
    frozen = study.get_trials()[1]
    expected = (compat.study_id(study), compat.trial_id(study, trial))
    by_number = spy(monkeypatch, compat.study_storage(study), "get_trial_id_from_study_id_trial_number")
    for obj, name in ((study, "_study_id"), (trial, "_trial_id"), (frozen, "_trial_id")):
        monkeypatch.delattr(obj, name)
    assert (compat.study_id(study), compat.trial_id(study, trial)) == expected
    assert compat.trial_id(study, frozen) == expected[1]
    assert len(by_number) == 2


def test_the_study_storage_is_optunas_own_and_without_it_the_one_the_study_was_opened_on(
    storage: RetryingRDBStorage,
) -> None:
    opened = compat.create_study("remembered", storage)
    assert compat.study_storage(opened) is opened._storage  # the fast path: Optuna's cached wrapper
    del opened._storage
    assert compat.study_storage(opened) is storage
    loaded = compat.load_study("remembered", storage)
    del loaded._storage
    assert compat.study_storage(loaded) is storage


def test_the_study_backend_is_the_storage_under_optunas_cache_and_without_it_the_one_opened_on(
    storage: RetryingRDBStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = compat.create_study("backend", storage)
    foreign = optuna.load_study(study_name="backend", storage=storage)
    assert opened._storage is not storage  # Optuna wraps it in its cache
    assert compat.study_backend(opened) is storage and compat.study_backend(foreign) is storage
    monkeypatch.setitem(sys.modules, "optuna.storages._cached_storage", None)  # as if Optuna moved it
    assert compat.study_backend(opened) is storage  # the storage it was opened on
    assert compat.study_backend(foreign) is foreign._storage  # the cache: public calls go through it


def test_a_foreign_study_without_its_storage_attribute_is_an_error_not_a_guess(
    storage: RetryingRDBStorage,
) -> None:
    """Optuna names no public storage of a study: one crystallize-opt did not open has none to find."""
    study = new_study(storage)
    del study._storage
    with pytest.raises(OptimizationError, match="was not opened by crystallize-opt"):
        compat.study_storage(study)


# -- Optuna's errors told apart by their text -----------------------------------------------------


def test_optunas_refusals_are_recognised_and_nothing_else(storage: RetryingRDBStorage) -> None:
    study = new_study(storage)
    trial = study.ask()
    study.tell(trial, state=TrialState.FAIL)
    with pytest.raises(ValueError) as told_twice:
        study.tell(trial, 1.0)
    with pytest.raises(UpdateFinishedTrialError) as written_after:
        storage.set_trial_user_attr(compat.trial_id(study, trial), "k", 1)
    with pytest.raises(RuntimeError) as stopped:
        study.stop()
    assert compat.is_finished_trial_error(told_twice.value)
    assert compat.is_finished_trial_error(written_after.value)
    assert compat.is_stop_outside_optimize(stopped.value)
    for other in (ValueError("Cannot tell with state RUNNING."), KeyError("x"), RuntimeError("Study.tell")):
        assert not compat.is_finished_trial_error(other)
    assert not compat.is_stop_outside_optimize(ValueError("Study.stop"))


# -- telling: the record with the state, in one transaction ---------------------------------------


def test_finishing_a_trial_is_one_commit(storage: RetryingRDBStorage) -> None:
    study = new_study(storage)
    trial = study.ask()
    seen = commits(storage)
    storage.finish_trial(compat.trial_id(study, trial), TrialState.COMPLETE, [0.25, 1.0], RECORD)
    assert len(seen) == 1
    stored = study.get_trials()[0]
    assert (stored.state, stored.values, stored.user_attrs) == (TrialState.COMPLETE, [0.25, 1.0], RECORD)


def test_telling_writes_record_values_and_state_with_one_call_without_study_tell(
    storage: RetryingRDBStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = compat.tell_steps()
    assert steps is not None and steps.pruner_study is optuna.pruners._filter_study
    study = new_study(storage)
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    monkeypatch.setattr(optuna.Study, "tell", lambda *a, **k: pytest.fail("Study.tell was called"))
    after_trial = spy(monkeypatch, study.sampler, "after_trial")
    finished = spy(monkeypatch, storage, "finish_trial")
    tell_trial(study, trial, 0.25, storage=storage, user_attrs=RECORD)
    assert finished == [(compat.trial_id(study, trial), TrialState.COMPLETE, [0.25], RECORD)]
    assert len(after_trial) == 1 and after_trial[0][2:] == (TrialState.COMPLETE, [0.25])
    stored = study.get_trials()[0]
    assert (stored.state, stored.values, stored.user_attrs) == (TrialState.COMPLETE, [0.25], RECORD)


@pytest.mark.parametrize("given", [[float("nan")], [1.0, 2.0], None])
def test_telling_unusable_values_fails_the_trial_with_optunas_warning(
    storage: RetryingRDBStorage, given: list[float] | None
) -> None:
    study = new_study(storage)
    trial = study.ask()
    with pytest.warns(UserWarning) as warned:
        tell_trial(study, trial, given, storage=storage, user_attrs=RECORD)
    reference = new_study_with_plain_tell(given)
    assert str(warned[0].message) == reference
    stored = study.get_trials()[0]
    assert (stored.state, stored.values, stored.user_attrs) == (TrialState.FAIL, None, RECORD)


def new_study_with_plain_tell(given: list[float] | None) -> str:
    """The warning Optuna's own ``Study.tell`` gives for ``given``."""
    study = optuna.create_study()
    with pytest.warns(UserWarning) as warned:
        study.tell(study.ask(), given)
    return str(warned[0].message)


def test_a_pruned_trial_takes_its_last_intermediate_value_as_optuna_does(storage: RetryingRDBStorage) -> None:
    study = new_study(storage)
    trial = study.ask()
    trial.report(3.0, step=1)
    trial.report(2.0, step=4)
    tell_trial(study, trial, state=TrialState.PRUNED, storage=storage, user_attrs=RECORD)
    stored = study.get_trials()[0]
    assert (stored.state, stored.values, stored.user_attrs) == (TrialState.PRUNED, [2.0], RECORD)


def test_telling_a_finished_trial_is_refused_and_writes_nothing(storage: RetryingRDBStorage) -> None:
    study = new_study(storage)
    trial = study.ask()
    study.tell(trial, state=TrialState.FAIL)
    with pytest.raises(ValueError, match="Cannot tell a FAIL trial") as raised:
        tell_trial(study, trial, 1.0, storage=storage, user_attrs=RECORD)
    assert compat.is_finished_trial_error(raised.value)
    assert study.get_trials()[0].user_attrs == {}


def test_an_exhausted_grid_is_recognised_after_the_trial_is_stored(storage: RetryingRDBStorage) -> None:
    study = new_study(storage, sampler=GridSampler({"x": [0.0]}))
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    with pytest.raises(RuntimeError) as raised:
        tell_trial(study, trial, 1.0, storage=storage, user_attrs=RECORD)
    assert compat.is_stop_outside_optimize(raised.value)
    assert study.get_trials()[0].state == TrialState.COMPLETE


def test_without_optunas_tell_steps_study_tell_finishes_the_trial(
    storage: RetryingRDBStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = new_study(storage)
    trial = study.ask()
    # The study already made holds its thread-local attributes: Optuna's own tell still works.
    monkeypatch.delattr(optuna.study.study, "_ThreadLocalStudyAttribute")
    compat.tell_steps.cache_clear()  # resolved once per process: look again, now and after the test
    try:
        assert compat.tell_steps() is None
        told = spy(monkeypatch, optuna.Study, "tell")
        tell_trial(study, trial, 0.5, storage=storage, user_attrs=RECORD)
        assert len(told) == 1
        stored = study.get_trials()[0]
        assert (stored.state, stored.values, stored.user_attrs) == (TrialState.COMPLETE, [0.5], RECORD)
    finally:
        compat.tell_steps.cache_clear()


def install_crash(storage: RDBStorage, when: str) -> None:
    """Make the database refuse, mid-transaction, to store a trial COMPLETE (``when="state"``) or
    to store its record (``when="record"``): as a crash between the two writes would."""
    with closing(sqlite3.connect(storage.engine.url.database)) as connection, connection:
        if when == "state":
            connection.execute(
                "CREATE TRIGGER crash BEFORE UPDATE OF state ON trials WHEN NEW.state = 'COMPLETE' "
                "BEGIN SELECT RAISE(ABORT, 'crash'); END"
            )
        else:
            connection.execute(
                "CREATE TRIGGER crash BEFORE INSERT ON trial_user_attributes BEGIN SELECT RAISE(ABORT, 'crash'); END"
            )
    storage.engine.dispose()


@pytest.mark.parametrize("when", ["state", "record"])
def test_a_crash_while_finishing_leaves_neither_state_nor_record(
    storage: RetryingRDBStorage, when: str
) -> None:
    study = new_study(storage)
    trial = study.ask()
    stored_id = compat.trial_id(study, trial)
    install_crash(storage, when)
    with pytest.raises(sqlalchemy.exc.SQLAlchemyError):
        storage.finish_trial(stored_id, TrialState.COMPLETE, [1.0], RECORD)
    stored = storage.get_trial(stored_id)
    assert (stored.state, stored.values, stored.user_attrs) == (TrialState.RUNNING, None, {})


def test_without_rdb_internals_the_record_is_written_before_the_state(
    storage: RetryingRDBStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback's separate commits: a crash between them leaves the trial RUNNING with its
    record, never COMPLETE without it."""
    without_rdb_internals(monkeypatch)
    study = new_study(storage)
    first, second = study.ask(), study.ask()
    seen = commits(storage)
    finish_trial(storage, compat.trial_id(study, first), TrialState.COMPLETE, [1.0], RECORD)
    assert len(seen) == 2
    install_crash(storage, "state")
    with pytest.raises(StorageInternalError, match="refused to store its state COMPLETE"):
        finish_trial(storage, compat.trial_id(study, second), TrialState.COMPLETE, [2.0], RECORD)
    done, crashed = study.get_trials()
    assert (done.state, done.values, done.user_attrs) == (TrialState.COMPLETE, [1.0], RECORD)
    assert (crashed.state, crashed.user_attrs) == (TrialState.RUNNING, RECORD)


def test_an_abandoned_trial_is_failed_once_in_one_commit_and_without_internals_in_steps(
    storage: RetryingRDBStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The FAIL of a trial whose worker died, with its record (replacing one there before): True
    for the call that failed it, False for the next, which writes nothing; the once-token is a
    system attribute. Without Optuna's internals, the public calls give the same answers."""
    study = new_study(storage)
    trial = study.ask()
    trial.set_user_attr("crystallize", "old")
    stored_id = compat.trial_id(study, trial)
    seen = commits(storage)
    assert fail_running_trial(storage, stored_id, RECORD)
    assert len(seen) == 1
    assert not fail_running_trial(storage, stored_id, {"crystallize": "late"})
    stored = study.get_trials()[0]
    assert (stored.state, stored.user_attrs) == (TrialState.FAIL, RECORD)
    assert "crystallize:failed" in stored.system_attrs
    with pytest.raises(KeyError):
        fail_running_trial(storage, stored_id + 100, RECORD)

    without_rdb_internals(monkeypatch)
    trial = study.ask()
    stored_id = compat.trial_id(study, trial)
    assert fail_running_trial(storage, stored_id, RECORD)
    assert not fail_running_trial(storage, stored_id, {"crystallize": "late"})
    stored = study.get_trials()[1]
    assert (stored.state, stored.user_attrs) == (TrialState.FAIL, RECORD)


def test_a_record_already_there_is_replaced(storage: RetryingRDBStorage) -> None:
    study = new_study(storage)
    trial = study.ask()
    trial.set_user_attr("crystallize", "old")
    storage.finish_trial(compat.trial_id(study, trial), TrialState.FAIL, None, RECORD)
    stored = study.get_trials()[0]
    assert (stored.state, stored.user_attrs) == (TrialState.FAIL, RECORD)


@pytest.mark.parametrize(
    "name", ["_set_trial_attr_without_commit", "_set_trial_value_without_commit", "_get_prepared_new_trial"]
)
def test_rdb_internals_are_missing_when_a_method_is(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    assert compat.rdb_internals() is not None
    monkeypatch.delattr(RDBStorage, name)
    assert compat.rdb_internals() is None


# -- counting and claiming with one statement ------------------------------------------------------


def test_trials_are_counted_with_one_query_and_without_internals_by_reading_them(
    storage: RetryingRDBStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = new_study(storage)
    study.tell(study.ask(), 1.0)
    study.tell(study.ask(), state=TrialState.FAIL)
    study.ask()
    expected = {TrialState.COMPLETE: 1, TrialState.FAIL: 1, TrialState.RUNNING: 1}
    read = spy(monkeypatch, storage, "_get_trials")
    assert count_states(study, storage) == expected and read == []
    without_rdb_internals(monkeypatch)
    assert storage.count_trial_states(compat.study_id(study)) is None
    assert count_states(study, storage) == expected and len(read) == 1


def statements(storage: RDBStorage) -> list[str]:
    """A list that grows by each SQL statement run on ``storage``'s engine."""
    seen: list[str] = []
    sqlalchemy.event.listen(
        storage.engine, "before_cursor_execute", lambda _c, _cur, statement, *_rest: seen.append(statement)
    )
    return seen


@pytest.mark.parametrize("internals", [True, False])
def test_a_queued_trial_is_claimed_by_one_process(
    storage: RetryingRDBStorage, monkeypatch: pytest.MonkeyPatch, internals: bool
) -> None:
    if not internals:
        without_rdb_internals(monkeypatch)
    study = new_study(storage)
    study.enqueue_trial({"x": 0.5})
    waiting = study.get_trials()[0]
    stored_id = compat.trial_id(study, waiting)
    sql = statements(storage)
    assert storage.set_trial_state_values(stored_id, TrialState.RUNNING) is True
    assert storage.set_trial_state_values(stored_id, TrialState.RUNNING) is False
    conditional = [s for s in sql if s.startswith("UPDATE trials") and "trials.state = ?" in s]
    assert len(conditional) == (2 if internals else 0)  # the fast path's one atomic statement


def test_the_private_methods_optunas_cache_calls_are_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    import inspect

    from optuna.storages._cached_storage import _CachedStorage

    source = inspect.getsource(_CachedStorage)
    assert compat.cached_storage_calls() == compat.CACHED_STORAGE_CALLS
    for name in compat.CACHED_STORAGE_CALLS:
        assert f"self._backend.{name}(" in source
        # Runs through OutageWatch: wrapped, or where it is defined (tested in test_storages.py).
        assert hasattr(getattr(RetryingRDBStorage, name), "__wrapped__") or name in RETRIED_WHERE_DEFINED
    monkeypatch.delattr(RDBStorage, "_get_best_trial_id")
    assert "_get_best_trial_id" not in compat.cached_storage_calls()


# -- which file holds a study: an error, never "no study here" -----------------------------------


def test_the_studies_table_is_read_directly(tmp_path: Path, storage: RetryingRDBStorage) -> None:
    new_study(storage)
    database = storage.engine.url.database
    assert database is not None
    with closing(sqlite3.connect(database)) as connection:
        assert compat.sqlite_holds_study(connection, "s") is True
        assert compat.sqlite_holds_study(connection, "other") is False
    with closing(sqlite3.connect(tmp_path / "empty.db")) as connection:
        assert compat.sqlite_holds_study(connection, "s") is False


def study_folder(tmp_path: Path) -> tuple[Path, Any]:
    folder = servers.write_study(tmp_path / "tiny")
    optimizer = servers.optimizer_for(f"sqlite:///{folder / 'study.db'}", "tiny")
    servers.tiny_experiment().optimize(optimizer, num_trials=1)
    servers.close_storage(optimizer.storage)
    settings = load_study(folder).optimize
    assert settings is not None and settings.storage_for(workers=2) == f"sqlite:///{folder / 'study.db'}"
    return folder, settings


def test_a_study_db_whose_studies_table_is_gone_is_an_error_not_a_new_study(tmp_path: Path) -> None:
    """A later Optuna renaming its ``studies`` table, or a file damaged there: a parallel rerun
    must not start a new study in study.log beside the one study.db holds."""
    folder, settings = study_folder(tmp_path)
    with closing(sqlite3.connect(folder / "study.db")) as connection, connection:
        connection.execute("ALTER TABLE studies RENAME TO studies_v2")
    for workers in (1, 2):
        with pytest.raises(StorageFileError, match=r"holds Optuna's tables .* but no 'studies' table"):
            settings.storage_for(workers=workers)
    assert not (folder / "study.log").exists()


def test_a_locked_study_db_is_an_error_not_a_new_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crystallize_opt.config import _storage

    folder, settings = study_folder(tmp_path)
    monkeypatch.setattr(_storage, "SQLITE_READ_TIMEOUT", 0.1)
    with closing(sqlite3.connect(folder / "study.db", isolation_level=None)) as holder:
        holder.execute("PRAGMA journal_mode=DELETE")  # in WAL mode nothing blocks a reader
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StorageFileError, match=r"cannot be read .*locked"):
            settings.storage_for(workers=2)
        holder.execute("ROLLBACK")
    assert not (folder / "study.log").exists()


def test_a_count_the_database_refuses_is_an_error_not_a_fallback(
    storage: RetryingRDBStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = new_study(storage)
    study.ask()
    with closing(sqlite3.connect(storage.engine.url.database or "")) as connection, connection:
        connection.execute("ALTER TABLE trials RENAME TO trials_elsewhere")
    storage.engine.dispose()
    read = spy(monkeypatch, storage, "_get_trials")
    with pytest.raises((sqlalchemy.exc.OperationalError, StorageInternalError)) as raised:
        count_states(study, storage)
    assert "no such table: trials" in f"{raised.value} {raised.value.__cause__}"
    assert read == []  # not counted some other way


# -- samplers: their random generators, and queued trials ---------------------------------------


@pytest.mark.parametrize(
    ("make", "count"),
    [
        (lambda seed: optuna.samplers.TPESampler(seed=seed), 2),  # its own and its random sampler's
        (lambda seed: optuna.samplers.RandomSampler(seed=seed), 1),
        (lambda seed: optuna.samplers.NSGAIISampler(seed=seed), 2),
        (lambda seed: optuna.samplers.PartialFixedSampler({}, optuna.samplers.RandomSampler(seed=seed)), 1),
    ],
    ids=["tpe", "random", "nsga2", "partial-fixed"],
)
def test_a_samplers_generators_are_found_and_reseeding_them_repeats_its_draws(
    make: Callable[[int | None], optuna.samplers.BaseSampler], count: int
) -> None:
    sampler = make(5)
    generators = compat.sampler_generators(sampler)
    assert generators is not None and len(generators.lazy) == count  # the fast path
    assert generators.seeded
    assert generators.fingerprints() == compat.sampler_generators(make(5)).fingerprints()  # type: ignore[union-attr]
    assert generators.fingerprints() != compat.sampler_generators(make(6)).fingerprints()  # type: ignore[union-attr]
    distribution = FloatDistribution(0.0, 1.0)
    study = optuna.create_study(sampler=sampler)

    def draws() -> list[float]:
        generators.seed(list(range(count)))
        return [study.ask({"x": distribution}).params["x"] for _ in range(3)]

    assert draws() == draws()
    unseeded = compat.sampler_generators(make(None))
    assert unseeded is not None and not unseeded.seeded


def test_gp_samplers_fitted_state_is_found_and_forgotten_when_reseeded() -> None:
    """What a GPSampler's fit leaves for its next one (the kernel parameters) is where Optuna 5.0
    and 5.1 keep it, and reseeding drops it: a resumed process, which never had it, then
    proposes what an uninterrupted one does (tests/test_resume_same_search.py)."""
    require_package("torch", "samplers")
    sampler = optuna.samplers.GPSampler(seed=3, n_startup_trials=2)
    generators = compat.sampler_generators(sampler)
    assert generators is not None
    assert [name for _, name in generators.fitted] == ["_gprs_cache_list", "_constraints_gprs_cache_list"]
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda trial: (trial.suggest_float("x", -1.0, 1.0) - 0.3) ** 2, n_trials=4)
    assert sampler._gprs_cache_list is not None  # the fast path reads a real attribute
    generators.seed([0] * len(generators.lazy))
    assert sampler._gprs_cache_list is None


def test_without_optunas_lazy_random_state_a_sampler_has_no_generators(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "optuna.samplers._lazy_random_state", None)
    assert compat.sampler_generators(optuna.samplers.TPESampler(seed=1)) is None


def test_a_sampler_that_keeps_no_generator_where_optuna_does_has_none() -> None:
    class Fixed(optuna.samplers.RandomSampler):
        def __init__(self) -> None:
            pass  # no _rng

    assert compat.sampler_generators(Fixed()) is None


def test_a_queued_trial_is_recognised_without_a_query_and_without_the_private_name_with_one(
    storage: RetryingRDBStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = new_study(storage)
    study.enqueue_trial({"x": 0.5})
    queued = study.ask({"x": FloatDistribution(0.0, 1.0)})
    sampled = study.ask({"x": FloatDistribution(0.0, 1.0)})
    reads = spy(monkeypatch, compat.study_storage(study), "get_trial_system_attrs")
    assert compat.trial_is_enqueued(queued) and not compat.trial_is_enqueued(sampled)
    assert reads == []  # the fast path asks the storage nothing
    for trial in (queued, sampled):
        monkeypatch.delattr(trial, "_fixed_params")
    assert compat.trial_is_enqueued(queued) and not compat.trial_is_enqueued(sampled)
    assert len(reads) == 2
