"""Parallel workers on one machine: N processes sharing one study through its storage."""

from __future__ import annotations

import io
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import sys
import time
import uuid
from contextlib import nullcontext
from types import ModuleType
from typing import TYPE_CHECKING, Any

import optuna

from .._logging import get_logger
from .._signals import Terminated, deferred_signals, sigterm_raises
from ..coordination import fail_trials_of_workers
from ..exceptions import ConfigurationError, OptimizationError, StorageError
from ..plugins import device_plan, use_devices
from ..storage import without_waiting
from ..treatment import Treatment
from ._base import WorkerRole
from ._loop import make_run
from ._optuna import OptunaOptimizer
from ._progress import StudyProgress

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from multiprocessing.queues import Queue

_log = get_logger("optimize")
#: Seconds the parent waits for interrupted workers to store their trials before killing them.
SHUTDOWN_GRACE = 30.0
#: Seconds between the progress bar's reads of the study's finished trials.
PROGRESS_INTERVAL = 0.5
#: Modules every worker needs. The forkserver imports them once, so each worker starts as a fork
#: of a process that has them instead of importing them itself (1.3-1.8 s of CPU per worker).
PRELOAD = ("crystallize_opt", "crystallize_opt.config", "optuna", "numpy", "scipy", "sqlalchemy")
#: Packages with parts imported lazily, on first use (Optuna's storages, SQLAlchemy's dialects,
#: Alembic's schema check): every module of theirs that this process imported while it opened
#: the study is preloaded too, since each worker opens the same study.
_LAZY_PACKAGES = ("crystallize_opt", "optuna", "sqlalchemy", "alembic")
#: Study files are imported by every worker itself, never preloaded: the forkserver lives as
#: long as this process, and a preloaded copy would hide an edit made between two runs.
_FRESH_PREFIXES = ("__main__", "__mp_main__", "crystallize_opt.config._studies")
#: Exit code of a worker that found itself started by its own main script (see run_workers).
_UNGUARDED_MAIN_EXIT = 3
#: Exit code of a worker whose storage failed (a database unreachable for longer than its
#: outage timeout, a full disk, a damaged file): a StorageError.
_STORAGE_EXIT = 4


class _RecordingPickler(pickle.Pickler):
    """A pickler that notes the module of every class and function it refers to by name."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file)
        self.modules: set[str] = set()

    def reducer_override(self, obj: Any) -> Any:
        module = getattr(obj, "__module__", None) if isinstance(obj, type) or callable(obj) else None
        if not isinstance(module, str):
            module = type(obj).__module__
        self.modules.add(module)
        return NotImplemented  # pickle it as usual


def _pickle_payload(experiment: Any, optimizer: OptunaOptimizer) -> tuple[bytes, set[str]]:
    """Pickle what the workers need; return the bytes and the modules the pickle refers to."""
    buffer = io.BytesIO()
    pickler = _RecordingPickler(buffer)
    pickler.dump((experiment, optimizer))
    return buffer.getvalue(), pickler.modules


def preload_modules(payload_modules: set[str]) -> list[str]:
    """The modules the forkserver should import before it forks workers.

    :data:`PRELOAD`, the modules of :data:`_LAZY_PACKAGES` this process has imported, the
    library modules the payload refers to, and the library modules that the study's own files
    (or the main script) import; never the study files themselves. Only modules this process
    has already imported are listed: they import cleanly here, and a module that raised
    anything but ImportError would take the forkserver down.
    """
    chosen = ["__main__", *PRELOAD]  # "__main__": the forkserver's own default, kept

    def add(name: object) -> None:
        if not isinstance(name, str) or name in chosen or name == "builtins":
            return
        if name in sys.modules and not name.startswith(_FRESH_PREFIXES):
            chosen.append(name)

    for module_name in sorted(payload_modules):
        if not module_name.startswith(_FRESH_PREFIXES):
            add(module_name)
            continue
        module = sys.modules.get("__main__" if module_name == "__mp_main__" else module_name)
        for value in list(vars(module).values()) if module is not None else []:
            add(value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None))
    for name in list(sys.modules):  # in import order, so that packages come before their parts
        if name.partition(".")[0] in _LAZY_PACKAGES:
            add(name)
    return chosen


def worker_context() -> Any:
    """The multiprocessing context of worker processes: forkserver where there is one, else spawn.

    Not fork: the parent runs threads (storage pools, heartbeats) that a fork would copy
    mid-flight. The preload applies when this process starts its forkserver (its first run of
    workers, or of ``ParallelExecution(start_method="forkserver")``); that one forkserver then
    serves every later run, already holding the imports.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    return multiprocessing.get_context("forkserver")


