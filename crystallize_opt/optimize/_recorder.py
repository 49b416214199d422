"""The trial recorder: where a trial's results go, and what happens to one that did not end."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from ..treatment import Treatment
from ._evaluation import TrialEvaluation

if TYPE_CHECKING:
    from ._base import BaseOptimizer


class TrialRecorder(ABC):
    """Receives each trial's evaluation (and the end of trials that were interrupted).

    The default (:class:`TellRecorder`) hands the aggregated objective values to
    :meth:`BaseOptimizer.tell`; the Optuna adapter's stores the whole record in the study.
    """

    def running(self, treatment: Treatment) -> AbstractContextManager[object]:
        """Context kept open while ``treatment``'s trial runs (e.g. to send heartbeats)."""
        return nullcontext()

    @abstractmethod
    def tell_evaluation(self, evaluation: TrialEvaluation, *, pruned: bool = False) -> None:
        """Receive everything a trial produced (``pruned``: its replicates were stopped early)."""

    def abort(self, treatment: Treatment, reason: str) -> None:  # noqa: B027 - optional hook
        """Called instead of a tell when the trial of ``treatment`` was interrupted or misconfigured."""

    def abort_pending(self, reason: str) -> None:  # noqa: B027 - optional hook
        """Called when the loop is interrupted: end every trial asked but not told yet."""


class TellRecorder(TrialRecorder):
    """The recorder of a plain :class:`BaseOptimizer`: each trial's aggregated objective values
    go to ``optimizer.tell``, NaN for every objective when a replicate failed."""

    def __init__(self, optimizer: BaseOptimizer):
        self.optimizer = optimizer

    def tell_evaluation(self, evaluation: TrialEvaluation, *, pruned: bool = False) -> None:
        """Tell the optimizer the trial's aggregated objective values (NaN when it failed)."""
        values = evaluation.objective_values(self.optimizer.objective)
        if evaluation.failed:
            values = dict.fromkeys(values, math.nan)
        self.optimizer.tell(values)
