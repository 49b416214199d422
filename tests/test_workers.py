"""Several worker processes share one study: on every kind of shared storage the study reaches
exactly its target, trial numbers stay unique, and every trial is seeded as in a serial run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from crystallize_opt import Treatment, derive_seed

from . import servers
from .servers import optimizer_for

# Every test starts worker processes; none may hang the suite (cleanup still runs on timeout).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

TARGET = 12
REPLICATES = 2
#: Seconds per replicate: enough that every worker gets trials, short enough to stay quick.
SLEEP = 0.08
#: Worker processes per storage kind (2 to 4).
WORKERS = {"sqlite": 4, "journal": 3, "postgres": 3, "mysql": 2, "redis": 2}


@pytest.fixture(autouse=True)
def _quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(params=servers.SHARED_KINDS)
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[servers.StudyPlace]:
    with servers.study_place(request.param, tmp_path) as found:
        yield found


def serial_reference(trials: Sequence[FrozenTrial]) -> dict[float, dict[str, list[float]]]:
    """Run the same parameters serially (in memory, one process); per x: its replicates' record."""
    exp = servers.tiny_experiment()
    chosen = servers.complete(trials)
    optimizer = optimizer_for(
        ":memory:",
        "serial",
        warm_start=[Treatment(f"t{t.number}", dict(t.params)) for t in chosen],
    )
    exp.optimize(optimizer, num_trials=len({t.params["x"] for t in chosen}), replicates_per_trial=REPLICATES)
    return {t.params["x"]: t.user_attrs["crystallize"] for t in servers.complete(optimizer.study.trials)}


def assert_seeded_as_serial(trials: Sequence[FrozenTrial], master_seed: int) -> None:
    """Common random numbers: replicate r of every trial has seed derive_seed(master, r), and each
    replicate's loss is the one a serial, single-process run computes for the same params."""
    expected_seeds = [derive_seed(master_seed, r) for r in range(REPLICATES)]
    reference = serial_reference(trials)
    for trial in servers.complete(trials):
        record = trial.user_attrs["crystallize"]
        assert record["seeds"] == expected_seeds, trial.number
        assert record["values"]["loss"] == reference[trial.params["x"]]["values"]["loss"], trial.number


def assert_several_workers_ran(trials: Sequence[FrozenTrial]) -> None:
    pids = servers.worker_pids(trials)
    assert len(pids) >= 2, f"expected trials from several worker processes, all came from {pids}"


def test_python_workers_share_a_study_and_reach_exactly_the_target(place: servers.StudyPlace) -> None:
    workers = WORKERS[place.kind]
    exp = servers.tiny_experiment(sleep=SLEEP)
    optimizer = optimizer_for(place.url, place.name)
    best = exp.optimize(optimizer, num_trials=TARGET, replicates_per_trial=REPLICATES, workers=workers)

    trials = place.trials()
    servers.assert_consistent(trials, TARGET)
    assert not servers.real_failures(trials), [servers.failure_of(t) for t in servers.real_failures(trials)]
    assert_several_workers_ran(trials)
    assert best.name.startswith("trial-")
    assert_seeded_as_serial(trials, exp.master_seed)


def test_independent_seeds_follow_the_global_trial_number(tmp_path: Path) -> None:
    with servers.study_place("sqlite", tmp_path) as place:
        exp = servers.tiny_experiment(sleep=SLEEP)
        optimizer = optimizer_for(place.url, place.name, common_random_numbers=False)
        exp.optimize(optimizer, num_trials=8, replicates_per_trial=REPLICATES, workers=2)
        trials = place.trials()
        servers.assert_consistent(trials, 8)
        for trial in (t for t in trials if t.state == TrialState.COMPLETE):  # as a serial run seeds it
            expected = [derive_seed(exp.master_seed, r, trial.number + 1) for r in range(REPLICATES)]
            assert trial.user_attrs["crystallize"]["seeds"] == expected, trial.number


def test_workers_need_a_storage_that_processes_can_share() -> None:
    from crystallize_opt import ConfigurationError

    exp = servers.tiny_experiment()
    with pytest.raises(ConfigurationError, match="memory"):
        exp.optimize(optimizer_for(":memory:", "nope"), num_trials=4, workers=2)


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_cli_optimize_with_workers_reaches_exactly_the_target(tmp_path: Path, kind: str) -> None:
    folder = servers.write_study(
        tmp_path / "tiny", sleep=SLEEP, trials=TARGET, replicates_per_trial=REPLICATES
    )
    with servers.study_place(kind, tmp_path) as place, servers.Processes(tmp_path) as processes:
        process = processes.start(
            servers.cli_command(
                "optimize", str(folder), "--workers", "3", "--storage", place.url, "--study", place.name,
                "--no-report", "-q",
            )
        )  # fmt: skip
        code, output = processes.finish(process, timeout=120)
        assert code == 0, output
        assert output.startswith("best trial-"), output
        trials = place.trials()
        servers.assert_consistent(trials, TARGET)
        assert_several_workers_ran(trials)
        assert_seeded_as_serial(trials, master_seed=7)


def test_independent_cli_workers_join_one_postgresql_study(tmp_path: Path) -> None:
    folder = servers.write_study(
        tmp_path / "tiny", sleep=SLEEP, trials=TARGET, replicates_per_trial=REPLICATES
    )
    with servers.study_place("postgres", tmp_path) as place, servers.Processes(tmp_path) as processes:
        command = servers.cli_command("worker", str(folder), "--storage", place.url, "--study", place.name)
        started = [processes.start(command) for _ in range(3)]
        for process in started:
            code, output = processes.finish(process, timeout=120)
            assert code == 0, output
        trials = place.trials()
        servers.assert_consistent(trials, TARGET)
        assert not servers.real_failures(trials), [
            servers.failure_of(t) for t in servers.real_failures(trials)
        ]
        pids = servers.worker_pids(trials)
        assert len(pids) >= 2, f"expected several workers to run trials, got {pids}"
        assert_seeded_as_serial(trials, master_seed=7)


def test_a_worker_joining_a_finished_study_runs_nothing(tmp_path: Path) -> None:
    folder = servers.write_study(tmp_path / "tiny", trials=4, replicates_per_trial=REPLICATES)
    with servers.study_place("sqlite", tmp_path) as place, servers.Processes(tmp_path) as processes:
        command = servers.cli_command("worker", str(folder), "--storage", place.url, "--study", place.name)
        for _ in range(2):
            code, output = processes.finish(processes.start(command), timeout=60)
            assert code == 0, output
        servers.assert_consistent(place.trials(), 4)
        assert len(place.trials()) == 4
        code, output = processes.finish(processes.start([*command, "--trials", "6"]), timeout=60)
        assert code == 0, output
        servers.assert_consistent(place.trials(), 6)
