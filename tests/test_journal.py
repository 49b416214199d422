"""Journal files (``journal:///study.log``) after faults: a record cut short by a full disk or a
killed process, a damaged line, a stale lock left in a moved or copied folder, and a wait for a
lock that a signal must end. Every fault is real: a file-size limit, bytes cut off, real
symlinks and flocks held by other processes."""

from __future__ import annotations

import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from crystallize_opt import JournalFileError
from crystallize_opt.exceptions import ConfigurationError
from crystallize_opt.storage import JournalFile, open_existing_storage, resolve_storage

from . import servers
from .test_faults import FAULT_TOLERANCE

STUDY = "s"
LOGGER = "crystallize_opt.storage"
PARTIAL = b'{"op_code": 5, "param'


@pytest.fixture(autouse=True)
def _quiet(quiet_workdir: Path) -> None:
    """Every test here runs in its own folder, without Optuna's per-trial logging."""


def run_trials(url: str, count: int) -> list[FrozenTrial]:
    """Run ``count`` more trials of the study ``s`` on ``url`` (as a rerun would); return all."""
    study = optuna.create_study(
        study_name=STUDY,
        storage=resolve_storage(url),
        sampler=optuna.samplers.RandomSampler(seed=len(str(url)) + count),
        load_if_exists=True,
    )
    study.optimize(lambda trial: trial.suggest_float("x", -1.0, 1.0) ** 2, n_trials=count)
    return study.get_trials(deepcopy=False)


def plain_optuna_trials(path: Path, name: str = STUDY) -> list[FrozenTrial]:
    """The study's trials as plain Optuna reads the file."""
    storage = JournalStorage(JournalFileBackend(str(path)))
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def summary(trials: list[FrozenTrial]) -> list[tuple[int, TrialState, dict[str, float], float | None]]:
    return [(t.number, t.state, t.params, t.value) for t in trials]


# -- item 1: a torn last record ----------------------------------------------------------------


