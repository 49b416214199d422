"""The Optuna adapter's loop collaborators, each built on the optimizer's study session with the
settings it needs."""

from __future__ import annotations

from dataclasses import dataclass

from optuna.pruners import BasePruner

from ._arguments import CheckedArguments
from ._collaborators import LoopCollaborators
from ._objective import Objective
from ._optuna_finalize import StudyFinalizer
from ._optuna_plan import StudyReplicatePlan
from ._optuna_recorder import StudyBaseline, StudyRecorder
from ._optuna_schedule import StudySchedule
from ._optuna_session import StudySession


@dataclass(frozen=True)
class StudyCollaborators(LoopCollaborators):
    """The :class:`LoopCollaborators` of an :class:`OptunaOptimizer`, whose ``ask`` and ``tell``
    use its schedule and recorder too."""

    schedule: StudySchedule
    recorder: StudyRecorder


def study_collaborators(
    session: StudySession,
    objective: Objective,
    settings: CheckedArguments,
    *,
    reports_to_pruner: bool,
    pruner: BasePruner | None = None,
) -> StudyCollaborators:
    """Build the collaborators of an optimizer's run on ``session`` and its storage (once more in
    a worker process, whose storage is opened anew from its URL)."""
    storage = session.storage
    return StudyCollaborators(
        schedule=StudySchedule(session, storage, settings.poll_interval),
        recorder=StudyRecorder(
            session,
            storage,
            objective,
            noise=settings.noise,
            heartbeat_interval=settings.heartbeat_interval,
            grace_period=settings.grace_period,
        ),
        plan=StudyReplicatePlan(
            session,
            objective,
            noise_handling=settings.noise is not None,
            reports_to_pruner=reports_to_pruner,
            curve_pruning=settings.curve_pruning,
            pruner=pruner,
        ),
        baseline=StudyBaseline(session, objective, run_baseline=settings.run_baseline),
        finalizer=StudyFinalizer(
            session,
            storage,
            heartbeat_interval=settings.heartbeat_interval,
            grace_period=settings.grace_period,
            max_retries=settings.max_retries,
            poll_interval=settings.poll_interval,
        ),
    )
