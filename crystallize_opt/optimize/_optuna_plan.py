"""The Optuna adapter's replicate plan: each replicate (or each point of its learning curve)
reported to the pruner (or the noise search's racing rule) as it finishes, and the replicates
the racing plan gives a trial."""

from __future__ import annotations

import math
from typing import Any

from optuna.pruners import BasePruner

from ..treatment import Treatment
from ._evaluation import TrialEvaluation
from ._objective import Objective
from ._optuna_curves import CurveSteps, TrialCurves, describe_decision
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
        curve_pruning: how learning curves reach the pruner (``"paired"``, ``"pooled"``;
            ``"off"`` or None: they are only recorded, and the pruner sees one value per
            replicate). See ``_optuna_curves``.
        pruner: the study's pruner (described in a pruned trial's record).
    """

    def __init__(
        self,
        session: StudySession,
        objective: Objective,
        *,
        noise_handling: bool,
        reports_to_pruner: bool,
        curve_pruning: str | None = None,
        pruner: BasePruner | None = None,
    ):
        self._session = session
        self._objective = objective
        self._noise_handling = noise_handling
        self._reports_to_pruner = reports_to_pruner
        self._curve_pruning = curve_pruning if reports_to_pruner else None
        self._pruner = pruner
        self._steps = CurveSteps(session)
        self._curves: TrialCurves | None = None
        self._reason: dict[str, Any] | None = None

    @property
    def reports_replicates(self) -> bool:
        """True when each replicate is reported as it finishes (a pruner, or noise handling)."""
        return self._noise_handling or self._reports_to_pruner

    @property
    def seed_scheme(self) -> str:
        """The study's replicate-seed scheme (:attr:`StudySession.seed_scheme`)."""
        return self._session.seed_scheme

    def replicate_indices(self, treatment: Treatment) -> list[int] | None:
        """With noise handling, the replicates the racing plan gives this trial; else None."""
        search = self._session.noise_search
        return None if search is None else search.replicates_for(treatment)

    def trial_key(self, treatment: Treatment) -> int | None:
        trial = self._session.pending.get(treatment.name)
        return None if trial is None else trial.number

    def curve_reporter(self, treatment: Treatment) -> TrialCurves | None:
        """With curve pruning, the reporter of this trial's learning curves (a new trial's:
        the loop runs one trial at a time in a process); else None."""
        self._reason = None
        trial = self._session.pending.get(treatment.name)
        if self._curve_pruning in (None, "off") or trial is None:
            self._curves = None
        else:
            assert self._curve_pruning is not None
            search = self._session.noise_search
            self._curves = TrialCurves(
                self._session,
                trial,
                self._curve_pruning,
                self._steps,
                self._pruner,
                # The noise check compares two whole replicates of one trial: once its first
                # replicate is done, the second must finish too.
                first_replicate_only=search is not None and search.checks_noise(treatment),
            )
        return self._curves

    def stop_reason(self, treatment: Treatment) -> dict[str, Any] | None:
        """Where and why :meth:`report_replicate` last said to stop."""
        return self._reason

    def report_replicate(self, treatment: Treatment, evaluation: TrialEvaluation) -> bool:
        """Report the latest replicate; return True when the trial should stop (the pruner says
        so, or, with noise handling and no pruner, the racing rule).

        A replicate that reported a learning curve under curve pruning was reported point by
        point as it ran (its pruner asked at each), or, when it ran in another process, is
        reported now and the pruner asked once. Otherwise its objective value is reported at
        step = replicate index."""
        trial = self._session.pending[treatment.name]
        latest = evaluation.replicates[-1]
        curves = self._curves
        curve = evaluation.curves.get(latest)
        if curves is not None and curve:
            if latest in curves.live:
                return False
            self._reason = curves.catch_up(latest, curve)
            return self._reason is not None
        value = evaluation.values.get(self._objective.metrics[0], [None])[-1]
        if value is None or not math.isfinite(value):
            return False
        trial.report(value, step=latest)
        search = self._session.noise_search
        if search is not None:
            pruner = trial.should_prune if self._reports_to_pruner else None
            return search.should_stop(treatment, evaluation, pruner)
        if not trial.should_prune():
            return False
        self._reason = describe_decision(
            self._session.study,
            trial.number,
            self._pruner,
            replicate=latest,
            step=None,
            optuna_step=latest,
            value=value,
            mode="replicates",
        )
        return True
