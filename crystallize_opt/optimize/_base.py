"""The optimizer contract: propose treatments, learn from their results, name the best."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from ..treatment import Treatment
from ._finalize import EvaluateReplicates
from ._objective import Objective

__all__ = ["BaseOptimizer", "EvaluateReplicates", "OptimizationRun", "WorkerRole"]


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

    The loop run by :meth:`Experiment.optimize` calls :meth:`prepare` once, then :meth:`ask`
    once per round, runs each returned treatment's replicates, and reports each result in the
    order asked through :meth:`tell`, with the aggregated objective values (NaN for a trial that
    failed or did not record the metric); at the end it returns :meth:`get_best_treatment`.
    A hand-written optimizer needs only the three abstract methods, for example a grid search::

        class GridSearch(BaseOptimizer):
            def __init__(self, xs: list[float]):
                super().__init__(Objective("loss"))
                self.xs, self.losses = xs, []

            def ask(self) -> list[Treatment]:
                x = self.xs[len(self.losses)]
                return [Treatment(f"grid-{len(self.losses)}", {"x": x})]

            def tell(self, objective_values: dict[str, float]) -> None:
                self.losses.append(objective_values["loss"])

            def get_best_treatment(self) -> Treatment:
                best = min(range(len(self.losses)), key=self.losses.__getitem__)
                return Treatment(f"grid-{best}", {"x": self.xs[best]})

        best = experiment.optimize(GridSearch([0.0, 1.5, 3.0]), num_trials=3, replicates_per_trial=5)

    Everything else the loop needs (when to stop, which replicates a trial runs, where results
    are stored, the winner's selection at the end) comes from collaborators with working
    defaults; an optimizer that needs its own provides them (see
    ``crystallize_opt.optimize._collaborators``, which :class:`OptunaOptimizer` implements).

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
