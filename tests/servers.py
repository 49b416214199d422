"""Storages, study folders and worker processes for the storage, worker and fault tests.

Real servers (PostgreSQL, MariaDB/MySQL, Redis) are named by environment variables; a test
that needs one skips, saying which variable to set, when it is unset (``.ci/run`` sets all
three). Every test works in a study of its own (a random name) that it deletes afterwards, so
tests never see each other's data and can run again and again on the same server.

This module is also a small worker program for tests that must start processes at one exact
moment or with settings the command line does not take (``python -m tests.servers --help``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import optuna
from optuna.distributions import FloatDistribution
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.trial import FrozenTrial, TrialState

from crystallize_opt import (
    Experiment,
    Objective,
    OptunaOptimizer,
    Pipeline,
    SeedPlugin,
    data_source,
    pipeline_step,
)

from .stored import record_of

REPO = Path(__file__).resolve().parent.parent

#: Environment variable -> the server it names, and an example URL.
SERVER_ENV = {
    "postgres": (
        "CRYSTALLIZE_TEST_POSTGRES_URL",
        "PostgreSQL",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    ),
    "mysql": ("CRYSTALLIZE_TEST_MYSQL_URL", "MariaDB/MySQL", "mysql+pymysql://root@127.0.0.1:3306/test"),
    "redis": ("CRYSTALLIZE_TEST_REDIS_URL", "Redis", "redis://127.0.0.1:6379/0"),
}
#: Every kind of storage URL that several processes can share.
SHARED_KINDS = ("sqlite", "journal", "postgres", "mysql", "redis")

T = TypeVar("T")


# -- servers and storage URLs ------------------------------------------------------------------


def server_url(kind: str) -> str:
    """The URL of the ``kind`` server from its environment variable; skip the test when unset."""
    import pytest

    variable, label, example = SERVER_ENV[kind]
    value = os.environ.get(variable, "").strip()
    if not value:
        pytest.skip(f"set {variable} to a {label} URL to run this test (e.g. {example})")
    return value


def storage_url(kind: str, folder: Path) -> str:
    """A storage URL of ``kind``: a file in ``folder`` for sqlite/journal, else the server's."""
    if kind == "sqlite":
        return f"sqlite:///{folder / 'study.db'}"
    if kind == "journal":
        return f"journal:///{folder / 'study.log'}"  # journal:////absolute/path, like sqlite:////
    return server_url(kind)


def with_query(url: str, **params: str) -> str:
    """``url`` with these query parameters added (e.g. ``application_name`` for PostgreSQL)."""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{url}{'&' if '?' in url else '?'}{query}"


def unique_name(prefix: str = "t") -> str:
    """A study name no other test (nor an earlier run of this one) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def opened(url: str) -> Iterator[BaseStorage]:
    """The storage for ``url`` (as the package resolves it), closed afterwards."""
    from crystallize_opt.storage import resolve_storage

    storage = resolve_storage(url)
    try:
        yield storage
    finally:
        close_storage(storage)


def close_storage(storage: BaseStorage) -> None:
    """Give back a storage's connections (engines and Redis clients hold sockets)."""
    if isinstance(storage, RDBStorage):
        storage.scoped_session.remove()
        storage.engine.dispose()
    elif isinstance(storage, JournalStorage):
        client = getattr(getattr(storage, "_backend", None), "_redis", None)
        if client is not None:
            client.close()


def trials_of(url: str, study_name: str) -> list[FrozenTrial]:
    """All trials of a study, read through a fresh storage (as another process would)."""
    with opened(url) as storage:
        return optuna.load_study(study_name=study_name, storage=storage).get_trials(deepcopy=False)


def trials_or_none(url: str, study_name: str) -> list[FrozenTrial] | None:
    """Like :func:`trials_of`, or None while the study (or its database) does not exist yet."""
    try:
        return trials_of(url, study_name)
    except KeyError:
        return None


def delete_study(url: str, study_name: str) -> None:
    """Delete the study; on Redis also the journal's keys once it holds no other study."""
    with opened(url) as storage:
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=study_name, storage=storage)
        backend = getattr(storage, "_backend", None)
        client = getattr(backend, "_redis", None)
        if client is not None and not storage.get_all_studies():
            prefix = getattr(backend, "_prefix", "")
            keys = [*client.scan_iter(match=f"{prefix}:log*"), f"{prefix}:snapshot"]
            client.delete(*keys)


