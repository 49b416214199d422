"""What a study leaves on disk: a SQLite file complete on its own after a run, read-only commands
that create nothing, and clear errors for paths that cannot be used."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from crystallize_opt import Experiment
from crystallize_opt.records import TrialRecord

from . import servers

#: The read-only commands, each with how it names a study kept in ``url`` as ``name``.
READ_ONLY = ("studies", "best", "trials", "report")


def cli(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        servers.cli_command(*args),
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=servers.process_env(),
    )


def tree(folder: Path) -> dict[str, tuple[bool, int, int]]:
    """Every path under ``folder`` with (is a directory, size, modification time in ns)."""
    found = {}
    for path in folder.rglob("*"):
        stat = path.lstat()
        found[str(path.relative_to(folder))] = (path.is_dir(), stat.st_size, stat.st_mtime_ns)
    return found


def states_in_copy(database: Path, copy_folder: Path) -> dict[str, int]:
    """Copy only the ``.db`` file (none of its ``-wal``/``-shm`` files) and count the copy's
    trials per state with plain SQLite."""
    copy_folder.mkdir()
    copy = copy_folder / database.name
    shutil.copyfile(database, copy)
    with closing(sqlite3.connect(copy)) as connection:
        rows = connection.execute("SELECT state, COUNT(*) FROM trials GROUP BY state").fetchall()
    return dict(rows)


def assert_copy_is_the_study(database: Path, study_name: str, copy_folder: Path) -> None:
    """The ``.db`` file alone holds every trial of the study, as Optuna reads it from the original."""
    original = servers.trials_of(f"sqlite:///{database}", study_name)
    counts: dict[str, int] = {}
    for trial in original:
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    assert states_in_copy(database, copy_folder) == counts
    copied = optuna.load_study(study_name=study_name, storage=f"sqlite:///{copy_folder / database.name}")
    assert [(t.number, t.state, t.values) for t in copied.trials] == [
        (t.number, t.state, t.values) for t in original
    ]
    assert all(TrialRecord.from_trial(t) is not None for t in copied.trials if t.state == TrialState.COMPLETE)


# -- item: the database file is complete on its own after a run ---------------------------------


@pytest.mark.parametrize("noise", [False, True], ids=["plain", "noise"])
def test_a_python_run_leaves_the_whole_study_in_the_database_file(tmp_path: Path, noise: bool) -> None:
    database = tmp_path / "study.db"
    optimizer = servers.optimizer_for(f"sqlite:///{database}", "files", noise=noise or None)
    experiment: Experiment = servers.tiny_experiment()
    experiment.optimize(optimizer, num_trials=8, replicates_per_trial=2)
    # The optimizer (and its open connections) is still alive, as in a script that goes on.
    assert len(optimizer.study.trials) >= 8
    assert_copy_is_the_study(database, "files", tmp_path / "copy")


@pytest.mark.parametrize("extra", [(), ("--workers", "2")], ids=["serial", "two-workers"])
def test_the_cli_run_leaves_the_whole_study_in_the_database_file(
    tmp_path: Path, extra: Sequence[str]
) -> None:
    folder = servers.write_study(tmp_path / "tiny", trials=8, extra_yaml="  noise: true\n")
    database = folder / "study.db"
    result = cli("optimize", str(folder), "--storage", f"sqlite:///{database}", "-q", *extra, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (folder / "tiny-report.html").is_file()  # the default: the report written after the run
    assert_copy_is_the_study(database, "tiny", tmp_path / "copy")


def test_a_database_another_process_reads_does_not_fail_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A checkpoint cannot finish while another process keeps an old snapshot open: the run
    still succeeds, and says why the log stays."""
    database = tmp_path / "study.db"
    url = f"sqlite:///{database}"
    servers.tiny_experiment().optimize(servers.optimizer_for(url, "busy"), num_trials=3)
    holder = (
        "import sqlite3, sys, time\n"
        f"c = sqlite3.connect({str(database)!r}, isolation_level=None)\n"
        "c.execute('BEGIN'); c.execute('SELECT COUNT(*) FROM trials').fetchone()\n"
        "print('reading', flush=True); time.sleep(120)\n"
    )
    with servers.Processes(tmp_path) as processes:
        reader = processes.start([sys.executable, "-c", holder])
        assert reader.stdout is not None and reader.stdout.readline().strip() == "reading"
        with caplog.at_level(logging.INFO, logger="crystallize_opt"):
            best = servers.tiny_experiment().optimize(servers.optimizer_for(url, "busy"), num_trials=6)
    assert best.name.startswith("trial-")
    assert len(servers.trials_of(url, "busy")) == 6
    assert "another process is using the database" in caplog.text


