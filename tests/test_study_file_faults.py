"""A study file that exists but cannot be used as it is: a damaged ``study.db`` is an error for
every command, never "no study here" (which would start a new study beside it), and a study on
read-only media can be read. The faults are real: an Optuna SQLite file cut short or
overwritten, a read-only tmpfs (tests/mounts.py), the command line run as processes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial

from crystallize_opt import StorageFileError
from crystallize_opt.cli import main
from crystallize_opt.config import load_study
from crystallize_opt.exceptions import ConfigurationError
from crystallize_opt.storage import open_existing_storage, resolve_storage

from . import servers
from .mounts import remount, small_tmpfs

#: The suggestion every "damaged" error ends with.
DAMAGED_ADVICE = (
    "restore it from a backup, or move it away (with its -wal and -shm files) to start a new study"
)


@pytest.fixture(autouse=True)
def _quiet(quiet_workdir: Path) -> None:
    """Every test here runs in its own folder, without Optuna's per-trial logging."""


def make_study(folder: Path, storage: str = "sqlite", trials: int = 3) -> Path:
    """A study folder ``folder`` whose study (named as the folder) has ``trials`` trials in its
    ``study.db`` (``storage="sqlite"``) or ``study.log`` (``"journal"``), made as a run makes
    it and closed; returns the study file."""
    servers.write_study(folder, trials=trials)
    target = folder / ("study.db" if storage == "sqlite" else "study.log")
    url = f"{'sqlite' if storage == 'sqlite' else 'journal'}:///{target}"
    optimizer = servers.optimizer_for(url, folder.name)
    servers.tiny_experiment().optimize(optimizer, num_trials=trials)
    servers.close_storage(optimizer.storage)
    return target