def _worker_main(
    payload: bytes,
    num_trials: int,
    replicates: int,
    index: int,
    levels: tuple[int, int],
    errors: Queue[str],
    run_id: str,
    devices: str | None = None,
) -> None:
    """Entry point of one worker process: run the shared study until its target is reached.

    ``levels``: the starting process's level of the ``crystallize_opt`` logger and Optuna's
    verbosity, which the worker takes over (the command line keeps Optuna's INFO lines out).
    ``devices``: the worker's ``CUDA_VISIBLE_DEVICES`` (None: the parent's).
    """
    if devices is not None:
        use_devices(devices)  # before the study's code is unpickled and can start CUDA
    logging.basicConfig(level=levels[0], format=f"%(levelname)s worker-{index} %(name)s: %(message)s")
    optuna.logging.set_verbosity(levels[1])
    with sigterm_raises():
        try:
            if hasattr(signal, "pthread_sigmask"):  # blocked in the forkserver: see _start_forkserver
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a pending one lands here
            experiment, optimizer = pickle.loads(payload)
            # CPU since this process was forked: what start-up cost beyond the forkserver's imports.
            _log.debug("worker %d unpickled its study after %.2f s of CPU", index, time.process_time())
            # The parent chooses the winner of a noise-aware search, once, after every worker ended.
            role = WorkerRole(f"{run_id}:{index}", selects_winner=False)
            experiment._optimize_as_worker(optimizer, num_trials, replicates, role)
        except KeyboardInterrupt:
            raise SystemExit(130) from None
        except Terminated as exc:
            raise SystemExit(exc.exit_code) from None
        except ConfigurationError as exc:
            errors.put(f"worker {index}: {exc}")
            raise SystemExit(2) from None
        except StorageError as exc:
            errors.put(f"worker {index}: {exc}")
            raise SystemExit(_STORAGE_EXIT) from None
        except Exception as exc:
            errors.put(f"worker {index}: {type(exc).__name__}: {exc}")
            raise SystemExit(1) from None


