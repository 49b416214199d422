"""The trial recorder: where a trial's results go, and what happens to one that did not end."""

from __future__ import annotations

import math
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from ..treatment import Treatment
from ._evaluation import TrialEvaluation

if TYPE_CHECKING:
    from ._base import BaseOptimizer


class TrialRecorder:
    """Receives each trial's evaluation (and the end of trials that were interrupted).

    The default hands the aggregated objective values to :meth:`BaseOptimizer.tell`, NaN for
    every objective when a replicate failed; the Optuna adapter stores the whole record.
    """

    def __init__(self, optimizer: BaseOptimizer):
        self.optimizer = optimizer

    def running(self, treatment: Treatment) -> AbstractContextManager[object]:
        """Context kept open while ``treatment``'s trial runs (e.g. to send heartbeats)."""
        return nullcontext()

    def tell_evaluation(self, evaluation: TrialEvaluation, *, pruned: bool = False) -> None:
        """Receive everything a trial produced (``pruned``: its replicates were stopped early)."""
        values = evaluation.objective_values(self.optimizer.objective)
        if evaluation.failed:
            values = dict.fromkeys(values, math.nan)
        self.optimizer.tell(values)

    def abort(self, treatment: Treatment, reason: str) -> None:
        """Called instead of a tell when the trial of ``treatment`` was interrupted or misconfigured."""

    def abort_pending(self, reason: str) -> None:
        """Called when the loop is interrupted: end every trial asked but not told yet."""
