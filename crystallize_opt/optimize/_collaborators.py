"""What the optimization loop needs beside the optimizer, and where it gets it.

A :class:`BaseOptimizer` proposes and learns (ask, tell, best). The loop's other needs are
explicit collaborators, each in its own module: the :class:`TrialSchedule` (ask, wait or stop),
the :class:`ReplicatePlan` (which replicates a trial runs, early stopping), the
:class:`TrialRecorder` (where results go), the :class:`BaselineReference` and the
:class:`Finalizer` (winner selection, end of run). An optimizer that needs more than the defaults
provides them by implementing :class:`ProvidesCollaborators`, as :class:`OptunaOptimizer` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ._finalize import BaselineReference, Finalizer
from ._plan import ReplicatePlan
from ._recorder import TellRecorder, TrialRecorder
from ._schedule import FixedRounds, TrialSchedule

if TYPE_CHECKING:
    from ._base import BaseOptimizer


@dataclass(frozen=True)
class LoopCollaborators:
    """The collaborators one optimizer gives the loop (see the module docstring)."""

    schedule: TrialSchedule
    recorder: TrialRecorder
    plan: ReplicatePlan = field(default_factory=ReplicatePlan)
    baseline: BaselineReference = field(default_factory=BaselineReference)
    finalizer: Finalizer = field(default_factory=Finalizer)


@runtime_checkable
class ProvidesCollaborators(Protocol):
    """An optimizer that gives the loop collaborators of its own."""

    def loop_collaborators(self) -> LoopCollaborators:
        """The collaborators serving this optimizer's runs (valid before :meth:`prepare` too:
        the loop ends a run through them even when preparing it failed)."""
        ...


def collaborators_of(optimizer: BaseOptimizer) -> LoopCollaborators:
    """``optimizer``'s own collaborators, or the defaults for a plain :class:`BaseOptimizer`
    (ask ``num_trials`` rounds, every replicate, results to :meth:`BaseOptimizer.tell`)."""
    if isinstance(optimizer, ProvidesCollaborators):
        return optimizer.loop_collaborators()
    return LoopCollaborators(schedule=FixedRounds(), recorder=TellRecorder(optimizer))
