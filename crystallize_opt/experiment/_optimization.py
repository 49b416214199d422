"""Optimizing an experiment: the search in this process or in worker processes sharing the study,
the winner of a noise-aware search, and replaying a stored trial.

The experiment package reaches the optimization loop, the worker processes and the replay
only through here; the optimize package never imports the experiment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._checks import check_count
from ..exceptions import ConfigurationError
from ..optimize import (
    BaseOptimizer,
    OptunaOptimizer,
    WorkerRole,
    collaborators_of,
    execution_bar,
    finish_optimization,
    replay_trial,
    run_dask_workers,
    run_optimization,
    run_workers,
)
from ..plugins import check_gpus
from ..treatment import Treatment
from ._dispatch import trial_session
from ._validation import check_structure

if TYPE_CHECKING:
    from optuna.pruners import BasePruner

    from ..optimize import ReplayReport
    from ._experiment import Experiment


@dataclass(frozen=True)
class OptimizeOptions:
    """How :meth:`Experiment.aoptimize` runs its search (its keyword arguments, one object from the
    public methods down to the search). ``worker`` is set when this process is itself one of the
    processes sharing a study (started by ``workers=N``, a Dask task or the ``crystallize-opt
    worker`` command); it then runs its part alone."""

    progress: bool = False
    workers: int = 1
    gpus: Sequence[int] | None = None
    pruner: BasePruner | None = None
    curve_pruning: str | None = None
    cluster: Any = None
    resources: Mapping[str, float] | None = None
    upload: bool | None = None
    worker: WorkerRole | None = None

    def checked_gpus(self) -> tuple[int, ...] | None:
        """The GPU indices, validated, after refusing combinations that cannot work.

        Raises:
            ConfigurationError: if ``workers`` is not a positive integer, ``gpus`` is given with
                one worker or with a cluster (or names GPUs this machine lacks), ``resources``
                or ``upload`` without a cluster.
        """
        check_count(self.workers, "workers")
        devices = None if self.gpus is None else check_gpus(self.gpus, "gpus")
        if self.cluster is not None and devices is not None:
            raise ConfigurationError(
                f"gpus={list(devices)} names GPUs of this machine; on a Dask cluster ask for them as worker "
                'resources instead: resources={"GPU": 1} (start the Dask workers with --resources GPU=1)'
            )
        if self.resources is not None and self.cluster is None:
            raise ConfigurationError(
                f"resources={dict(self.resources)!r} are Dask worker resources: they need cluster=..."
            )
        if self.upload is not None and self.cluster is None:
            raise ConfigurationError(
                f"upload={self.upload!r} (--dask-upload) is about sending the study's files to Dask workers: "
                "it needs cluster=... (--dask ADDRESS)"
            )
        if devices is not None and self.workers == 1:
            raise ConfigurationError(
                f"gpus={list(devices)} gives each of several worker processes its GPUs: it needs workers >= 2. "
                "For one process, set CUDA_VISIBLE_DEVICES before Python starts (the command line's "
                "--gpus does that for --workers 1), or spread replicates with ParallelExecution(gpus=...)"
            )
        return devices


async def optimize_experiment(
    experiment: Experiment,
    optimizer: BaseOptimizer,
    num_trials: int,
    replicates_per_trial: int,
    options: OptimizeOptions,
) -> Treatment:
    """Run the search of :meth:`Experiment.aoptimize` and return the best treatment.

    With ``options.workers > 1`` the trials run in worker processes sharing the optimizer's
    study (on a Dask cluster with ``options.cluster``), and the winner of a noise-aware search is
    chosen here afterwards, once; otherwise they run in this process, in one trial session (steps
    set up once, the worker pool kept open).

    Raises:
        ConfigurationError: as :meth:`OptimizeOptions.checked_gpus`, if several workers are
            asked of an optimizer other than :class:`OptunaOptimizer`, or as
            :meth:`Experiment.aoptimize`.
        OptimizationError: as :meth:`Experiment.aoptimize`.
    """
    # Not validate(): trials take their parameters from the optimizer, not from initial_ctx.
    check_structure(experiment)
    devices = options.checked_gpus()
    if options.pruner is not None or options.curve_pruning is not None:
        _use_pruner(optimizer, options.pruner, options.curve_pruning)
    try:
        return await _search(experiment, optimizer, num_trials, replicates_per_trial, options, devices)
    finally:
        if isinstance(optimizer, BaseOptimizer):  # anything else was refused above: nothing to end
            collaborators_of(optimizer).finalizer.end_run()  # e.g. a SQLite study's file made complete


def _use_pruner(optimizer: BaseOptimizer, pruner: BasePruner | None, curve_pruning: str | None) -> None:
    """Give ``optimize(pruner=..., curve_pruning=...)`` to the optimizer.

    Raises:
        ConfigurationError: for an optimizer other than OptunaOptimizer, or as
            :meth:`OptunaOptimizer.use_pruner` (e.g. a pruner other than the constructor's).
    """
    if not isinstance(optimizer, OptunaOptimizer):
        raise ConfigurationError(
            f"optimize(pruner=..., curve_pruning=...) needs an OptunaOptimizer, got {type(optimizer).__name__}"
        )
    optimizer.use_pruner(optimizer.pruner if pruner is None else pruner, curve_pruning)


async def _search(
    experiment: Experiment,
    optimizer: BaseOptimizer,
    num_trials: int,
    replicates_per_trial: int,
    options: OptimizeOptions,
    gpus: tuple[int, ...] | None,
) -> Treatment:
    progress, workers, cluster = options.progress, options.workers, options.cluster
    if workers > 1 or cluster is not None:
        if not isinstance(optimizer, OptunaOptimizer):
            raise ConfigurationError(
                f"parallel workers need an OptunaOptimizer, got {type(optimizer).__name__}"
            )
        if cluster is not None:
            best = run_dask_workers(
                experiment,
                optimizer,
                num_trials,
                replicates_per_trial,
                workers,
                cluster,
                progress,
                options.resources,
                options.upload,
            )
        else:
            best = run_workers(
                experiment, optimizer, num_trials, replicates_per_trial, workers, progress, gpus
            )
        if optimizer.noise is None:
            return best
        # The winner of a noise-aware search is chosen here, once; the bar goes on from the
        # workers' search to the budget with the confirmation and held-out runs.
        spent = optimizer.execution_progress() if progress else None
        bar = (
            None
            if spent is None
            else execution_bar(f"{optimizer.study.study_name}: choosing the winner", spent)
        )
        try:
            with trial_session(experiment) as trials:
                return await finish_optimization(
                    optimizer, trials.evaluate, executed=None if bar is None else bar.add
                )
        finally:
            if bar is not None:
                bar.close()
    with trial_session(experiment) as trials:
        return await run_optimization(
            experiment,
            trials.evaluate,
            optimizer,
            num_trials,
            replicates_per_trial,
            progress=progress,
            worker=options.worker,
        )


async def replay_stored_trial(
    experiment: Experiment, optimizer: OptunaOptimizer, trial_number: int
) -> ReplayReport:
    """Re-run trial ``trial_number`` of ``optimizer``'s study with its treatment and seeds, in a
    trial session, and compare with what was stored (see :meth:`Experiment.replay_trial`).

    Raises:
        OptimizationError: if the trial does not exist or stored no replicates.
    """
    with trial_session(experiment) as trials:
        return await replay_trial(trials.evaluate, optimizer, trial_number)
