"""Several worker processes share one study: on every kind of shared storage the study reaches
exactly its target, trial numbers stay unique, and every trial is seeded as in a serial run."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from crystallize_opt import derive_seed, replicate_seed

from . import servers
from .servers import optimizer_for
from .stored import record_of

# Every test starts worker processes; none may hang the suite (cleanup still runs on timeout).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

TARGET = 12
REPLICATES = 2
#: Seconds per replicate: enough that every worker gets trials, short enough to stay quick.
SLEEP = 0.08
#: Worker processes per storage kind (2 to 4).
WORKERS = {"sqlite": 4, "journal": 3, "postgres": 3, "mysql": 2, "redis": 2}


@pytest.fixture(autouse=True)
def _quiet(quiet_workdir: Path) -> None:
    """Every test runs in its own folder, with Optuna's per-trial logging off."""


def assert_seeded_as_serial(place: servers.StudyPlace, master_seed: int) -> None:
    """Common random numbers: replicate r of every trial has seed replicate_seed(master, r), and each
    replicate's metrics are the ones a serial run in this process computes for the same treatment
    and seeds (replayed trial by trial)."""
    expected_seeds = [replicate_seed(master_seed, r) for r in range(REPLICATES)]
    exp = servers.tiny_experiment()
    optimizer = optimizer_for(place.url, place.name)
    for trial in servers.complete(place.trials()):
        assert record_of(trial).seeds == expected_seeds, trial.number
        report = exp.replay_trial(optimizer, trial.number)  # ("pid" names the worker: it differs)
        assert report.replayed.values["loss"] == report.stored["loss"], trial.number


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
    assert_seeded_as_serial(place, exp.master_seed)


def test_workers_with_the_default_sampler_propose_different_parameters(tmp_path: Path) -> None:
    """Without a sampler every process builds the default TPE from the master seed: unless each
    worker reseeds it, they draw the same startup points and evaluate each one twice."""
    with servers.study_place("sqlite", tmp_path) as place:
        # One replicate per trial: at SLEEP a loaded machine lets the first worker finish all 8
        # trials before the second has started, and the test would check nothing.
        exp = servers.tiny_experiment(sleep=5 * SLEEP)
        optimizer = optimizer_for(place.url, place.name, sampler=None)
        exp.optimize(optimizer, num_trials=8, replicates_per_trial=1, workers=2)
        trials = servers.complete(place.trials())
        assert len(trials) == 8
        assert_several_workers_ran(trials)
        xs = [t.params["x"] for t in trials]
        assert len(set(xs)) == len(xs), sorted(xs)


def test_independent_seeds_follow_the_global_trial_number(tmp_path: Path) -> None:
    with servers.study_place("sqlite", tmp_path) as place:
        exp = servers.tiny_experiment(sleep=SLEEP)
        optimizer = optimizer_for(place.url, place.name, common_random_numbers=False)
        exp.optimize(optimizer, num_trials=8, replicates_per_trial=REPLICATES, workers=2)
        trials = place.trials()
        servers.assert_consistent(trials, 8)
        for trial in (t for t in trials if t.state == TrialState.COMPLETE):  # as a serial run seeds it
            expected = [derive_seed(exp.master_seed, r, trial.number + 1) for r in range(REPLICATES)]
            assert record_of(trial).seeds == expected, trial.number


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
        assert_seeded_as_serial(place, master_seed=7)


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
        assert_seeded_as_serial(place, master_seed=7)


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


def test_cli_workers_without_a_storage_keep_the_study_in_the_folder_s_journal(tmp_path: Path) -> None:
    """``optimize STUDY --workers 2`` without a storage: a new study goes to the folder's journal
    file (SQLite's single writer would hold back many workers), and ``best``, ``trials``,
    ``report`` and a serial resume all find it there, while no SQLite file appears."""
    folder = servers.write_study(tmp_path / "tiny", sleep=SLEEP, trials=6, replicates_per_trial=REPLICATES)
    with servers.Processes(tmp_path) as processes:
        code, output = processes.finish(
            processes.start(
                servers.cli_command("optimize", str(folder), "--workers", "2", "--no-report", "-q")
            ),
            timeout=120,
        )
        assert code == 0, output
        journal = folder / "study.log"
        assert f"in journal:///{journal}" in output, output
        assert not (folder / "study.db").exists()
        trials = servers.trials_of(f"journal:///{journal}", "tiny")
        servers.assert_consistent(trials, 6)
        assert_several_workers_ran(trials)

        code, output = processes.finish(processes.start(servers.cli_command("best", str(folder))), timeout=60)
        assert code == 0, output
        best = min(servers.complete(trials), key=lambda t: t.values[0])
        assert output.startswith(f"trial-{best.number}:"), output
        code, output = processes.finish(
            processes.start(servers.cli_command("trials", str(folder))), timeout=60
        )
        assert code == 0, output
        assert len([line for line in output.splitlines() if " complete " in line]) == 6, output
        report = tmp_path / "tiny.html"
        code, output = processes.finish(
            processes.start(servers.cli_command("report", str(folder), "-o", str(report))), timeout=120
        )
        assert code == 0 and report.stat().st_size > 0, output

        # A serial rerun continues the same study in the journal file instead of starting over.
        code, output = processes.finish(
            processes.start(
                servers.cli_command("optimize", str(folder), "--trials", "8", "--no-report", "-q")
            ),
            timeout=120,
        )
        assert code == 0, output
        assert f"in journal:///{journal}" in output, output
        servers.assert_consistent(servers.trials_of(f"journal:///{journal}", "tiny"), 8)
        assert not (folder / "study.db").exists()


