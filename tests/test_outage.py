"""Storage faults during a run (issue 20, item 3): a database server that goes down and comes
back, one that stays down, Ctrl+C while waiting for it, a full disk, a damaged SQLite file.

Every fault is real: a private PostgreSQL server (``tests/pg_cluster.py``, never the machine's
shared one) stopped with ``pg_ctl stop`` and started again, a tmpfs filled to its last byte, a
SQLite file overwritten while a run uses it, a lock held by another connection. Each wait is
bounded, and ``servers.Processes`` ends every process a test started.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pickle
import random
import signal
import socket
import sqlite3
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from crystallize_opt import ConfigurationError, StorageError
from crystallize_opt._signals import deferred_signals
from crystallize_opt.config import load_study
from crystallize_opt.storage import RetryingRDBStorage, _outage, resolve_storage
from crystallize_opt.storage import _open as _storage

from . import servers
from .mounts import small_tmpfs
from .pg_cluster import PgCluster, private_cluster

pytestmark = pytest.mark.timeout(120)

#: Longer than the ~15 s for which the old code retried an operation before the worker died.
OUTAGE = 18.0
#: Optuna's words for any failed commit, which the old code showed for every storage fault.
MISLEADING = "exceeding max length"


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    with private_cluster() as found:
        yield found


@pytest.fixture
def pg(cluster: PgCluster) -> PgCluster:
    """The module's private server, running (a test that failed with it stopped leaves it so)."""
    if not cluster.is_running():
        cluster.start()
    return cluster


@pytest.fixture(autouse=True)
def _quiet(quiet_workdir: Path) -> None:
    """Every test runs in its own folder, without Optuna's per-trial logging."""


def complete_trials(url: str, name: str) -> int:
    return len(servers.complete(servers.trials_or_none(url, name) or []))


def error_line(output: str) -> str:
    """The command's error: its last line, which must be one line of its own."""
    lines = [line for line in output.splitlines() if line.startswith("crystallize-opt: ")]
    assert len(lines) == 1, output
    return lines[0]


# -- a database server that goes down ------------------------------------------------------------


@pytest.mark.slow
def test_workers_ride_out_a_database_outage_longer_than_the_old_retry_budget(
    tmp_path: Path, pg: PgCluster
) -> None:
    """The issue's case: PostgreSQL stopped for longer than ~15 s killed both workers (exit 1,
    "invalid data in the commit") and left their trials RUNNING. Now they wait and finish."""
    target = 8
    # Heartbeats every second keep failing during the outage: they must neither crash the run
    # nor make a worker fail another's trial as stale once the server is back.
    folder = servers.write_study(
        tmp_path / "tiny",
        sleep=0.3,
        trials=target,
        extra_yaml="  heartbeat_interval: 1\n  grace_period: 10\n",
    )
    name = servers.unique_name()
    with servers.Processes(tmp_path) as processes:
        run = processes.start(
            servers.cli_command(
                "optimize", str(folder), "--workers", "2", "--storage", pg.url, "--study", name, "--no-report"
            )
        )  # fmt: skip
        servers.wait_for(lambda: complete_trials(pg.url, name) >= 1, timeout=60, what="the first trial")
        pg.stop()
        time.sleep(OUTAGE)
        pg.start()
        code, output = processes.finish(run, timeout=60)
    assert code == 0, output
    assert "is unreachable (" in output and "retrying for up to 600 s" in output, output
    assert "is reachable again after" in output, output
    assert "heartbeat" not in output, output  # the failing heartbeats are not logged (but at DEBUG)
    assert MISLEADING not in output, output
    trials = servers.trials_of(pg.url, name)
    servers.assert_consistent(trials, target)
    assert not [t for t in trials if t.state == optuna.trial.TrialState.FAIL], output


