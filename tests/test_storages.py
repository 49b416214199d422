"""Every kind of storage URL round-trips a small optimization, with everything we store."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from crystallize_opt import ConfigurationError
from crystallize_opt.optimize._storage import resolve_storage

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

    study = place.load()  # a fresh storage object, as another process would open it
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