def test_cli_workers_continue_a_serial_study_in_its_sqlite_file(tmp_path: Path) -> None:
    """A study that a serial run created in study.db stays there when workers continue it."""
    folder = servers.write_study(tmp_path / "tiny", sleep=SLEEP, trials=4, replicates_per_trial=REPLICATES)
    with servers.Processes(tmp_path) as processes:
        code, output = processes.finish(
            processes.start(servers.cli_command("optimize", str(folder), "--no-report", "-q")), timeout=120
        )
        assert code == 0, output
        code, output = processes.finish(
            processes.start(
                servers.cli_command(
                    "optimize", str(folder), "--workers", "2", "--trials", "8", "--no-report", "-q"
                )
            ),
            timeout=120,
        )
        assert code == 0, output
        assert f"in sqlite:///{folder / 'study.db'}" in output, output
        assert not (folder / "study.log").exists()
        servers.assert_consistent(servers.trials_of(f"sqlite:///{folder / 'study.db'}", "tiny"), 8)


def test_the_folder_s_default_storage_follows_the_study_and_the_worker_count(tmp_path: Path) -> None:
    """Without a configured storage: the file holding the study wins (study.db first), and a new
    study goes to study.log with workers > 1, else to study.db. A named storage is kept as is."""
    from crystallize_opt.config import load_study

    folder = servers.write_study(tmp_path / "tiny")
    settings = load_study(str(folder)).optimize
    assert settings is not None and settings.storage_is_default
    database, journal = f"sqlite:///{folder / 'study.db'}", f"journal:///{folder / 'study.log'}"
    assert settings.storage_for() == database and settings.storage_for(workers=2) == journal
    assert not (folder / "study.db").exists()  # asking never creates a file

    with servers.opened(journal) as storage:
        optuna.create_study(study_name="tiny", storage=storage)
    assert settings.storage_for() == journal  # a parallel study, resumed or read serially
    assert settings.storage_for(study_name="other") == database
    with servers.opened(database) as storage:
        optuna.create_study(study_name="other", storage=storage)
    assert settings.storage_for(workers=4, study_name="other") == database  # stays where it is

    named = servers.write_study(tmp_path / "named", extra_yaml="  storage: sqlite:///named.db\n")
    named_settings = load_study(str(named)).optimize
    assert named_settings is not None and not named_settings.storage_is_default
    assert named_settings.storage_for(workers=4) == f"sqlite:///{named / 'named.db'}"


@pytest.mark.parametrize("guarded", [False, True])
def test_a_script_that_starts_workers_when_imported_is_told_to_use_the_main_guard(
    tmp_path: Path, guarded: bool
) -> None:
    """Each worker process imports the main script again; a script that calls
    ``optimize(..., workers=N)`` at module level gets a clear error naming the fix."""
    call = (
        f'exp.optimize(optimizer_for("sqlite:///{tmp_path / "s.db"}", "g"), num_trials=4, '
        "replicates_per_trial=2, workers=2)"
    )
    script = tmp_path / "script.py"
    script.write_text(
        "from tests.servers import optimizer_for, tiny_experiment\n\n"
        "exp = tiny_experiment()\n"
        + (f'if __name__ == "__main__":\n    {call}\n' if guarded else f"{call}\n")
        + 'print("optimized")\n'
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=servers.process_env(),
    )
    if guarded:
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"crystallize_opt.exceptions.ConfigurationError: {script} starts parallel workers")
    assert 'if __name__ == "__main__":' in last
    assert "bootstrapping phase" not in result.stderr  # multiprocessing's own RuntimeError