@contextlib.contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    """A new, empty database on the ``kind`` server (postgres or mysql), dropped afterwards;
    yields its URL. For tests that need a schema nobody created yet, or sessions of their own."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    base = server_url(kind)
    name = f"crystallize_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(base, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    try:
        yield sqlalchemy.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if kind == "postgres" else ""
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


@dataclass
class StudyPlace:
    """Where a test's study lives: its storage URL and its (unique) name."""

    kind: str
    url: str
    name: str = field(default_factory=unique_name)

    def trials(self) -> list[FrozenTrial]:
        return trials_of(self.url, self.name)

    def load(self) -> optuna.Study:
        """The study on a storage of its own (closed when the test's process ends)."""
        from crystallize_opt.storage import resolve_storage

        return optuna.load_study(study_name=self.name, storage=resolve_storage(self.url))


@contextlib.contextmanager
def study_place(kind: str, folder: Path, *, url: str | None = None) -> Iterator[StudyPlace]:
    """A fresh, uniquely named study place of ``kind``; the study is deleted afterwards."""
    place = StudyPlace(kind, url or storage_url(kind, folder))
    try:
        yield place
    finally:
        if kind not in ("sqlite", "journal"):  # files go with the test's tmp_path
            delete_study(place.url, place.name)


# -- checks ------------------------------------------------------------------------------------


def states(trials: Sequence[FrozenTrial]) -> dict[str, int]:
    """How many trials are in each state, by lower-case state name (only states present)."""
    counts: dict[str, int] = {}
    for trial in trials:
        counts[trial.state.name.lower()] = counts.get(trial.state.name.lower(), 0) + 1
    return counts


def complete(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if t.state == TrialState.COMPLETE]


def failure_of(trial: FrozenTrial) -> str:
    """The failure reason crystallize-opt stored with a trial ("" when none)."""
    return str(trial.user_attrs.get("crystallize", {}).get("failure", ""))


def given_up(trial: FrozenTrial) -> bool:
    """A trial a worker gave up before running it: lower-numbered trials already made the target."""
    return trial.state == TrialState.FAIL and "not needed" in failure_of(trial)


