"""Parallel workers on one machine: N processes sharing one study through its storage."""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import signal
import time
import uuid
from typing import TYPE_CHECKING, Any

from .._logging import get_logger
from .._signals import Terminated, sigterm_raises
from ..exceptions import ConfigurationError, OptimizationError
from ..treatment import Treatment
from ._heartbeat import fail_trials_of_workers
from ._loop import make_run
from ._optuna import OptunaOptimizer
from ._progress import TrialProgress
from ._study import TRIAL_ATTR

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from multiprocessing.queues import Queue

_log = get_logger("optimize")
#: Seconds the parent waits for interrupted workers to store their trials before killing them.
SHUTDOWN_GRACE = 30.0


def _worker_main(
    payload: bytes, num_trials: int, replicates: int, index: int, level: int, errors: Queue[str], run_id: str
) -> None:
    """Entry point of one worker process: run the shared study until its target is reached."""
    logging.basicConfig(level=level, format=f"%(levelname)s worker-{index} %(name)s: %(message)s")
    with sigterm_raises():
        try:
            experiment, optimizer = pickle.loads(payload)
            optimizer.worker_tag = f"{run_id}:{index}"
            experiment.optimize(optimizer, num_trials, replicates)
        except KeyboardInterrupt:
            raise SystemExit(130) from None
        except Terminated as exc:
            raise SystemExit(exc.exit_code) from None
        except ConfigurationError as exc:
            errors.put(f"worker {index}: {exc}")
            raise SystemExit(2) from None
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
) -> Treatment:
    """Run ``workers`` processes that share ``optimizer``'s study; return the best treatment.

    The study is created (and checked) here first, so the workers never race to create it.
    Each worker runs the ordinary loop and stops once the study has ``num_trials`` finished
    trials; trials already running then still finish, so the study may end with up to
    ``workers - 1`` trials more than the target. Replicate seeds are those of a serial run.

    Raises:
        ConfigurationError: if the optimizer is not an OptunaOptimizer with a storage URL, the
            experiment cannot be pickled, or a worker found the configuration invalid.
        OptimizationError: if a worker failed, quoting its error.
        KeyboardInterrupt: after the workers stored their running trials as failed.
    """
    if not isinstance(optimizer, OptunaOptimizer):
        raise ConfigurationError(f"parallel workers need an OptunaOptimizer, got {type(optimizer).__name__}")
    try:
        payload = pickle.dumps((experiment, optimizer))
    except ConfigurationError:
        raise
    except Exception as exc:
        raise ConfigurationError(
            "parallel workers run the experiment in other processes, so it must be picklable: define datasources "
            f"and steps at module level (or in a study folder); pickling failed with {type(exc).__name__}: {exc}"
        ) from exc
    optimizer.prepare(make_run(experiment, num_trials, replicates))
    # Not fork: the parent runs threads (storage pools, heartbeats) that a fork would copy mid-flight.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context: Any = multiprocessing.get_context(method)
    errors: Queue[str] = context.Queue()
    run_id = uuid.uuid4().hex[:12]
    started = time.time()
    level = get_logger().getEffectiveLevel()
    processes: list[BaseProcess] = [
        context.Process(
            target=_worker_main,
            args=(payload, num_trials, replicates, index, level, errors, run_id),
            name=f"crystallize-worker-{index}",
        )
        for index in range(workers)
    ]
    for process in processes:
        process.start()
    _log.info("started %d workers on study %r", workers, optimizer.study.study_name)
    bar = TrialProgress(
        progress,
        total=num_trials,
        initial=min(optimizer.finished_trials(), num_trials),
        description=optimizer.study.study_name,
    )
    try:
        with sigterm_raises():
            shown = optimizer.finished_trials()
            while any(p.is_alive() for p in processes):
                time.sleep(0.5)
                done = min(optimizer.finished_trials(), num_trials)
                for _ in range(done - shown):
                    bar.advance(None)
                shown = max(shown, done)
    except BaseException:
        _stop(processes)
        raise
    finally:
        bar.close()
        # A worker stopped at an unlucky instant (a second signal while it stored its trial) can
        # leave that trial RUNNING; all of them have exited now, so their trials are failed here.
        orphans = fail_trials_of_workers(optimizer.study, run_id, started, TRIAL_ATTR)
        if orphans:
            _log.warning("trials %s of stopped workers stored as failed", orphans)
    messages = []
    while not errors.empty():
        messages.append(errors.get())
    codes = [p.exitcode for p in processes]
    if any(code == 2 for code in codes) and messages:
        raise ConfigurationError("; ".join(messages))
    if any(code != 0 for code in codes):
        raise OptimizationError(f"worker exit codes {codes}; " + ("; ".join(messages) or "see the log"))
    return optimizer.get_best_treatment()


def _stop(processes: list[BaseProcess]) -> None:
    """Interrupt the workers (they store their running trials as failed), then make sure they end.

    A terminal's Ctrl+C already reached every worker (they share its process group), so
    workers get a moment to finish on their own before the stragglers are sent SIGINT.
    """
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
