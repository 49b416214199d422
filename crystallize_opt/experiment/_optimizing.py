"""The optimization methods of an :class:`Experiment` (:meth:`~Experiment.optimize`,
:meth:`~Experiment.aoptimize`, :meth:`~Experiment.replay_trial`): the experiment's side of
searching for its best treatment, kept apart from running its conditions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from ..treatment import Treatment
from ._optimization import OptimizeOptions, optimize_experiment, replay_stored_trial
from ._sync import ensure_no_running_loop, run_sync

if TYPE_CHECKING:
    from optuna.pruners import BasePruner

    from ..optimize import BaseOptimizer, OptunaOptimizer, ReplayReport, WorkerRole
    from ._experiment import Experiment


class OptimizationMethods:
    """Mixed into :class:`Experiment`: searching for its best treatment with an optimizer."""

    @property
    def _experiment(self) -> Experiment:
        return cast("Experiment", self)

    def optimize(
        self,
        optimizer: BaseOptimizer,
        num_trials: int,
        replicates_per_trial: int = 1,
        *,
        progress: bool = False,
        workers: int = 1,
        gpus: Sequence[int] | None = None,
        pruner: BasePruner | None = None,
        curve_pruning: str | None = None,
        cluster: Any = None,
        resources: Mapping[str, float] | None = None,
        upload: bool | None = None,
    ) -> Treatment:
        """Synchronous wrapper for :meth:`aoptimize`, with the same arguments and result.

        Raises:
            EventLoopError: when called inside a running event loop (use ``await aoptimize()``).
        """
        ensure_no_running_loop("optimize", "aoptimize")
        options = OptimizeOptions(
            progress=progress,
            workers=workers,
            gpus=gpus,
            pruner=pruner,
            curve_pruning=curve_pruning,
            cluster=cluster,
            resources=resources,
            upload=upload,
        )
        return run_sync(
            optimize_experiment(self._experiment, optimizer, num_trials, replicates_per_trial, options)
        )

    async def aoptimize(
        self,
        optimizer: BaseOptimizer,
        num_trials: int,
        replicates_per_trial: int = 1,
        *,
        progress: bool = False,
        workers: int = 1,
        gpus: Sequence[int] | None = None,
        pruner: BasePruner | None = None,
        curve_pruning: str | None = None,
        cluster: Any = None,
        resources: Mapping[str, float] | None = None,
        upload: bool | None = None,
    ) -> Treatment:
        """Search for the best treatment with ``optimizer`` and return it.

        Each trial runs ``replicates_per_trial`` seeded replicates of one treatment through the
        pipeline (in parallel when the experiment has :class:`ParallelExecution`, with results
        identical to serial); the aggregated metrics go back to the optimizer. Replicate ``r``
        of every trial uses the seed of replicate ``r`` of :meth:`run` unless the optimizer
        asks for independent seeds. With :class:`OptunaOptimizer`, ``num_trials`` is the
        study's target of finished trials, so rerunning a study continues it.

        Args:
            progress: show a progress bar on stderr: trials done of target and the best value
                so far; with noise handling, every pipeline execution of the budget (search,
                confirmation, held-out runs of winner and baseline) and the best value observed
                so far (a search figure: the winner is chosen after the search). With
                ``workers > 1`` this process's bar follows the study (finished trials; with noise
                handling, every worker's executions, then a second bar goes on to the budget
                while this process chooses the winner).
            workers: run this many worker processes sharing the study through the optimizer's
                storage (a URL; SQLite is made safe for this). They stop at the target; trials
                in flight then finish, so up to ``workers - 1`` extra trials may complete.
                Not :class:`ParallelExecution`'s ``max_workers``, which run the replicates of
                one trial (inside each of these processes).
            gpus: GPU indices the ``workers`` share: each worker process sees its own through
                ``CUDA_VISIBLE_DEVICES``, round robin when there are more workers than GPUs
                (with fewer, each gets several). Indices count the GPUs this process sees.
            pruner: an Optuna pruner for an :class:`OptunaOptimizer` that has none (the same as
                ``OptunaOptimizer(pruner=...)``): trials stop early, in the middle of a
                replicate when its steps report a learning curve (``ctx.report(value, step)``).
            curve_pruning: how replicates and learning-curve steps combine for the pruner
                (``"paired"``, ``"pooled"`` (default), ``"off"``; see :class:`OptunaOptimizer`).
            cluster: a ``distributed.Client`` or a Dask scheduler address (``"tcp://host:8786"``):
                the ``workers`` then run as long-running tasks on that Dask cluster (needs
                ``pip install crystallize-opt[dask]``), each joining the study like a
                ``crystallize-opt worker``. The storage must be one every worker reaches: a
                database server, or a SQLite/journal file only when every Dask worker runs on
                this host (see the README, "Dask clusters").
            resources: Dask worker resources each task needs (``{"GPU": 1}``), with ``cluster``.
            upload: with ``cluster``, a study folder's Python files go to every worker: None
                (default) uses them on a worker only where it does not see the same files at
                the folder's path; True: on every worker; False: never (the study's code must
                be installed or on a shared file system). ``progress``, ``workers``, ``gpus``,
                ``pruner``, ``curve_pruning``, ``cluster``, ``resources`` and ``upload`` go
                beyond the reference API.

        Raises:
            ConfigurationError: for invalid arguments (``gpus`` with one worker or with a
                cluster, or on a machine showing fewer GPUs than asked; ``resources`` or
                ``upload`` without a cluster; a storage the cluster's workers cannot reach; ``pruner`` or ``curve_pruning`` for an optimizer other
                than :class:`OptunaOptimizer`, a pruner given here and to the optimizer,
                ``curve_pruning`` without a pruner or with noise handling), or an objective metric the pipeline never
                records (raised at the first trial; the error lists the recorded metrics).
            OptimizationError: when every trial failed (the first failures are quoted).
        """
        options = OptimizeOptions(
            progress=progress,
            workers=workers,
            gpus=gpus,
            pruner=pruner,
            curve_pruning=curve_pruning,
            cluster=cluster,
            resources=resources,
            upload=upload,
        )
        return await optimize_experiment(
            self._experiment, optimizer, num_trials, replicates_per_trial, options
        )

    def _optimize_as_worker(
        self,
        optimizer: BaseOptimizer,
        num_trials: int,
        replicates_per_trial: int,
        worker: WorkerRole,
        *,
        progress: bool = False,
    ) -> Treatment:
        """:meth:`optimize` in one of several processes sharing ``optimizer``'s study, in the role
        ``worker`` (used by the processes of ``workers=N`` and the ``crystallize-opt worker``
        command; the role goes to the optimizer in :attr:`OptimizationRun.worker`)."""
        ensure_no_running_loop("optimize", "aoptimize")
        return run_sync(
            optimize_experiment(
                self._experiment,
                optimizer,
                num_trials,
                replicates_per_trial,
                OptimizeOptions(progress=progress, worker=worker),
            )
        )

    def replay_trial(self, optimizer: OptunaOptimizer, trial_number: int) -> ReplayReport:
        """Re-run a stored trial with its treatment and seeds and compare with what was stored.

        Goes beyond the reference API. ``report.matches`` is True when every replicate's
        metrics came out exactly as stored.

        Raises:
            OptimizationError: if the trial does not exist or stored no replicates.
            EventLoopError: inside a running event loop.
        """
        ensure_no_running_loop("replay_trial", "optimize")
        return run_sync(replay_stored_trial(self._experiment, optimizer, trial_number))
