"""Every kind of storage URL round-trips a small optimization, with everything we store."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from crystallize_opt import ConfigurationError
from crystallize_opt.storage import resolve_storage

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
