"""The Optuna adapter's replicate plan: each replicate reported to the pruner (or the noise
search's racing rule) as it finishes, and the replicates the racing plan gives a trial."""

from __future__ import annotations

import math

from ..treatment import Treatment
from ._evaluation import TrialEvaluation
from ._objective import Objective
from ._optuna_session import StudySession
from ._plan import ReplicatePlan


class StudyReplicatePlan(ReplicatePlan):
    """The :class:`ReplicatePlan` of an :class:`OptunaOptimizer`: reports to the session's
    pending trials and asks its noise search.

    Args:
        session: the optimizer's study session.
        objective: the objective (its first metric is reported).
        noise_handling: True when the optimizer has noise handling.
        reports_to_pruner: True when a pruner decides whether a trial stops early.
    """

    def __init__(
        self, session: StudySession, objective: Objective, *, noise_handling: bool, reports_to_pruner: bool
    ):
        self._session = session
        self._objective = objective
        self._noise_handling = noise_handling
        self._reports_to_pruner = reports_to_pruner

    @property
    def reports_replicates(self) -> bool:
        """True when each replicate is reported as it finishes (a pruner, or noise handling)."""
        return self._noise_handling or self._reports_to_pruner

    def replicate_indices(self, treatment: Treatment) -> list[int] | None:
        """With noise handling, the replicates the racing plan gives this trial; else None."""
        search = self._session.noise_search
        return None if search is None else search.replicates_for(treatment)

    def trial_key(self, treatment: Treatment) -> int | None:
        trial = self._session.pending.get(treatment.name)
        return None if trial is None else trial.number

    def report_replicate(self, treatment: Treatment, evaluation: TrialEvaluation) -> bool:
        """Report the latest replicate's objective value; return True when the trial should stop
        (the pruner says so, or, with noise handling and no pruner, the racing rule)."""
        trial = self._session.pending[treatment.name]
        value = evaluation.values.get(self._objective.metrics[0], [None])[-1]
        if value is None or not math.isfinite(value):
            return False
        trial.report(value, step=evaluation.replicates[-1])
        search = self._session.noise_search
        if search is not None:
            pruner = trial.should_prune if self._reports_to_pruner else None
            return search.should_stop(treatment, evaluation, pruner)
        return trial.should_prune()