def run_workers(
    experiment: Any,
    optimizer: OptunaOptimizer,
    num_trials: int,
    replicates: int,
    workers: int,
    progress: bool,
    gpus: tuple[int, ...] | None = None,
) -> Treatment:
    """Run ``workers`` processes that share ``optimizer``'s study; return the best treatment.

    ``gpus``: GPU indices the workers share, each worker seeing its own through
    ``CUDA_VISIBLE_DEVICES`` (:func:`~crystallize_opt.plugins.device_plan`: round robin when
    there are more workers than GPUs).

    The study is created (and checked) here first, so the workers never race to create it.
    Each worker runs the ordinary loop and stops once the study has ``num_trials`` finished
    trials; trials already running then still finish, so the study may end with up to
    ``workers - 1`` trials more than the target. Replicate seeds are those of a serial run.

    Storage: the optimizer's, which must be a URL every process can open. Any shared storage
    works; which one sets the ceiling on trials per second. SQLite (made safe for several
    processes) takes one writer at a time, and every trial writes a few times, so with many
    workers and short trials they queue for its lock. A journal file (``journal:///study.log``)
    appends under a file lock with less work per write: 8 workers of a 0.2-s waiting pipeline
    reached 7.5x one worker's rate on SQLite and 7.8x on a journal file on a quiet machine, but
    2.7-6.3x against 5.2-7.0x once other work shared the cores (see benchmarks/README.md,
    "Parallel workers"). Hence ``crystallize-opt optimize STUDY
    --workers N`` without a storage keeps a new study in the folder's ``study.log`` (a study
    that already exists in ``study.db`` stays there); see ``OptimizeConfig.storage_for``.

    Start-up: workers are started by a forkserver (not fork: this process runs threads, such
    as storage pools and heartbeats, that a fork would copy mid-flight). Its first start in a
    process preloads the package, Optuna, NumPy, SciPy, SQLAlchemy and the libraries the
    study's files import (:func:`preload_modules`), so each worker is a fork that already has
    them: ~0.2 s of CPU to its first trial instead of ~1.6 s. The study's own files are
    imported fresh by every worker, so an edit between two runs is always seen.

    Raises:
        ConfigurationError: if the optimizer is not an OptunaOptimizer with a storage URL, the
            experiment cannot be pickled, a worker found the configuration invalid, or the main
            script calls this outside ``if __name__ == "__main__":`` (each worker runs the
            script again on start-up, and so would start workers of its own).
        StorageError: if a worker's storage failed (see :class:`OptunaOptimizer`'s
            ``outage_timeout``), quoting its error once for all workers that met it.
        OptimizationError: if a worker failed, quoting its error.
        KeyboardInterrupt: after the workers stored their running trials as failed.
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        # This is a worker starting up: multiprocessing runs the main script again in it, and the
        # script called this at module level. The worker cannot tell its parent why in any
        # other way (its error channel is not set up yet): the parent reads this exit code.
        os._exit(_UNGUARDED_MAIN_EXIT)
    if not isinstance(optimizer, OptunaOptimizer):
        raise ConfigurationError(f"parallel workers need an OptunaOptimizer, got {type(optimizer).__name__}")
    devices: list[str | None] = [None] * workers if gpus is None else [*device_plan(gpus, workers, "gpus")]
    try:
        payload, payload_modules = _pickle_payload(experiment, optimizer)
    except ConfigurationError:
        raise
    except Exception as exc:
        raise ConfigurationError(
            "parallel workers run the experiment in other processes, so it must be picklable: define datasources "
            f"and steps at module level (or in a study folder); pickling failed with {type(exc).__name__}: {exc}"
        ) from exc
    optimizer.prepare(make_run(experiment, num_trials, replicates))
    context = worker_context()
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(preload_modules(payload_modules))
    errors: Queue[str] = context.Queue()
    run_id = uuid.uuid4().hex[:12]
    started = time.time()
    levels = (get_logger().getEffectiveLevel(), optuna.logging.get_verbosity())
    processes: list[BaseProcess] = [
        context.Process(
            target=_worker_main,
            args=(payload, num_trials, replicates, index, levels, errors, run_id, devices[index]),
            name=f"crystallize-worker-{index}",
        )
        for index in range(workers)
    ]
    bar = StudyProgress(optimizer, num_trials, progress)
    stopped = False
    try:
        with sigterm_raises():
            # Held back while the workers start (the first start waits for the forkserver's
            # imports): interrupted half-started, a worker already forked but not yet known here
            # would be left behind. Held, the signal is raised right after, and _stop ends them all.
            with deferred_signals():
                if context.get_start_method() == "forkserver":
                    _start_forkserver()
                for process in processes:
                    process.start()
            _log.info("started %d workers on study %r", workers, optimizer.study.study_name)
            if gpus is not None:
                _log.info("GPUs of the workers (CUDA_VISIBLE_DEVICES): %s", ", ".join(map(str, devices)))
            while living := [p.sentinel for p in processes if p.is_alive()]:
                # Wake when a worker ends. Without a progress bar the study is never read here:
                # each read costs CPU that CPU-bound workers would otherwise get.
                multiprocessing.connection.wait(living, timeout=PROGRESS_INTERVAL)
                bar.refresh()
    except BaseException:
        stopped = True
        _stop(processes)
        raise
    finally:
        bar.close()
        _fail_orphans(
            optimizer, run_id, started, waits=not stopped and _STORAGE_EXIT not in _codes(processes)
        )
    messages = []
    while not errors.empty():
        messages.append(errors.get())
    codes = [p.exitcode for p in processes]
    if _UNGUARDED_MAIN_EXIT in codes:
        script = getattr(sys.modules.get("__main__"), "__file__", None) or "the main script"
        raise ConfigurationError(
            f"{script} starts parallel workers (workers={workers}) when it is imported: each worker "
            "process imports the main script again, and would start workers of its own. Put the call "
            'under `if __name__ == "__main__":` (see "Safe importing of main module" in the '
            "multiprocessing documentation)"
        )
    if any(code == 2 for code in codes) and messages:
        raise ConfigurationError("; ".join(messages))
    if _STORAGE_EXIT in codes and messages:
        raise StorageError(_merged(messages))
    if any(code != 0 for code in codes):
        raise OptimizationError(f"worker exit codes {codes}; " + ("; ".join(messages) or "see the log"))
    return optimizer.get_best_treatment()


def _codes(processes: list[BaseProcess]) -> list[int | None]:
    return [p.exitcode for p in processes]


def _fail_orphans(optimizer: OptunaOptimizer, run_id: str, started: float, *, waits: bool) -> None:
    """Fail the trials that the workers of ``run_id`` left RUNNING (all of them have exited).

    A worker killed, or stopped at an unlucky instant (a second signal while it stored its
    trial), can leave its trial RUNNING; such trials are failed here, and their parameters
    queued again for the next run like a stale trial's. Without ``waits`` (the run was stopped,
    or a worker's storage failed) one attempt is made: a database that is down is not waited
    for, and the next run's stale-trial check fails the trials instead.
    """
    try:
        with nullcontext() if waits else without_waiting():
            orphans = fail_trials_of_workers(optimizer.study, run_id, started, optimizer.max_retries)
    except StorageError as exc:
        _log.warning(
            "running trials of the stopped workers not stored as failed (%s); the next run fails them", exc
        )
        return
    if orphans:
        _log.warning("trials %s of stopped workers stored as failed", orphans)


def _merged(messages: list[str]) -> str:
    """``worker <i>: <text>`` messages, one per distinct text: ``workers 0, 1: <text>``."""
    workers: dict[str, list[str]] = {}
    for message in messages:
        who, _, text = message.partition(": ")
        workers.setdefault(text, []).append(who.removeprefix("worker "))
    return "; ".join(
        f"worker{'s' if len(ids) > 1 else ''} {', '.join(sorted(ids, key=lambda i: (len(i), i)))}: {text}"
        for text, ids in workers.items()
    )


def _start_forkserver() -> None:
    """Start this process's forkserver, if it is not running, with SIGINT blocked in it.

    The forkserver imports the preloaded modules (seconds) before it ignores SIGINT itself, so
    a Ctrl+C to the process group in those seconds printed its KeyboardInterrupt traceback. A
    blocked signal stays pending, and the signal mask is inherited across fork and exec: the
    forkserver never takes SIGINT, and each worker unblocks it first thing (``_worker_main``).
    Here it is blocked only while the forkserver is spawned. (Processes that ``ParallelExecution`` later starts from this same
    forkserver inherit the mask too: their pool's parent stops them.)
    """
    if not hasattr(signal, "pthread_sigmask"):
        return
    import multiprocessing.forkserver

    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stop(processes: list[BaseProcess]) -> None:
    """Interrupt the workers (they store their running trials as failed), then make sure they end.

    A terminal's Ctrl+C already reached every worker (they share its process group), so
    workers get a moment to finish on their own before the stragglers are sent SIGINT.
    """
    processes = [p for p in processes if p.pid is not None]  # not those the interrupt kept from starting
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and any(p.is_alive() for p in processes):
        time.sleep(0.05)
    for process in processes:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGINT)
    deadline = time.monotonic() + SHUTDOWN_GRACE
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