@pytest.mark.slow
def test_workers_give_up_on_a_database_down_for_longer_than_outage_timeout(
    tmp_path: Path, pg: PgCluster
) -> None:
    folder = servers.write_study(tmp_path / "tiny", sleep=0.3, trials=20, extra_yaml="  outage_timeout: 3\n")
    name = servers.unique_name()
    with servers.Processes(tmp_path) as processes:
        run = processes.start(
            servers.cli_command(
                "optimize", str(folder), "--workers", "2", "--storage", pg.url, "--study", name, "--no-report", "-q"
            )
        )  # fmt: skip
        servers.wait_for(lambda: complete_trials(pg.url, name) >= 1, timeout=60, what="the first trial")
        done_before = complete_trials(pg.url, name)
        pg.stop()
        stopped = time.monotonic()
        code, output = processes.finish(run, timeout=60)
        elapsed = time.monotonic() - stopped
    assert code == 2, output
    line = error_line(output)
    assert line.startswith("crystallize-opt: error: workers 0, 1: storage "), line
    assert f"{pg.url}' is unreachable: gave up after 3 s (" in line and "Connection refused" in line, line
    assert MISLEADING not in output, output
    assert elapsed < 3 + 10, f"gave up {elapsed:.1f} s after the server stopped"
    pg.start()
    assert complete_trials(pg.url, name) >= done_before  # what was stored is still there


@pytest.mark.slow
def test_ctrl_c_while_waiting_for_the_database_stops_at_once(tmp_path: Path, pg: PgCluster) -> None:
    folder = servers.write_study(tmp_path / "tiny", sleep=0.3, trials=20)
    name = servers.unique_name()
    log = tmp_path / "run.log"
    with servers.Processes(tmp_path) as processes:
        run = processes.start(
            servers.cli_command(
                "optimize", str(folder), "--storage", pg.url, "--study", name, "--no-report", "-q"
            ),
            log=log,
        )
        servers.wait_for(lambda: complete_trials(pg.url, name) >= 1, timeout=60, what="the first trial")
        pg.stop()
        servers.wait_for(lambda: "retrying for up to" in log.read_text(), timeout=30, what="the wait")
        os.killpg(run.pid, signal.SIGINT)  # as a terminal's Ctrl+C
        interrupted = time.monotonic()
        code, _ = processes.finish(run, timeout=30)
        elapsed = time.monotonic() - interrupted
    output = log.read_text()
    assert code == 130, output
    assert elapsed < 3, f"exited {elapsed:.1f} s after Ctrl+C\n{output}"
    assert "interrupted" in error_line(output), output


@pytest.mark.slow  # wall-clock bounds
def test_a_held_back_ctrl_c_ends_the_wait_at_once(pg: PgCluster) -> None:
    """While a trial is stored, Ctrl+C is held back until the storing ends; a wait for the
    database inside it must notice the held signal and end, not outlast it."""
    storage = resolve_storage(pg.url)
    try:
        pg.stop()
        timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt), deferred_signals():
            timer.start()
            storage.get_all_studies()
        assert time.monotonic() - started < 2
        with pytest.raises(StorageError, match="is unreachable"):  # no second wait once interrupted
            storage.get_all_studies()
        pg.start()
        storage.get_all_studies()
    finally:
        servers.close_storage(storage)


@pytest.mark.slow  # wall-clock bounds
def test_a_database_down_when_the_run_starts_is_reported_without_waiting_minutes(
    pg: PgCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_storage, "OPEN_TIMEOUT", 1.0)  # 15 s by default
    pg.stop()
    started = time.monotonic()
    with pytest.raises(ConfigurationError) as caught:
        resolve_storage(pg.url)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert message.startswith(f"storage '{pg.url}' cannot be opened: the database server is unreachable ("), (
        message
    )
    assert "Connection refused" in message, message


def test_a_short_outage_timeout_also_bounds_the_wait_for_a_server_down_at_the_start() -> None:
    """A run that would give up on an outage after ``outage_timeout`` seconds does not wait the
    longer ``OPEN_TIMEOUT`` for a server that is down when it starts (nothing listens on port 1)."""
    url = "postgresql+psycopg://postgres@127.0.0.1:1/test"
    started = time.monotonic()
    with pytest.raises(ConfigurationError, match=r"the database server is unreachable .*Connection refused"):
        resolve_storage(url, outage_timeout=0.5)
    assert time.monotonic() - started < _outage.OPEN_TIMEOUT / 3


