"""The end of a search: choosing the winner after it, and releasing what the run held."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from ..treatment import Treatment
from ._evaluation import TrialEvaluation

#: ``evaluate(treatment or None for the baseline, {replicate: seed}, scope)``, given to
#: :meth:`Finalizer.finalize` to run extra evaluations after the search.
EvaluateReplicates = Callable[[Treatment | None, Mapping[int, int], str], Awaitable[TrialEvaluation]]


class Finalizer:
    """What happens once the search ends. The default does nothing: the optimizer's
    :meth:`BaseOptimizer.get_best_treatment` names the winner."""

    async def finalize(self, evaluate: EvaluateReplicates) -> None:
        """Called once after the search, before :meth:`BaseOptimizer.get_best_treatment`, unless
        interrupted; ``evaluate`` runs further replicates (e.g. to confirm a winner on fresh seeds)."""

    def end_run(self) -> None:
        """Called once when :meth:`Experiment.optimize` ends, however it ends (finished, failed or
        interrupted), in every process that ran it: release or flush what the run held."""


class BaselineReference:
    """Evaluates the baseline once, on the trials' seeds, before the trials (none by default)."""

    def wanted(self) -> bool:
        """True when the baseline should be evaluated now."""
        return False

    def tell(self, evaluation: TrialEvaluation) -> None:
        """Receive the baseline's evaluation (only called when :meth:`wanted` was True)."""