def test_a_torn_last_record_is_moved_aside_and_a_rerun_continues_with_every_trial(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = tmp_path / "study.log"
    url = f"journal:///{journal}"
    before = summary(run_trials(url, 3))
    with journal.open("ab") as handle:
        handle.write(PARTIAL)  # a write cut short: a full disk, or a process killed mid-append
    whole = journal.read_bytes()[: -len(PARTIAL)]

    # Reading creates nothing and loses nothing: the partial line is left out, with a warning.
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        read = open_existing_storage(url)
    assert summary(optuna.load_study(study_name=STUDY, storage=read).get_trials()) == before
    assert "21 bytes without a newline" in caplog.text
    assert journal.read_bytes() == whole + PARTIAL
    caplog.clear()

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        after = summary(run_trials(url, 2))  # before the fix: AttributeError, then JSONDecodeError
        after = summary(run_trials(url, 2))
    assert after[:3] == before
    assert [state for _, state, _, _ in after] == [TrialState.COMPLETE] * 7
    assert "incomplete record of 21 bytes" in caplog.text
    (aside,) = tmp_path.glob("study.log.torn-*")
    assert aside.read_bytes() == PARTIAL
    assert journal.read_bytes().startswith(whole)
    assert summary(plain_optuna_trials(journal)) == after


def test_a_record_torn_by_another_process_mid_run_is_mended_before_the_next_write(tmp_path: Path) -> None:
    """A worker killed mid-append while others keep writing: their next record is not glued to it."""
    journal = tmp_path / "study.log"
    url = f"journal:///{journal}"
    study = optuna.create_study(study_name=STUDY, storage=resolve_storage(url))
    study.optimize(lambda trial: trial.suggest_float("x", -1.0, 1.0) ** 2, n_trials=2)
    with journal.open("ab") as handle:
        handle.write(PARTIAL)
    study.optimize(lambda trial: trial.suggest_float("x", -1.0, 1.0) ** 2, n_trials=2)  # same storage
    assert summary(plain_optuna_trials(journal)) == summary(study.get_trials())
    assert len(study.get_trials()) == 4
    (aside,) = tmp_path.glob("study.log.torn-*")
    assert aside.read_bytes() == PARTIAL


def test_a_whole_record_cut_before_its_newline_is_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = tmp_path / "study.log"
    url = f"journal:///{journal}"
    before = summary(run_trials(url, 2))
    os.truncate(journal, journal.stat().st_size - 1)  # the last record (a trial's COMPLETE) lacks "\n"
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        after = summary(run_trials(url, 1))
    assert after[:2] == before  # the record was kept: trial 1 is still COMPLETE with its value
    assert "the newline was added" in caplog.text
    assert not list(tmp_path.glob("study.log.torn-*"))
    assert summary(plain_optuna_trials(journal)) == after


def test_a_write_that_hits_a_file_size_limit_leaves_no_partial_record(tmp_path: Path) -> None:
    """A real short write (RLIMIT_FSIZE, as on a full disk): the file is cut back to what it was."""
    journal = tmp_path / "study.log"
    JournalFile(journal).append_logs([{"op_code": 0, "worker_id": "w", "study_name": "a", "directions": [1]}])
    size = journal.stat().st_size
    program = textwrap.dedent(
        f"""
        import resource, sys
        from crystallize_opt.storage import JournalFile
        resource.setrlimit(resource.RLIMIT_FSIZE, ({size + 100}, {size + 100}))
        try:
            JournalFile({str(journal)!r}).append_logs([{{"op_code": 2, "worker_id": "w", "study_id": 0,
                                                          "user_attr": {{"big": "x" * 1000}}}}])
        except OSError as exc:
            print(exc)
            sys.exit(3)
        """
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert "File too large" in done.stdout and str(journal) in done.stdout
    assert journal.stat().st_size == size  # before the fix: size + 100, a partial record at the end


# -- item 10: a damaged line -------------------------------------------------------------------


@pytest.mark.parametrize("glued", [True, False], ids=["torn-then-glued", "garbage"])
def test_a_damaged_line_before_the_end_is_refused_naming_the_file_and_line(
    tmp_path: Path, glued: bool
) -> None:
    journal = tmp_path / "study.log"
    url = f"journal:///{journal}"
    run_trials(url, 2)
    lines = journal.read_bytes().splitlines(keepends=True)
    # What the old backend made of a torn tail: the next record glued to the partial one.
    lines[4] = (PARTIAL + lines[4]) if glued else b"\x00\x00\x00\n"
    journal.write_bytes(b"".join(lines))
    damaged = journal.read_bytes()
    for open_it in (resolve_storage, open_existing_storage):
        with pytest.raises(JournalFileError) as caught:
            optuna.load_study(study_name=STUDY, storage=open_it(url))
        message = str(caught.value)
        assert "\n" not in message and f"{str(journal)!r}, line 5: not a journal record" in message
        assert ("keep the line from column 22 on" if glued else "delete that line") in message
    assert journal.read_bytes() == damaged  # nothing dropped or mended
    assert not list(tmp_path.glob("study.log.torn-*"))


def test_the_cli_names_the_journal_file_and_line_and_exits_2(tmp_path: Path) -> None:
    folder = servers.write_study(tmp_path / "study")
    journal = folder / "study.log"
    (folder / "study.log").write_bytes(
        b'{"op_code":0,"worker_id":"w","study_name":"study","directions":[1]}\n\n{}\n'
    )
    done = subprocess.run(
        servers.cli_command("best", str(folder), "--storage", f"journal:///{journal}"),
        capture_output=True,
        text=True,
        timeout=60,
        env=servers.process_env(),
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert (
        f"journal file {str(journal)!r}, line 2: not a journal record (Expecting value at column 1)" in line
    )


# -- item 4: stale locks, and waits that a signal ends ------------------------------------------


@pytest.mark.slow  # wall-clock bounds
@pytest.mark.timeout(30)  # before the fix this spun at full CPU forever
@pytest.mark.parametrize("how", ["moved", "copied"])
def test_a_stale_lock_in_a_moved_or_copied_study_folder_is_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    original = tmp_path / "original"
    original.mkdir()
    before = summary(run_trials(f"journal:///{original / 'study.log'}", 2))
    # What a process killed while holding Optuna's lock leaves: an absolute symlink to the file.
    (original / "study.log.lock").symlink_to(original / "study.log")
    moved = tmp_path / "moved"
    if how == "moved":
        original.rename(moved)
    else:
        shutil.copytree(original, moved, symlinks=True)  # the original stays: the symlink still resolves
    assert (moved / "study.log.lock").is_symlink()

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        after = summary(run_trials(f"journal:///{moved / 'study.log'}", 1))
    assert time.monotonic() - started < 10
    assert after[:2] == before and len(after) == 3
    assert "removed the stale lock" in caplog.text and "moved or copied" in caplog.text
    assert not (moved / "study.log.lock").is_symlink()


@pytest.mark.slow  # wall-clock bounds
def test_a_lock_left_in_place_by_a_dead_process_is_removed_after_the_grace(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = tmp_path / "study.log"
    journal.touch()
    (tmp_path / "study.log.lock").symlink_to(journal)  # points to this very file: maybe a live writer
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        JournalFile(journal, symlink_grace=0.3).append_logs([{"op_code": 1, "worker_id": "w", "study_id": 0}])
    assert 0.3 <= time.monotonic() - started < 5
    assert "it stayed for 0.3 s while nobody wrote" in caplog.text
    assert journal.read_bytes().endswith(b'"study_id":0}\n')
    assert not (tmp_path / "study.log.lock").is_symlink()


#: A process that holds a journal's lock (flock and Optuna's symlink) until it is killed.
HOLDER = """
import fcntl, os, sys, time
path = sys.argv[1]
handle = open(path, "rb")
fcntl.flock(handle, fcntl.LOCK_EX)
os.symlink(os.path.abspath(path), path + ".lock")
print("holding", flush=True)
time.sleep(120)
"""

#: A process that writes to the journal while SIGINT and SIGTERM are held back (as when a trial
#: is stored), so it waits for the lock inside the deferred-signal block.
WRITER = """
import os, sys, time
import optuna
from crystallize_opt._signals import deferred_signals, sigterm_raises
from crystallize_opt.storage import resolve_storage
storage = resolve_storage("journal:///" + sys.argv[1])
print("opened", flush=True)
while not os.path.exists(sys.argv[1] + ".go"):
    time.sleep(0.01)
with sigterm_raises():
    with deferred_signals():
        print("writing", flush=True)
        optuna.create_study(study_name="s", storage=storage)
print("written", flush=True)
"""


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_ends_a_wait_for_a_lock_held_by_a_live_process(tmp_path: Path, signum: int) -> None:
    journal = tmp_path / "study.log"
    journal.touch()
    with servers.Processes(tmp_path) as processes:
        writer = processes.start([sys.executable, "-c", WRITER, str(journal)])
        assert writer.stdout is not None and writer.stdout.readline().strip() == "opened"
        holder = processes.start([sys.executable, "-c", HOLDER, str(journal)])
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        (tmp_path / "study.log.go").touch()
        assert writer.stdout.readline().strip() == "writing"
        time.sleep(0.5)  # well into the wait
        assert writer.poll() is None  # it waits: the holder is alive
        sent = time.monotonic()
        writer.send_signal(signum)
        try:
            writer.wait(timeout=5)  # before the fix: held back until Optuna broke the lock (30 s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the writer did not end within 5 s of {signal.Signals(signum).name}")
        assert time.monotonic() - sent < 2
        out, err = writer.communicate()
        assert "written" not in out
        assert writer.returncode in (-signum, 1, 128 + signum), err
        assert holder.poll() is None  # the live holder's lock was never broken
    assert journal.read_bytes() == b""


# -- the whole command line after a full disk ---------------------------------------------------


def _limit_file_size(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a short write fails with EFBIG, as on a full disk


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_cli_a_study_whose_disk_filled_up_reads_and_resumes_with_every_complete_trial(tmp_path: Path) -> None:
    folder = servers.write_study(tmp_path / "study", trials=3, extra_yaml=FAULT_TOLERANCE)
    journal = folder / "study.log"
    url = f"journal:///{journal}"

    def cli(*args: str, limit: int | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            servers.cli_command(*args),
            capture_output=True,
            text=True,
            timeout=120,
            env=servers.process_env(),
            cwd=tmp_path,
            preexec_fn=None if limit is None else lambda: _limit_file_size(limit),
        )

    first = cli("optimize", str(folder), "--storage", url, "-q")
    assert first.returncode == 0, first.stderr
    full = cli(
        "optimize",
        str(folder),
        "--storage",
        url,
        "--trials",
        "400",
        "-q",
        limit=journal.stat().st_size + 6000,
    )
    assert full.returncode != 0
    assert "File too large" in full.stderr and str(journal) in full.stderr, full.stderr
    assert journal.read_bytes().endswith(b"\n")  # before the fix: a partial record at the end
    done_before = [t for t in plain_optuna_trials(journal, "study") if t.state == TrialState.COMPLETE]
    assert len(done_before) >= 4

    for command in ("best", "trials", "report"):
        shown = cli(command, str(folder), "--storage", url)
        assert shown.returncode == 0, (command, shown.stderr)
    rerun = cli("optimize", str(folder), "--storage", url, "--trials", str(len(done_before) + 2), "-q")
    assert rerun.returncode == 0, rerun.stderr
    trials = plain_optuna_trials(journal, "study")
    complete = {t.number: (t.params, t.value) for t in trials if t.state == TrialState.COMPLETE}
    assert all(complete.get(t.number) == (t.params, t.value) for t in done_before)
    assert len(complete) >= len(done_before) + 2
    assert not [t for t in trials if t.state == TrialState.RUNNING]


def test_a_journal_url_gives_no_plain_optuna_backend(tmp_path: Path) -> None:
    """The hooks are taken: every way the package opens a journal file uses :class:`JournalFile`."""
    url = f"journal:///{tmp_path / 'study.log'}"
    for storage in (resolve_storage(url), open_existing_storage(url)):
        assert isinstance(storage, JournalStorage) and isinstance(storage._backend, JournalFile)
    with pytest.raises(ConfigurationError, match="does not exist"):
        open_existing_storage(f"journal:///{tmp_path / 'missing.log'}")