def real_failures(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """FAIL trials other than given-up ones."""
    return [t for t in trials if t.state == TrialState.FAIL and not given_up(t)]


def assert_consistent(trials: Sequence[FrozenTrial], target: int) -> None:
    """Exactly ``target`` COMPLETE trials, none RUNNING or WAITING, numbers 0..n-1 once each,
    and every complete trial holds its record (replicates, seeds, stats)."""
    numbers = sorted(t.number for t in trials)
    assert numbers == list(range(len(trials))), f"trial numbers are not unique and dense: {numbers}"
    counts = states(trials)
    assert counts.get("complete", 0) == target, f"expected exactly {target} complete trials, got {counts}"
    assert not counts.get("running") and not counts.get("waiting"), f"trials left unfinished: {counts}"
    for trial in complete(trials):
        record = trial.user_attrs.get("crystallize", {})
        assert {"values", "seeds", "stats"} <= set(record), (trial.number, sorted(record))


def worker_pids(trials: Sequence[FrozenTrial]) -> set[int]:
    """The process ids that ran complete trials (the study folders' step records ``pid``)."""
    return {int(v) for t in complete(trials) for v in record_of(t).values.get("pid", [])}


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# -- a tiny experiment (module level, so spawned worker processes can import it) ---------------


@data_source
def small_noise(ctx: Any) -> float:
    return float(ctx.rng.normal(scale=0.1))


@pipeline_step()
def pid_loss(noise: float, ctx: Any, x: float = 0.0, sleep: float = 0.0) -> float:
    """``loss = (x - 1)^2 + noise``; also records the ``pid`` of the process that ran it."""
    if sleep:
        time.sleep(sleep)
    ctx.metrics.add("loss", (x - 1.0) ** 2 + noise)
    ctx.metrics.add("pid", os.getpid())
    return noise


def tiny_experiment(*, sleep: float = 0.0, seed: int = 7, name: str = "tiny") -> Experiment:
    """The Python twin of :func:`write_study`'s folder (its treatment and hypothesis aside)."""
    return Experiment(
        datasource=small_noise(),
        pipeline=Pipeline([pid_loss(sleep=sleep)]),
        plugins=[SeedPlugin(seed=seed)],
        name=name,
    )


# -- study folders -----------------------------------------------------------------------------


def write_study(
    folder: Path,
    *,
    sleep: float = 0.0,
    fail: bool = False,
    trials: int = 6,
    replicates_per_trial: int = 2,
    sampler: str = "{name: tpe, seed: 0}",
    extra_yaml: str = "",
) -> Path:
    """A tiny study folder: ``loss = (x - 1)^2 + noise``, ``sleep`` seconds per replicate.

    Each replicate also records the ``pid`` of the process that ran it, so tests can tell which
    workers ran which trials; with ``fail`` every replicate raises instead. The experiment has
    master seed 7, one treatment (``one: {x: 1.0}``) and a Welch test on ``loss`` for
    ``crystallize-opt run``; ``trials``, ``replicates_per_trial`` and ``sampler`` go to
    ``optimize:``. ``extra_yaml`` is appended to ``config.yaml`` as it is: ``optimize:`` comes
    last, so lines indented by two spaces add optimize settings.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "datasources.py").write_text(
        textwrap.dedent(
            """
            from crystallize_opt import data_source

            @data_source
            def noise(ctx):
                return float(ctx.rng.normal(scale=0.1))
            """
        )
    )
    (folder / "steps.py").write_text(
        textwrap.dedent(
            f"""
            import os
            import time
            from crystallize_opt import pipeline_step

            @pipeline_step()
            def loss(noise, ctx, x: float = 0.0):
                time.sleep({sleep!r})
                if {fail!r}:
                    raise RuntimeError("this pipeline always fails")
                ctx.metrics.add("loss", (x - 1.0) ** 2 + noise)
                ctx.metrics.add("pid", os.getpid())
                return noise
            """
        )
    )
    (folder / "config.yaml").write_text(
        textwrap.dedent(
            f"""
            name: tiny
            replicates: 3
            seed: 7
            datasource: noise
            steps: [loss]
            treatments:
              one: {{x: 1.0}}
            hypotheses:
              - {{verifier: welch_t_test, metrics: loss}}
            optimize:
              objective: {{metric: loss, direction: minimize}}
              trials: {trials}
              replicates_per_trial: {replicates_per_trial}
              sampler: {sampler}
              search_space:
                x: {{type: float, low: -2.0, high: 3.0}}
            """
        ).lstrip()
        + extra_yaml
    )
    return folder


# -- processes ---------------------------------------------------------------------------------


def process_env() -> dict[str, str]:
    """The environment of worker processes: unbuffered, and able to import ``tests``."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "crystallize_opt", *args]


def runner_command(*args: str) -> list[str]:
    """The worker program of this module (see :func:`main`)."""
    return [sys.executable, "-m", "tests.servers", *args]


class Processes:
    """Starts processes, each in a session of its own, and ends every one of them on exit.

    On exit, whatever is still running gets SIGKILL on its whole process group (so worker
    processes that a process started go too), and is waited for.
    """

    def __init__(self, cwd: Path):
        self.cwd = cwd
        self.started: list[subprocess.Popen[str]] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill_all()

    def start(self, command: Sequence[str], *, log: Path | None = None) -> subprocess.Popen[str]:
        out: Any = open(log, "w") if log is not None else subprocess.PIPE  # noqa: SIM115 - closed by Popen's owner
        process = subprocess.Popen(
            list(command),
            cwd=self.cwd,
            env=process_env(),
            stdout=out,
            stderr=subprocess.STDOUT if log is not None else subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        if log is not None:
            out.close()  # the child has its own copy
        self.started.append(process)
        return process

    def kill_all(self) -> None:
        for process in self.started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # the group outlives its leader
            if process.poll() is None:
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.communicate(timeout=10)

    @staticmethod
    def finish(process: subprocess.Popen[str], timeout: float) -> tuple[int, str]:
        """Wait for ``process``; return its exit code and everything it printed."""
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate(timeout=10)
            raise AssertionError(
                f"process {process.args} still running after {timeout:g} s:\n{out}{err}"
            ) from None
        return process.returncode, (out or "") + (err or "")


def living_in_group(pgid: int) -> list[int]:
    """Pids of the processes (zombies aside) in process group ``pgid``, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (command) "
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


def _trials_owned_running(url: str, study_name: str, pid: int) -> list[FrozenTrial]:
    """The RUNNING trials whose owner record (written as a trial starts) names process ``pid``."""
    try:
        trials = trials_or_none(url, study_name) or []
    except Exception:  # a stopped writer may hold SQLite's lock: not readable at this moment
        return []
    return [
        t
        for t in trials
        if t.state == TrialState.RUNNING
        and isinstance(owner := t.system_attrs.get("crystallize:owner"), dict)
        and owner.get("pid") == pid
    ]


def _holds_a_flock(pid: int) -> bool:
    """Whether process ``pid`` holds an ``flock`` lock now (``/proc/locks``; waiters excluded)."""
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[1] == "FLOCK" and fields[4] == str(pid):
            return True
    return False


def _state_of(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


def stop_mid_trial(
    pid: int, url: str, study_name: str, *, min_complete: int = 0, timeout: float = 60
) -> FrozenTrial:
    """Stop process ``pid`` (SIGSTOP) at a moment when a trial it runs is RUNNING in the study,
    and return that trial; the process stays stopped, so a SIGKILL sent next certainly lands in
    the middle of that trial, however loaded the machine (no window of time to hit). Waits for
    ``min_complete`` complete trials first. Fails after ``timeout`` seconds (Linux only)."""
    deadline = time.monotonic() + timeout
    while True:
        trials = trials_or_none(url, study_name) or []
        if len(complete(trials)) >= min_complete and _trials_owned_running(url, study_name, pid):
            os.kill(pid, signal.SIGSTOP)
            wait_for(lambda: _state_of(pid) == "T", timeout=10, what=f"process {pid} to stop", interval=0.01)
            # Stopped while holding the journal's flock: a read would wait for a process that
            # never goes on, so let it go and try again (SQLite's lock: the read fails, below).
            if not _holds_a_flock(pid):
                # Stopped: what the storage holds now is what it holds when the process is killed.
                owned = _trials_owned_running(url, study_name, pid)
                if owned:
                    return owned[0]
            os.kill(pid, signal.SIGCONT)  # it finished that trial before it stopped
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for process {pid} to be mid-trial")
        time.sleep(0.02)


# -- the worker program ------------------------------------------------------------------------

# -- shared by the storage and worker test modules ------------------------------------------------

#: The search space of the tiny study: loss = (x - 1)^2 + noise.
SPACE = {"x": FloatDistribution(-2.0, 3.0)}


def optimizer_for(url: str, name: str, **kwargs: object) -> OptunaOptimizer:
    """A seeded TPE optimizer for the tiny study on ``url``/``name`` (``sampler=None``: the default)."""
    settings: dict[str, Any] = {"sampler": optuna.samplers.TPESampler(seed=0), **kwargs}
    return OptunaOptimizer(
        search_space=SPACE,
        objective=Objective("loss"),
        storage=url,
        study_name=name,
        **settings,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run (part of) a study folder's optimization with settings the CLI may not offer.

    With ``--start-file``, everything is loaded first and the process then waits until that
    file exists, so several processes open the storage at one moment (``--ready-dir`` tells
    the test when a process is waiting). Exit codes as the command line's: 130 on Ctrl+C.
    """
    parser = argparse.ArgumentParser(prog="python -m tests.servers")
    parser.add_argument("folder")
    parser.add_argument("--storage", required=True)
    parser.add_argument("--study", required=True)
    parser.add_argument("--trials", type=int, required=True)
    parser.add_argument("--replicates", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--heartbeat-interval", type=float)
    parser.add_argument("--grace-period", type=float)
    parser.add_argument("--max-retries", type=int)
    parser.add_argument("--sampler-seed", type=int, help="default: the config's")
    parser.add_argument("--start-file", help="wait (after loading everything) until this file exists")
    parser.add_argument("--ready-dir", help="write ready-<pid> here before waiting for --start-file")
    args = parser.parse_args(argv)

    from crystallize_opt import OptunaOptimizer
    from crystallize_opt.config import load_study

    study = load_study(args.folder)
    settings = study.optimize
    assert settings is not None
    extra: dict[str, Any] = {
        key: getattr(args, key)
        for key in ("heartbeat_interval", "grace_period", "max_retries")
        if getattr(args, key) is not None
    }
    if args.start_file:
        start = Path(args.start_file)
        if args.ready_dir:
            (Path(args.ready_dir) / f"ready-{os.getpid()}").touch()
        deadline = time.monotonic() + 60
        while not start.exists():
            if time.monotonic() > deadline:
                print("the start file never appeared", file=sys.stderr)
                return 3
            time.sleep(0.001)
    optimizer = OptunaOptimizer(
        search_space=dict(settings.search_space),
        objective=settings.objective,
        sampler=settings.make_sampler(args.sampler_seed),
        storage=args.storage,
        study_name=args.study,
        **extra,
    )
    workers: dict[str, Any] = {"workers": args.workers} if args.workers != 1 else {}
    try:
        best = study.experiment.optimize(optimizer, args.trials, args.replicates, **workers)
    except KeyboardInterrupt:
        return 130
    print(f"best {best.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