def damage(database: Path, how: str) -> None:
    """Damage an Optuna SQLite file the way a full disk, a bad copy or a bad sector does: cut it
    in half, or overwrite its header or the page that lists its tables."""
    if how == "truncated":
        os.truncate(database, database.stat().st_size // 2)
        return
    with open(database, "r+b") as handle:
        handle.seek(0 if how == "not-a-database" else 100)  # the file header, or page 1's b-tree
        handle.write(b"\xa5" * 64)


#: The digest of an empty file.
EMPTY = hashlib.sha256(b"").hexdigest()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_all(calls: Sequence[Sequence[str]], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    """Run the command lines ``calls`` at once (they only read), each as its own process."""
    started = [
        (
            list(call),
            subprocess.Popen(
                servers.cli_command(*call),
                cwd=cwd,
                env=servers.process_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for call in calls
    ]
    done = []
    for call, process in started:
        out, err = process.communicate(timeout=240)
        done.append(subprocess.CompletedProcess(call, process.returncode, out, err))
    return done


# -- item 2: a damaged study.db is an error, never a new study ------------------------------------


@pytest.mark.parametrize("how", ["truncated", "not-a-database", "schema-overwritten"])
def test_a_damaged_study_db_is_an_error_not_a_place_without_study(tmp_path: Path, how: str) -> None:
    database = make_study(tmp_path / "tiny")
    damage(database, how)
    before = digest(database)
    settings = load_study(tmp_path / "tiny").optimize
    assert settings is not None
    for workers in (1, 2):
        with pytest.raises(StorageFileError) as raised:
            settings.storage_for(workers=workers)
        message = str(raised.value)
        assert message.startswith(f"storage file '{database}' is damaged (")
        assert message.endswith(DAMAGED_ADVICE) and "\\n" not in message
    url = f"sqlite:///{database}"
    for open_it in (open_existing_storage, resolve_storage):  # the same message for the file's URL
        with pytest.raises(StorageFileError, match="is damaged"):
            open_it(url)
    assert digest(database) == before
    assert not (tmp_path / "tiny" / "study.log").exists()


def test_an_empty_or_foreign_sqlite_file_still_holds_no_study(tmp_path: Path) -> None:
    """A zero-byte study.db (or a SQLite file of another program) holds no study: a parallel run
    starts one in study.log, a serial run in study.db, as without the file."""
    folder = servers.write_study(tmp_path / "tiny")
    settings = load_study(folder).optimize
    assert settings is not None
    database = folder / "study.db"
    for prepare in ("empty", "foreign"):
        if prepare == "empty":
            database.touch()
        else:
            database.unlink()
            with closing(sqlite3.connect(database)) as connection, connection:
                connection.execute("CREATE TABLE notes (text)")
        before = digest(database)
        assert settings.storage_for(workers=2) == f"journal:///{folder / 'study.log'}"
        assert settings.storage_for() == f"sqlite:///{database}"
        assert digest(database) == before


@pytest.mark.slow
def test_every_command_on_a_damaged_study_db_exits_2_with_one_line_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "tiny"
    database = make_study(folder)
    damage(database, "truncated")
    before = {path.name: digest(path) for path in folder.iterdir() if path.is_file()}
    expected = (
        f"crystallize-opt: error: storage file '{database}' is damaged (database disk image is malformed); "
    )
    url = f"sqlite:///{database}"
    calls = [
        ["optimize", str(folder), "-q", "--workers", "2"],
        ["worker", str(folder), "-q"],
        ["best", str(folder)],
        ["trials", str(folder)],
        ["report", str(folder)],
        ["studies", "--storage", url],
    ]
    for result in run_all(calls, tmp_path):
        assert result.returncode == 2, (result.args, result.stdout, result.stderr)
        assert result.stderr.startswith(expected) and result.stderr.count("\n") == 1, (
            result.args,
            result.stderr,
        )
        assert result.stdout == ""
    # The serial run and a study named by URL, in this process (the same code as the processes).
    for argv in (["optimize", str(folder), "-q"], ["best", "--storage", url, "--study", "tiny"]):
        assert main(argv) == 2
        assert capsys.readouterr().err.startswith(expected)
    after = {path.name: digest(path) for path in folder.iterdir() if path.is_file()}
    assert {name: after[name] for name in before} == before
    # New: only the empty log and its index that SQLite makes for a reader of a WAL-mode file.
    assert set(after) - set(before) <= {"study.db-wal", "study.db-shm"}
    assert after.get("study.db-wal", EMPTY) == EMPTY


def test_an_unreachable_server_is_named_with_the_first_line_of_its_error() -> None:
    """No SQL, no link to SQLAlchemy's documentation, no second line of the driver's message."""
    url = "postgresql+psycopg://someone:secret@127.0.0.1:9/nothing"
    with pytest.raises(ConfigurationError) as raised:
        open_existing_storage(url)
    message = str(raised.value)
    assert message.startswith(
        "storage 'postgresql+psycopg://someone:***@127.0.0.1:9/nothing' cannot be opened: "
    )
    assert "OperationalError: connection failed" in message
    assert "sqlalche.me" not in message and "\\n" not in message and "secret" not in message


# -- item 5: reading takes no lock and writes nothing, on read-only media too ----------------------


def test_reading_a_study_changes_no_stored_byte(tmp_path: Path) -> None:
    """A reader never writes the database: changes a killed run left in the write-ahead log are
    read, and stay there (a read-write reader closing last would checkpoint them into the file)."""
    database = make_study(tmp_path / "tiny")
    copy = tmp_path / "copy" / "study.db"
    copy.parent.mkdir()
    with closing(sqlite3.connect(database, isolation_level=None)) as writer:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute(
            "INSERT INTO study_user_attributes (study_id, key, value_json) VALUES (1, 'note', '\"kept\"')"
        )
        for suffix in ("", "-wal"):  # as a killed run leaves them
            shutil.copyfile(f"{database}{suffix}", f"{copy}{suffix}")
    before = {path.name: digest(path) for path in copy.parent.iterdir()}
    storage = open_existing_storage(f"sqlite:///{copy}")
    assert optuna.load_study(study_name="tiny", storage=storage).user_attrs["note"] == "kept"
    servers.close_storage(storage)
    after = {path.name: digest(path) for path in copy.parent.iterdir()}
    after.pop("study.db-shm", None)  # SQLite's index of the log, which a reader makes
    assert after == before


def test_best_on_a_writable_study_takes_no_lock_file_and_changes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    make_study(folder)
    (folder / "study.db.lock").unlink()  # made by the run, which serializes creating the schema
    before = {path.name: digest(path) for path in folder.iterdir()}
    (result,) = run_all([["best", str(folder)]], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("trial-")
    after = {path.name: digest(path) for path in folder.iterdir()}
    assert {name: after[name] for name in before} == before  # study.db included
    # New: at most the empty log and its index that SQLite makes for a reader of a WAL-mode file
    # (a run leaves them too).
    assert set(after) - set(before) <= {"study.db-wal", "study.db-shm"}
    assert after.get("study.db-wal", EMPTY) == EMPTY


def read_commands(folder: Path, url: str, report: Path) -> list[list[str]]:
    """``best``, ``trials``, ``studies`` and ``report --output`` of the study folder ``folder``."""
    return [
        ["best", str(folder), "--format", "json"],
        ["trials", str(folder)],
        ["studies", "--storage", url],
        ["report", str(folder), "--output", str(report)],
    ]


def check_read_outputs(
    outputs: Sequence[str], expected: Sequence[FrozenTrial], name: str, report: Path
) -> None:
    """The outputs of :func:`read_commands` show the study whose trials are ``expected``."""
    best, trials, studies, written = outputs
    winner = min(expected, key=lambda trial: trial.values[0])
    assert json.loads(best) == {f"trial-{winner.number}": winner.params}
    assert len([line for line in trials.splitlines() if " complete " in line]) == len(expected)
    assert studies.splitlines()[2].split()[:3] == [name, "minimize", str(len(expected))]
    assert written == f"report: {report}\n" and report.stat().st_size > 0


@pytest.mark.slow
def test_a_study_on_read_only_media_can_be_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    media, out = tmp_path / "media", tmp_path / "out"
    out.mkdir()
    with small_tmpfs(media, size="8m"):
        database = make_study(media / "tiny")
        journal = make_study(media / "par", storage="journal")  # as `optimize --workers N` makes it
        expected = {
            "tiny": servers.trials_of(f"sqlite:///{database}", "tiny"),
            "par": servers.trials_of(f"journal:///{journal}", "par"),
        }
        for leftover in media.glob("tiny/study.db?*"):  # the .db file alone, as the README says to copy it
            leftover.unlink()
        remount(media, read_only=True)
        # SQLite, the fault, in processes of their own; the default report (beside the study) is refused.
        calls = [
            *read_commands(media / "tiny", f"sqlite:///{database}", out / "tiny.html"),
            ["report", str(media / "tiny")],
        ]
        *reads, refused = run_all(calls, tmp_path)
        for result in reads:
            assert result.returncode == 0, (result.args, result.stderr)
        check_read_outputs([result.stdout for result in reads], expected["tiny"], "tiny", out / "tiny.html")
        target = media / "tiny" / "tiny-report.html"
        assert (refused.returncode, refused.stdout) == (2, "")
        assert refused.stderr == (
            f"crystallize-opt: error: cannot write the report '{target}' (Read-only file system); "
            "write it elsewhere with --output FILE\n"
        )
        # The journal file, read by the same commands in this process (its reads take no lock).
        outputs = []
        for argv in read_commands(media / "par", f"journal:///{journal}", out / "par.html"):
            assert main(argv) == 0, capsys.readouterr().err
            outputs.append(capsys.readouterr().out)
        check_read_outputs(outputs, expected["par"], "par", out / "par.html")


def test_read_only_media_with_a_write_ahead_log(tmp_path: Path) -> None:
    """Changes only the -wal file holds are read through its -shm file; without that file they
    cannot be read consistently, and the error says what to do."""
    source = make_study(tmp_path / "tiny")
    media = tmp_path / "media"
    with small_tmpfs(media, size="2m"):
        with closing(sqlite3.connect(source, isolation_level=None)) as writer:
            writer.execute("PRAGMA wal_autocheckpoint=0")
            writer.execute(
                "INSERT INTO study_user_attributes (study_id, key, value_json) VALUES (1, 'n', '1')"
            )
            for folder, suffixes in (("with-shm", ("", "-wal", "-shm")), ("without-shm", ("", "-wal"))):
                (media / folder).mkdir()
                for suffix in suffixes:
                    shutil.copyfile(f"{source}{suffix}", media / folder / f"study.db{suffix}")
        remount(media, read_only=True)
        storage = open_existing_storage(f"sqlite:///{media / 'with-shm' / 'study.db'}")
        assert optuna.load_study(study_name="tiny", storage=storage).user_attrs["n"] == 1
        servers.close_storage(storage)
        database = media / "without-shm" / "study.db"
        with pytest.raises(StorageFileError) as raised:
            open_existing_storage(f"sqlite:///{database}")
        assert str(raised.value) == (
            f"storage file '{database}' cannot be read on this read-only file system: its write-ahead "
            f"log '{database}-wal' holds changes not yet in the file and has no '-shm' file beside it; "
            "copy the folder (with that file) to writable storage and read it there"
        )


INTERRUPTED_WRITE = """
import os, sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA cache_size=1")  # pages reach the file before the commit
connection.execute("BEGIN")
for key in range(500):
    connection.execute("INSERT INTO study_user_attributes (study_id, key, value_json) VALUES (1, ?, ?)", (str(key), "0" * 500))
os._exit(0)  # killed mid-transaction: the rollback journal holds the pages to restore
"""


def test_an_interrupted_write_in_a_rollback_journal_is_undone_where_it_can_be(tmp_path: Path) -> None:
    """A SQLite file in rollback-journal mode (plain Optuna's) whose writer was killed mid-write:
    read on writable storage, SQLite undoes the write as it opens it; on read-only media the
    error says what to do."""
    database = make_study(tmp_path / "tiny")
    with closing(sqlite3.connect(database)) as connection:
        connection.execute("PRAGMA journal_mode=DELETE")
    subprocess.run([sys.executable, "-c", INTERRUPTED_WRITE, str(database)], check=True)
    journal = database.with_name("study.db-journal")
    assert journal.stat().st_size > 0
    media = tmp_path / "media"
    with small_tmpfs(media, size="4m"):
        for suffix in ("", "-journal"):
            shutil.copyfile(f"{database}{suffix}", media / f"study.db{suffix}")
        remount(media, read_only=True)
        with pytest.raises(StorageFileError) as raised:
            open_existing_storage(f"sqlite:///{media / 'study.db'}")
        assert str(raised.value) == (
            f"storage file '{media / 'study.db'}' cannot be read on this read-only file system: its "
            f"rollback journal '{media / 'study.db-journal'}' holds an interrupted write to undo; copy "
            "the folder (with that file) to writable storage and read it there"
        )
    storage = open_existing_storage(f"sqlite:///{database}")
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert (len(study.trials), set(study.user_attrs)) == (3, {"crystallize"})
    servers.close_storage(storage)
    assert not journal.exists()
