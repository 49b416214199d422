"""Execution strategies: run a run's replicates one after another, or in threads, processes or
on a Dask cluster."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import inspect
import multiprocessing
import os
import pickle
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._checks import integer_expected
from .._constants import VALID_EXECUTOR_TYPES
from .._logging import get_logger
from .._signals import leave_termination_signals_to_main_thread
from ..exceptions import ConfigurationError
from ._base import BasePlugin
from ._dask import dask_client, run_replicates_on_dask
from ._devices import check_gpus, device_plan, use_devices
from ._seed import SeedPlugin

if TYPE_CHECKING:
    from ..experiment import Experiment

_log = get_logger("plugins")

#: ``ParallelExecution``'s executor types: the reference's two, and Dask (beyond the reference).
EXECUTOR_TYPES = (*sorted(VALID_EXECUTOR_TYPES, reverse=True), "dask")


def replicate_indices(experiment: Experiment, replicate_fn: Callable[[int], Any]) -> Sequence[int]:
    """The replicate indices ``replicate_fn`` asks for (all of the experiment's by default)."""
    indices: Sequence[int] | None = getattr(replicate_fn, "replicate_indices", None)
    return indices if indices is not None else range(experiment.replicates)


def _async_caller(replicate_fn: Callable[[int], Any]) -> Callable[[int], Any] | None:
    """The coroutine function running one replicate, when the replicates are asynchronous: the
    engine's ``replicate_fn.acall``, or ``replicate_fn`` itself when it is an ``async def`` (as
    crystallize-ml hands its loops)."""
    acall = getattr(replicate_fn, "acall", None)
    if acall is not None and getattr(replicate_fn, "is_async", False):
        return acall  # type: ignore[no-any-return]
    return replicate_fn if inspect.iscoroutinefunction(replicate_fn) else None


def replicate_progress(progress: bool, items: Sequence[Any], total: int) -> Iterable[Any]:
    """``items``, counted on a tqdm bar on stderr as they are taken (``items`` as they are
    without ``progress``). The bar is ``tqdm(items, desc="Replicates")``, as crystallize-ml's."""
    if not progress:
        return items
    from tqdm import tqdm

    return tqdm(items, total=total, desc="Replicates", unit="replicate", dynamic_ncols=True)


class SerialExecution(BasePlugin):
    """Run replicates one after another in this process (the default).

    Asynchronous pipelines are awaited on the caller's event loop, so ``arun`` works inside
    notebooks.

    Args:
        progress: show a bar on stderr counting the run's replicates (one bar per run: during
            ``optimize``, one per trial; ``optimize(progress=True)`` shows the study's instead).
    """

    def __init__(self, progress: bool = False) -> None:
        self.progress = progress

    def run_experiment_loop(
        self, experiment: Experiment, replicate_fn: Callable[[int], Any]
    ) -> list[Any] | Coroutine[Any, Any, list[Any]]:
        indices = replicate_indices(experiment, replicate_fn)
        acall = _async_caller(replicate_fn)
        if acall is not None:

            async def run_all() -> list[Any]:
                return [await acall(i) for i in replicate_progress(self.progress, indices, len(indices))]

            return run_all()
        return [replicate_fn(i) for i in replicate_progress(self.progress, indices, len(indices))]


@dataclass
class AsyncExecution(BasePlugin):
    """Run the replicates of an asynchronous pipeline concurrently on the event loop
    (``asyncio.gather``), at most ``max_concurrency`` at a time.

    Only ``async def`` steps and data sources overlap; a synchronous pipeline runs its replicates
    one after another, as with :class:`SerialExecution` (in crystallize-ml too its synchronous
    steps blocked the loop; use :class:`ParallelExecution` for synchronous work). Results come
    back in replicate order, identical to a serial run for pipelines that draw from ``ctx.rng``;
    global generators (``random``, ``np.random``) are shared by replicates running at once.

    Args:
        max_concurrency: replicates running at once (None: all; beyond the reference, which
            had no limit).
        progress: show a bar on stderr counting the run's replicates.

    Raises:
        ConfigurationError: if ``max_concurrency`` is not a positive integer or None.
    """

    max_concurrency: int | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        if self.max_concurrency is not None and integer_expected(self.max_concurrency, 1) is not None:
            raise ConfigurationError(
                f"AsyncExecution max_concurrency must be a positive integer or None, got {self.max_concurrency!r}"
            )

    def run_experiment_loop(
        self, experiment: Experiment, replicate_fn: Callable[[int], Any]
    ) -> list[Any] | Coroutine[Any, Any, list[Any]]:
        acall = _async_caller(replicate_fn)
        if acall is None:
            return SerialExecution(self.progress).run_experiment_loop(experiment, replicate_fn)
        indices = list(replicate_indices(experiment, replicate_fn))
        limit = asyncio.Semaphore(self.max_concurrency or max(len(indices), 1))

        async def one(index: int) -> Any:
            async with limit:
                return await acall(index)

        async def run_all() -> list[Any]:
            if self.progress and len(indices) > 1:
                # tqdm's gather draws the bar (as crystallize-ml's); one replicate needs none.
                from tqdm.asyncio import tqdm as async_tqdm

                bar_gather = async_tqdm.gather
                return list(await bar_gather(*(one(i) for i in indices), desc="Replicates", unit="replicate"))
            return list(await asyncio.gather(*(one(i) for i in indices)))

        return run_all()


@dataclass
class ParallelExecution(BasePlugin):
    """Run replicates concurrently in a pool of threads or processes, or as Dask tasks.

    Results are identical to :class:`SerialExecution` for the same seed: every replicate has
    its own seeded ``ctx.rng`` and results come back in replicate order. Use processes for
    CPU-bound Python pipelines; then the experiment (datasource, steps, plugins) must be
    picklable, which module-level ``@pipeline_step``/``@data_source`` functions are. A step
    error comes back as that replicate's error; a worker that dies (or a result that cannot
    be pickled) is recorded as an error of the replicates it was running.

    Args:
        max_workers: pool size; default: the number of CPUs (at most the number of replicates).
            These workers run the replicates of one run or trial; they are not the study-sharing
            worker processes of ``Experiment.optimize(workers=N)`` / ``--workers N``, each of
            which runs whole trials (and its replicates through this plugin).
        executor_type: ``"thread"``, ``"process"`` or ``"dask"`` (beyond the reference API):
            each replicate is a task on a Dask cluster (``pip install crystallize-opt[dask]``)
            that unpickles its own copy of the experiment, as a pool process does; the cluster
            decides how many run at once (``max_workers`` and ``start_method`` do not apply).
            A study folder's own modules are sent to the workers (see the README, "Dask
            clusters"); what steps write (artifacts, records) is written by the worker, at the
            experiment's artifact path on its host.
        start_method: multiprocessing start method for processes (default ``"forkserver"``
            where available, else ``"spawn"``: forking a process that runs threads, as Optuna's
            storages do, can deadlock).
        gpus: GPU indices to spread the pool's processes over (``executor_type="process"``
            only): each process sees its own GPU(s) through ``CUDA_VISIBLE_DEVICES``, round
            robin when there are more processes than GPUs, so a step's ``"cuda"`` device is the
            process's GPU (see :func:`crystallize_opt.plugins.device_plan`; beyond the
            reference API). Checked when the pool starts: a machine showing no GPU, or fewer
            than asked, is a :class:`ConfigurationError`.
        progress: show a bar on stderr counting the run's replicates as their results arrive.
        client: with ``executor_type="dask"``, the ``distributed.Client`` to submit to, or a
            scheduler address (``"tcp://host:8786"``; connected once per process); None: inside
            a Dask task the worker's client, else the client this process has open
            (``distributed.get_client()``), else ``DASK_SCHEDULER_ADDRESS``. A Client is not
            pickled (a copy sent to another process finds its own).

    Raises:
        ConfigurationError: for an ``executor_type`` not listed above (when a run starts, as
            in crystallize-ml), a ``max_workers`` that is not a positive integer, ``gpus`` without processes, an unknown ``start_method``,
            ``max_workers``/``start_method``/``gpus`` with ``"dask"``, or (when a run starts)
            ``"dask"`` without ``distributed`` installed or without a client.
    """

    max_workers: int | None = None
    executor_type: str = "thread"
    start_method: str | None = None
    gpus: Sequence[int] | None = None
    progress: bool = False
    client: Any = field(default=None, repr=False, compare=False)
    _pool: cf.Executor | None = field(default=None, init=False, repr=False, compare=False)
    _warned_threads: bool = field(default=False, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_pool"] = None  # a pool never travels to another process
        if not isinstance(self.client, str):
            state["client"] = None  # nor a connection to a Dask scheduler
        return state

    @property
    def in_other_processes(self) -> bool:
        """True when replicates run in other processes (which set the steps up themselves)."""
        return self.executor_type in ("process", "dask")

    @contextmanager
    def session(self) -> Iterator[None]:
        """Keep one pool open for every run inside the ``with`` block (used by optimization,
        which runs many small batches of replicates)."""
        if self._pool is not None or self.executor_type == "dask":
            yield
            return
        self._pool = self._executor(self.max_workers or os.cpu_count() or 1)
        try:
            yield
        finally:
            pool, self._pool = self._pool, None
            pool.shutdown(wait=True, cancel_futures=True)

    def __post_init__(self) -> None:
        # executor_type is checked when the plugin runs (_check_executor_type), as in
        # crystallize-ml, whose users build the plugin before choosing where it runs.
        if self.executor_type == "dask":
            given = [n for n in ("max_workers", "start_method", "gpus") if getattr(self, n) is not None]
            if given:
                raise ConfigurationError(
                    f"ParallelExecution {' and '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to "
                    "executor_type='dask': the Dask cluster's workers run the replicates, as many at once as "
                    "they have threads"
                )
        if self.max_workers is not None and (
            isinstance(self.max_workers, bool)
            or not isinstance(self.max_workers, int)
            or self.max_workers < 1
        ):
            raise ConfigurationError(
                f"ParallelExecution max_workers must be a positive integer or None, got {self.max_workers!r}"
            )
        if self.gpus is not None:
            self.gpus = check_gpus(self.gpus, "ParallelExecution gpus")
            if self.executor_type == "thread":
                raise ConfigurationError(
                    "ParallelExecution gpus needs executor_type='process': threads share one process, "
                    "and with it one CUDA_VISIBLE_DEVICES"
                )
        methods = multiprocessing.get_all_start_methods()
        if self.start_method is not None and self.start_method not in methods:
            raise ConfigurationError(
                f"ParallelExecution start_method must be one of {methods}, got {self.start_method!r}"
            )

    def _check_executor_type(self) -> None:
        if self.executor_type not in EXECUTOR_TYPES:
            raise ConfigurationError(
                f"ParallelExecution executor_type must be one of {list(EXECUTOR_TYPES)}, got {self.executor_type!r}"
            )

    def _executor(self, n_tasks: int) -> cf.Executor:
        self._check_executor_type()
        workers = min(self.max_workers or os.cpu_count() or 1, max(n_tasks, 1))
        if self.executor_type == "thread":
            return cf.ThreadPoolExecutor(
                max_workers=workers,
                thread_name_prefix="crystallize-replicate",
                initializer=leave_termination_signals_to_main_thread,  # Ctrl+C goes to the main thread
            )
        method = self.start_method or (
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        )
        context = multiprocessing.get_context(method)
        if self.gpus is None:
            return cf.ProcessPoolExecutor(max_workers=workers, mp_context=context)
        # Each process takes the next share of the GPUs as it starts (the pool starts them
        # one by one, on demand), before the replicates it runs can start CUDA.
        shares = context.Queue()
        for devices in device_plan(self.gpus, workers, "ParallelExecution gpus"):
            shares.put(devices)
        return cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_take_devices, initargs=(shares,)
        )

    def run_experiment_loop(self, experiment: Experiment, replicate_fn: Callable[[int], Any]) -> list[Any]:
        self._check_executor_type()
        if inspect.iscoroutinefunction(replicate_fn):
            raise TypeError(
                "ParallelExecution only supports synchronous tasks: replicate_fn is an async function; "
                "use AsyncExecution for asynchronous replicates"
            )
        indices = list(replicate_indices(experiment, replicate_fn))
        if self.executor_type == "thread" and len(indices) > 1:
            self._warn_threads_share_global_generators(experiment)
        if self.in_other_processes:
            # Each worker process sets its steps up around the replicates it runs.
            replicate_fn = getattr(replicate_fn, "for_worker_process", lambda: replicate_fn)()
            if self.executor_type == "process":  # Dask sends it with cloudpickle, which takes more
                _check_picklable(experiment, replicate_fn)
        if self.executor_type == "dask":
            # Counted as the results arrive: one step of the bar per finished replicate.
            counter = replicate_progress(self.progress, range(len(indices)), len(indices))
            steps = iter(counter)
            try:
                with dask_client(self.client, "ParallelExecution(executor_type='dask')") as client:
                    return run_replicates_on_dask(client, replicate_fn, indices, lambda: next(steps, None))
            finally:
                getattr(counter, "close", lambda: None)()
        if self._pool is not None:
            return self._collect(self._pool, replicate_fn, indices)
        with self._executor(len(indices)) as pool:
            return self._collect(pool, replicate_fn, indices)

    def _warn_threads_share_global_generators(self, experiment: Experiment) -> None:
        """Warn (once per plugin) that the replicates' seeding of the global generators is
        not reproducible in threads, as crystallize-ml does: its users rely on the warning."""
        get_plugin = getattr(experiment, "get_plugin", None)
        seed_plugin = get_plugin(SeedPlugin) if callable(get_plugin) else None
        if self._warned_threads or not isinstance(seed_plugin, SeedPlugin) or not seed_plugin.auto_seed:
            return
        self._warned_threads = True
        _log.warning(
            "Using SeedPlugin with executor_type='thread' is not reproducible for draws from the "
            "global generators (random, numpy.random): the threads share them, and each replicate "
            "seeds them as it starts. Draw from ctx.rng (seeded per replicate), or use "
            "executor_type='process'."
        )

    def _collect(
        self, pool: cf.Executor, replicate_fn: Callable[[int], Any], indices: list[int]
    ) -> list[Any]:
        failure: Callable[[int, BaseException], Any] | None = getattr(replicate_fn, "failure", None)
        futures = [pool.submit(replicate_fn, i) for i in indices]
        results = []
        pending = list(zip(indices, futures, strict=True))
        try:
            for index, future in replicate_progress(self.progress, pending, len(pending)):
                try:
                    results.append(future.result())
                except Exception as exc:  # a dead worker or an unpicklable result
                    if failure is None:
                        raise
                    results.append(failure(index, exc))
        except BaseException:
            # Ctrl-C (or an error we re-raise): do not start the replicates still queued; the
            # pool's shutdown would otherwise run them all before the interrupt got through.
            for future in futures:
                future.cancel()
            raise
        return results


def _check_picklable(experiment: Any, replicate_fn: Callable[[int], Any]) -> None:
    """Refuse, before any replicate starts, work that cannot be sent to worker processes.

    Raises:
        RuntimeError: naming the experiment, the steps that cannot be pickled, and the cures
            (crystallize-ml's hints).
    """
    try:
        # Loaded back too: a function defined inside another pickles by name, and only fails
        # where it is looked up again, in the worker process.
        pickle.loads(pickle.dumps(replicate_fn))
    except Exception as exc:
        steps = getattr(getattr(experiment, "pipeline", None), "steps", [])
        culprits = [getattr(step, "name", type(step).__name__) for step in steps if not _pickles(step)]
        which = f"; steps that cannot be pickled: {culprits}" if culprits else ""
        raise RuntimeError(
            f"ParallelExecution(executor_type='process') cannot send experiment "
            f"{getattr(experiment, 'name', None)!r} to worker processes: {type(exc).__name__}: {exc}{which}. "
            "Make clients, open files and models in a step's setup() or with resource_factory, "
            "or use executor_type='thread'"
        ) from exc


def _pickles(obj: Any) -> bool:
    try:
        pickle.loads(pickle.dumps(obj))
    except Exception:
        return False
    return True


def _take_devices(shares: Any) -> None:
    """Initializer of a pool process: see its share of the GPUs (``ParallelExecution(gpus=)``)."""
    use_devices(shares.get(timeout=60))
