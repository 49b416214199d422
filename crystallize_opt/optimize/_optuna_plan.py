"""The Optuna adapter's replicate plan: each replicate reported to the pruner (or the noise
search's racing rule) as it finishes, and the replicates the racing plan gives a trial."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..treatment import Treatment
from ._evaluation import TrialEvaluation
from ._plan import ReplicatePlan

if TYPE_CHECKING:
    from ._optuna import OptunaOptimizer


class StudyReplicatePlan(ReplicatePlan):
    """The :class:`ReplicatePlan` of an :class:`OptunaOptimizer`."""

    def __init__(self, optimizer: OptunaOptimizer):
        self._opt = optimizer

    @property
    def reports_replicates(self) -> bool:
        """True when each replicate is reported as it finishes (a pruner, or noise handling)."""
        opt = self._opt
        return opt.noise is not None or opt.reports_to_pruner

    def replicate_indices(self, treatment: Treatment) -> list[int] | None:
        """With noise handling, the replicates the racing plan gives this trial; else None."""
        opt = self._opt
        return None if opt._noise_search is None else opt._noise_search.replicates_for(treatment)

    def trial_key(self, treatment: Treatment) -> int | None:
        opt = self._opt
        trial = opt._pending.get(treatment.name)
        return None if trial is None else trial.number

    def report_replicate(self, treatment: Treatment, evaluation: TrialEvaluation) -> bool:
        """Report the latest replicate's objective value; return True when the trial should stop
        (the pruner says so, or, with noise handling and no pruner, the racing rule)."""
        opt = self._opt
        trial = opt._pending[treatment.name]
        value = evaluation.values.get(opt.objective.metrics[0], [None])[-1]
        if value is None or not math.isfinite(value):
            return False
        trial.report(value, step=evaluation.replicates[-1])
        if opt._noise_search is not None:
            pruner = trial.should_prune if opt.reports_to_pruner else None
            return opt._noise_search.should_stop(treatment, evaluation, pruner)
        return trial.should_prune()
