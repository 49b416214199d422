"""The optimizer contract: propose treatments, learn from their results, name the best."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from ..treatment import Treatment
from ._evaluation import TrialEvaluation
from ._objective import Objective

#: ``evaluate(treatment or None for the baseline, {replicate: seed}, scope)``, given to
#: :meth:`BaseOptimizer.finalize` to run extra evaluations after the search.
EvaluateReplicates = Callable[[Treatment | None, Mapping[int, int], str], Awaitable[TrialEvaluation]]


@dataclass(frozen=True)
class WorkerRole:
    """How one of several processes sharing a study takes part (``workers=N`` or the
    ``crystallize-opt worker`` command); given to the optimizer in :attr:`OptimizationRun.worker`.

    "Worker" here means a study-sharing process, not a replicate thread or process of
    :class:`ParallelExecution` (whose ``max_workers`` counts those).

    Attributes:
        tag: names the worker on its trials (``<run id>:<index>`` or ``<host>:<pid>``).
        selects_winner: False in the processes of ``workers=N``: their parent chooses the winner
            of a noise-aware search, once, after they have all finished.
    """

    tag: str
    selects_winner: bool = True


@dataclass(frozen=True)
class OptimizationRun:
    """Facts about the experiment an optimizer is about to serve (given to :meth:`BaseOptimizer.prepare`).

    ``worker`` is None for a search run by this process alone, else this process's part in a
    study shared by several (see :class:`WorkerRole`).
    """

    experiment_name: str
    master_seed: int
    replicates_per_trial: int
    num_trials: int
    pipeline_signature: str
    package_version: str
    worker: WorkerRole | None = None


class BaseOptimizer(ABC):
    """Propose treatments, receive their results, and name the best.

    The loop run by :meth:`Experiment.optimize` calls :meth:`ask` once per round, runs each
    returned treatment's replicates, and reports each result in the order asked; by default
    through :meth:`tell` with the aggregated objective values (NaN for a trial that failed or
    did not record the metric). A hand-written optimizer needs only the three abstract
    methods; the other hooks have working defaults.

    Args:
        objective: what to minimise or maximise.
    """

    #: Replicate ``r`` of every trial uses the same seed (common random numbers), so trials
    #: compare on equal terms. Set False for independent seeds per trial.
    common_random_numbers: bool = True

    def __init__(self, objective: Objective):
        if not isinstance(objective, Objective):
            raise TypeError(f"objective must be an Objective, got {type(objective).__name__}")
        self.objective = objective

    @abstractmethod
    def ask(self) -> list[Treatment]:
        """Return the treatments to evaluate next (usually one)."""

    @abstractmethod
    def tell(self, objective_values: dict[str, float]) -> None:
        """Receive the aggregated objective values of the next treatment asked (metric -> value)."""

    @abstractmethod
    def get_best_treatment(self) -> Treatment:
        """Return the best treatment found so far.

        Raises:
            OptimizationError: when nothing has been evaluated successfully.
        """

    def prepare(self, run: OptimizationRun) -> None:  # noqa: B027 - optional hook
        """Called once before the first :meth:`ask` of an optimization."""

    def next_action(self, num_trials: int, rounds_done: int) -> str:
        """What the loop does next: ``"ask"``, ``"wait"`` (poll again shortly: other workers'
        trials are still running) or ``"stop"``. The default asks ``num_trials`` rounds."""
        return "ask" if rounds_done < num_trials else "stop"

    def finished_count(self) -> int | None:
        """Trials already finished before this run (for the progress display), if known."""
        return None

    def running(self, treatment: Treatment) -> AbstractContextManager[object]:
        """Context kept open while ``treatment``'s trial runs (e.g. to send heartbeats)."""
        return nullcontext()

    def tell_evaluation(self, evaluation: TrialEvaluation, *, pruned: bool = False) -> None:
        """Receive everything a trial produced (``pruned``: its replicates were stopped early).

        The default calls :meth:`tell` with the objective values, NaN for every objective when
        a replicate failed.
        """
        values = evaluation.objective_values(self.objective)
        if evaluation.failed:
            values = dict.fromkeys(values, math.nan)
        self.tell(values)

    def abort(self, treatment: Treatment, reason: str) -> None:  # noqa: B027 - optional hook
        """Called instead of a tell when the trial of ``treatment`` was interrupted or misconfigured."""

    def abort_pending(self, reason: str) -> None:  # noqa: B027 - optional hook
        """Called when the loop is interrupted: fail every trial asked but not told yet."""

    def trial_number(self, treatment: Treatment) -> int | None:
        """The number identifying ``treatment``'s trial, used to derive independent seeds."""
        return None

    @property
    def is_exhausted(self) -> bool:
        """True when the optimizer has nothing left to propose; the loop then stops early."""
        return False

    #: Seconds the loop waits after :meth:`next_action` said ``"wait"``.
    poll_interval: float = 0.5

    #: When True, the loop runs a trial's replicates one at a time and calls
    #: :meth:`report_replicate` after each, so the optimizer can stop a poor trial early.
    reports_replicates: bool = False

    def report_replicate(self, treatment: Treatment, evaluation: TrialEvaluation) -> bool:
        """Receive the replicates of ``treatment`` finished so far; return True to stop it."""
        return False

    def replicates_for(self, treatment: Treatment) -> Sequence[int] | None:
        """Replicate indices ``treatment``'s trial runs (each index fixes its seed); None (the
        default) runs replicates ``0 .. replicates_per_trial - 1``."""
        return None

    def budget_progress(self) -> tuple[int, int] | None:
        """``(spent, total)`` pipeline executions when the optimizer runs on a budget of
        executions rather than a number of trials (shown by the progress display); None by default."""
        return None

    async def finalize(self, evaluate: EvaluateReplicates) -> None:  # noqa: B027 - optional hook
        """Called once after the search, before :meth:`get_best_treatment`, unless interrupted;
        ``evaluate`` runs further replicates (e.g. to confirm a winner on fresh seeds)."""

    def end_run(self) -> None:  # noqa: B027 - optional hook
        """Called once when :meth:`Experiment.optimize` ends, however it ends (finished, failed or
        interrupted), in every process that ran it: release or flush what the run held."""

    def wants_baseline(self) -> bool:
        """Return True to have the baseline evaluated once, on the trials' seeds, before the trials."""
        return False

    def tell_baseline(self, evaluation: TrialEvaluation) -> None:  # noqa: B027 - optional hook
        """Receive the baseline's evaluation (only called when :meth:`wants_baseline` is True)."""