@pytest.mark.slow  # wall-clock bounds
@pytest.mark.timeout(30)
def test_a_server_that_never_answers_fails_each_attempt_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A port that takes connections and never answers (a hung server, a half-open firewall):
    without a connect timeout, the driver waits for ever."""
    monkeypatch.setattr(_outage, "CONNECT_TIMEOUT", 2)  # 10 s by default
    monkeypatch.setattr(_storage, "OPEN_TIMEOUT", 1.0)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes connections; nobody ever reads or answers
        url = f"postgresql+psycopg://postgres@127.0.0.1:{silent.getsockname()[1]}/postgres"
        started = time.monotonic()
        with pytest.raises(ConfigurationError, match=r"the database server is unreachable .*timeout"):
            resolve_storage(url)
        assert time.monotonic() - started < 10


# -- SQLite: a lock held too long, a full disk, a damaged file -----------------------------------


@pytest.mark.slow  # wall-clock bounds
def test_a_sqlite_file_locked_for_longer_than_outage_timeout_says_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    servers.close_storage(resolve_storage(url))  # the schema
    # The storage's own kind, with a busy timeout of 0.1 s instead of a minute.
    storage = RetryingRDBStorage(url, engine_kwargs={"connect_args": {"timeout": 0.1}})
    storage.outage.timeout = 1.0
    holder = sqlite3.connect(tmp_path / "study.db")
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process writing, for longer than 1 s
        started = time.monotonic()
        with pytest.raises(StorageError) as caught:
            storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "s")
        assert 1.0 <= time.monotonic() - started < 3
    finally:
        holder.rollback()
        holder.close()
        servers.close_storage(storage)
    assert str(caught.value).startswith(
        f"storage '{url}' stayed locked by another process: gave up after 1 s"
    )
    assert "(database is locked)" in str(caught.value)


def _fill(path: Path) -> None:
    """Write ``path`` until the filesystem has no byte left."""
    with open(path, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(bytes(4096))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc


@pytest.mark.slow
def test_a_full_disk_fails_at_once_saying_so_and_the_study_resumes_once_space_is_freed(
    tmp_path: Path,
) -> None:
    # Enough trials that a loaded machine's slow poll below cannot see the run end first.
    target = 20
    folder = servers.write_study(
        tmp_path / "tiny",
        sleep=0.1,
        trials=target,
        extra_yaml="  heartbeat_interval: 0.5\n  grace_period: 2\n",
    )
    with small_tmpfs(tmp_path / "disk", "8m") as disk, servers.Processes(tmp_path) as processes:
        url = f"sqlite:///{disk / 'study.db'}"
        command = servers.cli_command(
            "optimize", str(folder), "--storage", url, "--study", "s", "--no-report", "-q"
        )
        run = processes.start(command)
        servers.wait_for(lambda: complete_trials(url, "s") >= 2, timeout=60, what="two trials")
        # Stopped while the disk fills, so that the run cannot finish its few trials first
        # (however loaded the machine); it meets the full disk at its next write.
        os.kill(run.pid, signal.SIGSTOP)
        _fill(disk / "filler")
        os.kill(run.pid, signal.SIGCONT)
        filled = time.monotonic()
        code, output = processes.finish(run, timeout=60)
        assert time.monotonic() - filled < 5, "a full disk is not waited for"
        assert code == 2, output
        line = error_line(output)
        assert line.startswith(f"crystallize-opt: error: storage '{url}': the disk is full ("), line
        assert "database or disk is full" in line and "free some space" in line, line
        assert MISLEADING not in output, output
        (disk / "filler").unlink()
        stored = {t.number: (t.params, t.values) for t in servers.complete(servers.trials_of(url, "s"))}
        assert len(stored) >= 2
        code, output = processes.finish(processes.start(command), timeout=60)
        assert code == 0, output
        trials = servers.trials_of(url, "s")
    assert len(servers.complete(trials)) == target
    assert {t.number: (t.params, t.values) for t in trials if t.number in stored} == stored


def _garble(database: Path) -> None:
    """Overwrite every page of a SQLite database in write-ahead-log mode with random bytes, but
    its first one (the schema), as another program writing to it would.

    First one write through a connection of its own, as another program's: SQLite then knows
    that the file changed, and the run's connections read its pages again instead of their
    cached copies.
    """
    with contextlib.closing(sqlite3.connect(database)) as other:
        other.execute("PRAGMA user_version = 7")
        other.commit()
    noise = random.Random(0)
    with open(database, "r+b") as handle:
        page = struct.unpack(">H", handle.read(18)[16:18])[0]
        handle.seek(page)
        handle.write(noise.randbytes(database.stat().st_size - page))
    log = database.with_name(database.name + "-wal")
    with open(log, "r+b") as handle:
        frames = handle.read()
        position = 32  # the log's header; then frames of a 24-byte header and a page
        while position + 24 + page <= len(frames):
            if struct.unpack(">I", frames[position : position + 4])[0] != 1:
                handle.seek(position + 24)
                handle.write(noise.randbytes(page))
            position += 24 + page


@pytest.mark.slow
def test_a_sqlite_file_damaged_during_a_run_is_reported_as_damaged(tmp_path: Path) -> None:
    folder = servers.write_study(tmp_path / "tiny", sleep=0.1, trials=30)
    database = tmp_path / "study.db"
    url = f"sqlite:///{database}"
    with servers.Processes(tmp_path) as processes:
        run = processes.start(
            servers.cli_command(
                "optimize", str(folder), "--storage", url, "--study", "s", "--no-report", "-q"
            )
        )
        servers.wait_for(lambda: complete_trials(url, "s") >= 2, timeout=60, what="two trials")
        _garble(database)
        code, output = processes.finish(run, timeout=60)
    assert code == 2, output
    line = error_line(output)
    assert line.startswith(f"crystallize-opt: error: storage '{url}' is damaged ("), line
    assert "malformed" in line and "restore it from a backup, or move it away" in line, line
    assert MISLEADING not in output, output


# -- the setting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1.0, float("inf"), float("nan"), True, "600"])
def test_outage_timeout_must_be_a_positive_finite_number_of_seconds(value: object) -> None:
    with pytest.raises(
        ConfigurationError, match="outage_timeout must be a positive, finite number of seconds"
    ):
        servers.optimizer_for(":memory:", "s", outage_timeout=value)


def test_outage_timeout_comes_from_the_config_and_reaches_every_worker(tmp_path: Path) -> None:
    folder = servers.write_study(tmp_path / "tiny", extra_yaml="  outage_timeout: 42.5\n")
    settings = load_study(folder).optimize
    assert settings is not None and settings.outage_timeout == 42.5
    optimizer = settings.make_optimizer(storage=f"sqlite:///{tmp_path / 'study.db'}")
    worker = pickle.loads(pickle.dumps(optimizer))  # what run_workers sends each worker
    for each in (optimizer, worker):
        assert each.outage_timeout == 42.5
        assert isinstance(each.storage, RetryingRDBStorage) and each.storage.outage.timeout == 42.5
        copy = pickle.loads(pickle.dumps(each.storage))  # Optuna's storages pickle; ours too
        assert copy.outage.timeout == 42.5
        for storage in (each.storage, copy):
            servers.close_storage(storage)
    assert load_study(servers.write_study(tmp_path / "plain")).optimize.outage_timeout == 600  # type: ignore[union-attr]
    bad = servers.write_study(tmp_path / "bad", extra_yaml="  outage_timeout: 0\n")
    with pytest.raises(
        ConfigurationError,
        match=r"optimize\.outage_timeout: expected a positive, finite number of seconds, got 0",
    ):
        load_study(bad)


def test_once_given_up_every_thread_of_the_process_reports_the_same_outage() -> None:
    """After a watch gave up, later operations (another thread's, or storing the running trial
    as failed) fail at once, in the same words: a run's workers then report one outage, not a
    "gave up after 1 s" beside a bare "is unreachable"."""
    import sqlalchemy

    watch = _outage.OutageWatch("postgresql+psycopg://postgres@127.0.0.1:1/test", timeout=0.3)

    def refused() -> None:
        raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("Connection refused"))

    with pytest.raises(StorageError) as first:
        watch.run(refused)
    started = time.monotonic()
    with pytest.raises(StorageError) as again:
        watch.run(refused)
    assert time.monotonic() - started < 0.1, "a watch that gave up waits no more"
    assert "is unreachable: gave up after 0 s (" in str(first.value)
    assert str(again.value) == str(first.value)
