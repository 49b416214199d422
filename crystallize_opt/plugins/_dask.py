"""Dask for the engine: the client a run uses, a run's replicates as Dask tasks
(``ParallelExecution(executor_type="dask")``), and a study folder's own modules shipped to the
workers. ``dask[distributed]`` is an optional extra, imported only when one of these is called.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import pickletools
import sys
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._logging import get_logger
from ..exceptions import ConfigurationError

_log = get_logger("plugins")
#: A study folder with more Python than this is not uploaded: install it as a package instead.
MAX_UPLOAD_FILES = 1000
MAX_UPLOAD_BYTES = 50 * 2**20
#: Clients this process opened to a scheduler address, kept for every later run.
_opened: dict[str, Any] = {}
#: Client -> study package -> (digest, force) last sent through it: a trial's run does not send
#: the same code again (each sending has every worker set it up).
_sent: weakref.WeakKeyDictionary[Any, dict[str, tuple[str, bool]]] = weakref.WeakKeyDictionary()


def distributed_module(what: str) -> Any:
    """``distributed``, imported now.

    Raises:
        ConfigurationError: naming ``what`` needs it and the extra to install, when it is missing.
    """
    try:
        import distributed
    except ImportError as exc:
        raise ConfigurationError(
            f"{what} needs dask.distributed: pip install 'crystallize-opt[dask]'"
        ) from exc
    return distributed


def in_dask_task() -> bool:
    """True inside a task running on a Dask worker."""
    if "distributed" not in sys.modules:
        return False
    try:
        sys.modules["distributed"].get_worker()
    except ValueError:
        return False
    return True


def _connect(distributed: Any, address: str) -> Any:
    """A client of the scheduler at ``address``, opened once per process."""
    client = _opened.get(address)
    if client is None or client.status not in ("running", "connecting"):
        client = _opened[address] = distributed.Client(address, set_as_default=False)
    return client


@contextmanager
def dask_client(explicit: Any, what: str) -> Iterator[Any]:
    """The client ``what`` submits to: inside a Dask task, the worker's client (the task leaves
    its thread to others while it waits, so a cluster whose threads all run such tasks cannot
    deadlock); else ``explicit`` if given (a ``distributed.Client``, or a scheduler address this
    process then connects to once); else the client this process has open, as Dask finds it
    (``distributed.get_client()``: the last ``Client`` made); else Dask's configured
    ``scheduler-address`` (``DASK_SCHEDULER_ADDRESS``).

    Raises:
        ConfigurationError: when ``distributed`` is missing or no client is found.
    """
    distributed = distributed_module(what)
    if in_dask_task():
        with distributed.worker_client() as client:
            yield client
        return
    if isinstance(explicit, str):
        yield _connect(distributed, explicit)
        return
    if explicit is not None:
        yield explicit
        return
    try:
        client = distributed.get_client()
    except ValueError as exc:
        import dask

        address = dask.config.get("scheduler-address", None)
        if not address:
            raise ConfigurationError(
                f"{what} runs on a Dask cluster, and this process has no Dask client open: pass "
                "client=distributed.Client('tcp://scheduler:8786') (or the Client of a LocalCluster) or a "
                "scheduler address, create that Client before the run (Dask then finds it as the default "
                "client), or set DASK_SCHEDULER_ADDRESS"
            ) from exc
        client = _connect(distributed, str(address))
    yield client


# -- the study's own modules -----------------------------------------------------------------------


@dataclass(frozen=True)
class StudyCode:
    """The Python files of one study package, as the workers get them.

    ``package``: the module name of the study folder's package; ``folder``: that folder on this
    host; ``files``: relative POSIX path -> content; ``digest``: a hash of ``files``.
    """

    package: str
    folder: str
    files: dict[str, bytes]
    digest: str


def _study_package(name: str) -> str | None:
    """The study package of the loaded module ``name`` (None for any other module): a study's
    modules are the ones whose loader kept the source it compiled (``study_source``)."""
    module = sys.modules.get(name)
    loader = getattr(module, "__loader__", None)
    if not isinstance(getattr(loader, "study_source", None), bytes):
        return None
    package = getattr(module, "__package__", None)
    return package if isinstance(package, str) and package in sys.modules else None


def _python_files(folder: Path) -> Iterator[Path]:
    """The ``.py`` files of ``folder`` and of its packages (sub-folders with ``__init__.py``):
    what imports can reach, without walking a study's (possibly huge) output folders."""
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_file() and entry.suffix == ".py":
            yield entry
        elif entry.is_dir() and (entry / "__init__.py").is_file():
            yield from _python_files(entry)