# -- item: read-only commands create nothing ------------------------------------------------------


def _read_only_calls(storage: str, study: str | None) -> list[list[str]]:
    """Each read-only command on ``storage`` (a URL, or a study folder when ``study`` is None)."""
    if study is None:
        return [[command, storage] for command in READ_ONLY if command != "studies"]
    return [
        ["studies", "--storage", storage],
        *([command, "--storage", storage, "--study", study] for command in READ_ONLY if command != "studies"),
    ]


@pytest.mark.parametrize("kind", ["sqlite", "journal", "empty-file", "study-folder"], ids=lambda kind: kind)
def test_read_only_commands_on_a_missing_storage_fail_and_create_nothing(tmp_path: Path, kind: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    if kind == "sqlite":
        target = work / "some" / "typo" / "study.db"
        calls, expected = _read_only_calls(f"sqlite:///{target}", "x"), f"'{target}' does not exist"
    elif kind == "journal":
        target = work / "typo" / "study.log"
        calls, expected = _read_only_calls(f"journal:///{target}", "x"), f"'{target}' does not exist"
    elif kind == "empty-file":  # a file that is no database: no Optuna schema may be written into it
        target = work / "empty.db"
        target.touch()
        calls, expected = _read_only_calls(f"sqlite:///{target}", "x"), "holds no Optuna studies"
    else:  # a study folder that has no study yet
        folder = servers.write_study(work / "tiny")
        calls, expected = _read_only_calls(str(folder), None), f"'{folder / 'study.db'}' does not exist"
    before = tree(work)
    for call in calls:
        result = cli(*call, cwd=work)
        assert result.returncode == 2, (call, result.stdout, result.stderr)
        assert expected in result.stderr, (call, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert tree(work) == before, f"{call} changed the files"


def test_an_unknown_study_in_an_existing_storage_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    servers.tiny_experiment().optimize(servers.optimizer_for(url, "known"), num_trials=2)
    before = tree(tmp_path)
    result = cli("best", "--storage", url, "--study", "nope", cwd=tmp_path)
    assert result.returncode == 2
    assert f"no study 'nope' in {url}; it holds ['known']" in result.stderr
    assert tree(tmp_path) == before


@pytest.mark.parametrize("scheme", ["sqlite:///", "journal:///"])
def test_optimize_into_a_new_directory_says_so(tmp_path: Path, scheme: str) -> None:
    folder = servers.write_study(tmp_path / "tiny", trials=2)
    target = tmp_path / "new" / "place" / "study.file"
    result = cli("optimize", str(folder), "--storage", f"{scheme}{target}", "-q", "--no-report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"created directory {target.parent} for the storage '{scheme}{target}'" in result.stderr
    assert target.is_file()


@pytest.mark.parametrize("option", ["sqlite", "journal", "report"])
def test_a_file_where_a_directory_belongs_is_a_clear_error(tmp_path: Path, option: str) -> None:
    folder = servers.write_study(tmp_path / "tiny", trials=2)
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    args = {
        "sqlite": ["--storage", f"sqlite:///{blocker / 'sub' / 'study.db'}"],
        "journal": ["--storage", f"journal:///{blocker / 'study.log'}"],
        "report": ["--report", str(blocker / "report.html")],
    }[option]
    before = tree(tmp_path)
    result = cli("optimize", str(folder), "-q", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"'{blocker}' is a file, not a directory" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert tree(tmp_path) == before, "nothing is created before the error (the report path is checked first)"
