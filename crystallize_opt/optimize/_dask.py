"""Workers on a Dask cluster: N long-running Dask tasks sharing one study through its storage.

Beyond the crystallize-ml reference API. Each task joins the study exactly like a
``crystallize-opt worker`` process (same target, heartbeats, stale-trial retry); the study lives
in the storage, so results survive the cluster. ``dask[distributed]`` is an optional extra
(``pip install crystallize-opt[dask]``), imported only here and only when a cluster is named.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from .._logging import get_logger
from .._version import __version__
from ..coordination import fail_trials_of_workers
from ..exceptions import ConfigurationError, OptimizationError, StorageError
from ..plugins import ship_study_code
from ..storage import display_storage, without_waiting
from ..treatment import Treatment
from ._base import WorkerRole
from ._loop import make_run
from ._optuna import OptunaOptimizer
from ._progress import StudyProgress

_log = get_logger("optimize")
#: Seconds between a task's looks at the run's stop event, and the client's looks at the tasks.
POLL_INTERVAL = 0.5
#: Seconds the client waits for interrupted tasks to store their trials before giving up on them.
SHUTDOWN_GRACE = 30.0
_FILE_SCHEMES = ("sqlite:", "journal:")


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ConfigurationError(
            "cluster=... runs the workers on a Dask cluster, which needs dask.distributed: "
            "pip install 'crystallize-opt[dask]'"
        ) from exc
    return distributed


def host_identity() -> tuple[str, str | None]:
    """This machine as workers compare it: host name and kernel boot id (None without /proc)."""
    try:
        boot: str | None = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = None
    return socket.gethostname(), boot


def _file_of(url: str) -> Path | None:
    """The local file a SQLite or journal-file URL names (None for a server's URL)."""
    if not url.startswith(_FILE_SCHEMES):
        return None
    path = url.split(":", 1)[1].removeprefix("///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def _file_seen(path: str) -> tuple[tuple[str, str | None], tuple[int, int] | None]:
    """On a worker: its host and the (device, inode) of ``path`` there (None when absent)."""
    try:
        stat = os.stat(path)
    except OSError:
        return host_identity(), None
    return host_identity(), (stat.st_dev, stat.st_ino)


def check_cluster_storage(client: Any, url: str | None) -> None:
    """Refuse a storage that the cluster's workers cannot share with this process.

    Raises:
        ConfigurationError: for an in-memory storage (or a storage object), or a SQLite or
            journal file when a worker runs on another host (or sees another file at that path).
    """
    if url is None or url == ":memory:":
        raise ConfigurationError(
            "workers on a Dask cluster share the study through its storage: give OptunaOptimizer a storage URL "
            "every worker can reach (postgresql+psycopg://..., mysql+pymysql://... or redis://...), not an "
            "in-memory storage or a storage object"
        )
    file = _file_of(url)
    if file is None:
        return
    here = host_identity()
    target = str(file if file.exists() else file.parent)
    local = os.stat(target)
    seen = client.run(_file_seen, target)
    for address, (host, inode) in seen.items():
        if host != here or inode != (local.st_dev, local.st_ino):
            raise ConfigurationError(
                f"storage {display_storage(url)} is a file on this host, but Dask worker {address} runs on "
                f"{host[0]!r} (this is {here[0]!r}) or sees another file there: SQLite and journal files are "
                "shared only by processes of one machine. Give a database server that every worker reaches "
                "(--storage postgresql+psycopg://user@server/db, mysql+pymysql://... or redis://...)"
            )


class _Stopper:
    """Raises KeyboardInterrupt in the task's thread once the run's stop event is set, so the
    loop stores its running trial as failed, as a Ctrl+C does in a local worker. Dask cannot
    interrupt a running task itself; a step blocked in C code is interrupted when it returns."""

    def __init__(self, event: Any) -> None:
        self._event = event
        self._thread_id = threading.get_ident()
        self._lock = threading.Lock()
        self._done = False
        self.requested = False
        self._watcher = threading.Thread(target=self._watch, name="crystallize-dask-stop", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while not self._done:
            try:
                stop = bool(self._event.is_set())
            except Exception as exc:  # the scheduler is unreachable for now: look again later
                _log.debug("stop event unreadable: %s", exc)
                stop = False
            with self._lock:
                if self._done:
                    return
                if stop:
                    self.requested = True
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(
                        ctypes.c_ulong(self._thread_id), ctypes.py_object(KeyboardInterrupt)
                    )
                    return
            time.sleep(POLL_INTERVAL)

    def finish(self) -> None:
        """No interrupt lands in the task's thread after this returns (a pending one is cleared)."""
        while True:
            try:
                with self._lock:
                    self._done = True
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread_id), None)
                return
            except KeyboardInterrupt:  # landed while finishing: finish again
                continue


def dask_worker_main(
    payload: bytes,
    num_trials: int,
    replicates: int,
    index: int,
    run_id: str,
    version: str,
    stop_name: str,
    file_host: tuple[str, str | None] | None = None,
) -> str:
    """One Dask task: join the shared study and work until it reaches its target.

    A task the scheduler starts again (its worker died) joins the study again under the same
    tag and works toward the same study-wide target: nothing is counted twice. ``file_host``:
    for a SQLite or journal file, the client's host (see :func:`host_identity`); a task that
    lands on another host (a worker that joined after the client's check) refuses to run. Returns
    ``"done"``, or ``"stopped"`` when the client asked the run to stop.
    """
    distributed = _distributed()
    if version != __version__:
        raise ConfigurationError(
            f"crystallize-opt {__version__} on Dask worker {socket.gethostname()}, {version} on the client: "
            "install the same version everywhere"
        )
    if file_host is not None and host_identity() != file_host:
        raise ConfigurationError(
            f"the study's storage is a file on {file_host[0]!r}, and this Dask worker runs on "
            f"{socket.gethostname()!r}: SQLite and journal files are shared only by processes of one machine. "
            "Give a database server that every worker reaches (postgresql+psycopg://..., mysql+pymysql://... "
            "or redis://...)"
        )
    stopper: _Stopper | None = None
    try:
        # The event is read from the watcher thread, through this worker's client.
        stopper = _Stopper(distributed.Event(stop_name, client=distributed.get_client()))
        try:
            experiment, optimizer = pickle.loads(payload)
        except ImportError as exc:
            raise ConfigurationError(
                f"Dask worker {socket.gethostname()} cannot import the study's code ({exc}): its files must "
                "be at the same path on every worker (a shared file system) or installed as a package, or "
                "sent to the workers (upload=True, --dask-upload; the default sends a study folder's files)"
            ) from exc
        role = WorkerRole(f"{run_id}:{index}", selects_winner=False)
        experiment._optimize_as_worker(optimizer, num_trials, replicates, role)
        return "done"
    except KeyboardInterrupt:
        if stopper is not None and stopper.requested:
            return "stopped"
        raise
    finally:
        if stopper is not None:
            stopper.finish()


def run_dask_workers(
    experiment: Any,
    optimizer: OptunaOptimizer,
    num_trials: int,
    replicates: int,
    workers: int,
    cluster: Any,
    progress: bool,
    resources: Mapping[str, float] | None = None,
    upload: bool | None = None,
) -> Treatment:
    """Run ``workers`` long-running tasks on the Dask cluster ``cluster`` (a
    ``distributed.Client`` or a scheduler address) that share ``optimizer``'s study; return
    the best treatment.

    The study is created here first. Each task is submitted with ``pure=False`` and no retries
    (a failed trial is retried by the study's stale-trial retry, not by Dask) and with
    ``resources`` (e.g. ``{"GPU": 1}``: only workers started with that resource take it).
    The experiment travels pickled with cloudpickle: what a script's ``__main__`` defines
    travels by value; what a study folder's files define is imported on the worker by module
    name. ``upload``: None (default) sends the folder's Python files to every worker, which uses
    them where it does not see the same files at the same path (a shared file system or the
    same checkout keeps serving them); True: every worker uses the sent files; False: nothing is
    sent (the code must be importable on the workers: installed, or at the same path).

    Raises:
        ConfigurationError: for a storage the workers cannot reach (see
            :func:`check_cluster_storage`), an experiment that cannot be pickled, a study folder
            too big to send, a missing ``distributed``, or a configuration error met by a task
            (e.g. a worker that cannot import the study's code).
        StorageError: when a task's storage failed.
        OptimizationError: when a task failed otherwise.
        KeyboardInterrupt: after the tasks stopped and no trial of theirs is left RUNNING.
    """
    distributed = _distributed()
    import cloudpickle

    own_client = isinstance(cluster, str)
    client = distributed.Client(cluster) if own_client else cluster
    try:
        check_cluster_storage(client, optimizer.storage_url)
        try:
            payload = cloudpickle.dumps((experiment, optimizer))
        except ConfigurationError:
            raise
        except Exception as exc:
            raise ConfigurationError(
                f"workers on a Dask cluster get the experiment pickled; pickling failed with "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        ship_study_code(client, payload, upload)
        optimizer.prepare(make_run(experiment, num_trials, replicates))
        return _supervise(
            distributed,
            client,
            payload,
            experiment,
            optimizer,
            num_trials,
            replicates,
            workers,
            progress,
            resources,
        )
    finally:
        if own_client:
            client.close()


def _supervise(
    distributed: Any,
    client: Any,
    payload: bytes,
    experiment: Any,
    optimizer: OptunaOptimizer,
    num_trials: int,
    replicates: int,
    workers: int,
    progress: bool,
    resources: Mapping[str, float] | None,
) -> Treatment:
    run_id = uuid.uuid4().hex[:12]
    stop = distributed.Event(f"crystallize-stop-{run_id}", client=client)
    started = time.time()
    futures = [
        client.submit(
            dask_worker_main,
            payload,
            num_trials,
            replicates,
            index,
            run_id,
            __version__,
            stop.name,
            None
            if optimizer.storage_url is None or _file_of(optimizer.storage_url) is None
            else host_identity(),
            key=f"crystallize-worker-{run_id}-{index}",
            pure=False,
            retries=0,
            resources=dict(resources) if resources else None,
        )
        for index in range(workers)
    ]
    _log.info("submitted %d workers of study %r to Dask", workers, optimizer.study.study_name)
    bar = StudyProgress(optimizer, num_trials, progress)
    stopped = False
    try:
        while not all(f.done() for f in futures):
            time.sleep(POLL_INTERVAL)
            bar.refresh()
    except BaseException:
        stopped = True
        stop.set()
        deadline = time.monotonic() + SHUTDOWN_GRACE
        while time.monotonic() < deadline and not all(f.done() for f in futures):
            time.sleep(0.1)
        client.cancel(futures)
        raise
    finally:
        bar.close()
        try:
            with without_waiting() if stopped else nullcontext():
                orphans = fail_trials_of_workers(optimizer.study, run_id, started, optimizer.max_retries)
        except StorageError as exc:
            _log.warning("running trials of the stopped workers not stored as failed (%s)", exc)
        else:
            if orphans:
                _log.warning("trials %s of stopped Dask workers stored as failed", orphans)
        if stopped:
            stop.clear()
    errors = [(i, f.exception()) for i, f in enumerate(futures) if f.status == "error"]
    for kind in (ConfigurationError, StorageError):
        found = [f"worker {i}: {e}" for i, e in errors if isinstance(e, kind)]
        if found:
            raise kind("; ".join(found))
    if errors:
        raise OptimizationError("; ".join(f"worker {i}: {type(e).__name__}: {e}" for i, e in errors))
    return optimizer.get_best_treatment()