def study_code(payload: bytes) -> list[StudyCode]:
    """The study packages whose modules the pickle ``payload`` refers to, with their files.

    A file comes from the source this process compiled when it imported the module (so the
    workers run the same code as this process, even if the file changed or went since); the
    folder's other Python files are read now, when it still exists.

    Raises:
        ConfigurationError: for a study folder with more than 1,000 Python files or 50 MiB of them.
    """
    names = {arg for _, arg, _ in pickletools.genops(payload) if isinstance(arg, str) and arg in sys.modules}
    packages = sorted({p for p in map(_study_package, names) if p is not None})
    codes = []
    for package in packages:
        folder = Path(next(iter(sys.modules[package].__path__)))
        files: dict[str, bytes] = {}
        if folder.is_dir():
            for path in _python_files(folder):
                files[path.relative_to(folder).as_posix()] = path.read_bytes()
                if len(files) > MAX_UPLOAD_FILES:
                    break
        for name, module in list(sys.modules.items()):
            source = getattr(getattr(module, "__loader__", None), "study_source", None)
            file = getattr(module, "__file__", None)
            if name.startswith(f"{package}.") and isinstance(source, bytes) and file:
                try:
                    files[Path(file).relative_to(folder).as_posix()] = source
                except ValueError:  # not below the folder (imported from elsewhere): not the study's
                    continue
        size = sum(len(content) for content in files.values())
        if len(files) > MAX_UPLOAD_FILES or size > MAX_UPLOAD_BYTES:
            raise ConfigurationError(
                f"the study folder {folder} has more Python than the Dask workers are sent (at most "
                f"{MAX_UPLOAD_FILES} files and {MAX_UPLOAD_BYTES // 2**20} MiB): install its code as a package on "
                "every worker, or put the folder at the same path on every worker, and pass upload=False"
            )
        digest = hashlib.sha256()
        for relative, content in sorted(files.items()):
            digest.update(f"{relative}\0{len(content)}\0".encode())
            digest.update(content)
        codes.append(StudyCode(package, str(folder), files, digest.hexdigest()))
    return codes


def ship_study_code(client: Any, payload: bytes, upload: bool | None) -> list[StudyCode]:
    """Send the study code ``payload`` refers to (see :func:`study_code`) to every worker of
    ``client``'s cluster, present and future, as a Dask worker plugin; return what was sent.

    ``upload``: None (the default of every caller): a worker uses the sent files only where it
    does not see the same files at the folder's path (so a shared file system or the same
    checkout keeps serving them); True: every worker uses the sent files; False: nothing is
    sent (the study's code must be importable on the workers already). Inside a Dask task
    nothing is sent: the code got there with the task.

    Raises:
        ConfigurationError: for a study folder too big to send (see :func:`study_code`).
    """
    if upload is False or in_dask_task():
        return []
    codes = study_code(payload)
    sent = _sent.setdefault(client, {})
    for code in codes:
        if sent.get(code.package) == (code.digest, bool(upload)):
            continue
        from ._dask_upload import StudyUpload

        client.register_plugin(StudyUpload(code, force=bool(upload)))
        sent[code.package] = (code.digest, bool(upload))
        _log.info(
            "study code of %s (%d files) sent to the Dask workers%s",
            code.folder,
            len(code.files),
            "" if upload else " (used where the folder is not the same)",
        )
    return codes


# -- a run's replicates as Dask tasks ----------------------------------------------------------------


def run_pickled_replicate(payload: bytes, index: int) -> bytes:
    """On a Dask worker: run replicate ``index`` of the pickled replicate task ``payload``; the
    outcomes come back pickled (a result that cannot be pickled fails the task).

    Raises:
        ConfigurationError: when this worker cannot import the experiment's code.
    """
    import cloudpickle

    try:
        replicate_fn = cloudpickle.loads(payload)
    except ImportError as exc:
        raise ConfigurationError(
            f"Dask worker on {os.uname().nodename} cannot import the experiment's code ({exc}): install it as a "
            "package on every worker, put it at the same path on every worker, or load it from a study folder "
            "(whose files are sent to the workers)"
        ) from exc
    return bytes(cloudpickle.dumps(replicate_fn(index)))


def run_replicates_on_dask(
    client: Any,
    replicate_fn: Callable[[int], Any],
    indices: list[int],
    advance: Callable[[], None],
) -> list[Any]:
    """Run ``replicate_fn`` for each of ``indices`` as a Dask task of ``client``'s cluster and
    return the results in index order; ``advance`` is called as each arrives.

    Each task unpickles its own copy of ``replicate_fn`` (replicates share nothing, as in a
    process pool). A task that fails (its worker died, or the result could not be pickled) is
    that replicate's ``replicate_fn.failure(index, error)`` when the task provides one.

    Raises:
        ConfigurationError: when ``replicate_fn`` cannot be pickled.
        Exception: a failed task's error when ``replicate_fn`` has no ``failure``.
    """
    import cloudpickle

    try:
        payload = cloudpickle.dumps(replicate_fn)
    except Exception as exc:
        raise ConfigurationError(
            f"ParallelExecution(executor_type='dask') sends the experiment to Dask workers pickled; "
            f"pickling failed with {type(exc).__name__}: {exc}"
        ) from exc
    ship_study_code(client, payload, None)
    failure: Callable[[int, BaseException], Any] | None = getattr(replicate_fn, "failure", None)
    futures = [client.submit(run_pickled_replicate, payload, i, pure=False, retries=0) for i in indices]
    results = []
    try:
        for index, future in zip(indices, futures, strict=True):
            try:
                results.append(pickle.loads(future.result()))
            except Exception as exc:  # a dead worker, an unpicklable result, code it cannot import
                if failure is None:
                    raise
                results.append(failure(index, exc))
            advance()
    except BaseException:
        # Ctrl-C (or an error we re-raise): the replicates not started yet never start.
        client.cancel(futures)
        raise
    return results
