"""The trial schedule: when the loop asks for another trial, waits, or stops."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Literal

#: What the loop does next: ask for trials, wait (poll again shortly), or stop.
Action = Literal["ask", "wait", "stop"]


class TrialSchedule(ABC):
    """Decides, before each round of :meth:`BaseOptimizer.ask`, whether the loop asks, waits or stops.

    The default (:class:`FixedRounds`) asks ``num_trials`` rounds; the Optuna adapter's counts the
    study's finished trials against a target shared by every worker.
    """

    #: Seconds the loop waits after :meth:`next_action` said ``"wait"``.
    poll_interval: float = 0.5

    @abstractmethod
    def next_action(self, num_trials: int, rounds_done: int) -> str:
        """``"ask"``, ``"wait"`` (other workers' trials are still running) or ``"stop"``."""

    def finished_count(self) -> int | None:
        """Trials already finished before this run (for the progress display), if known."""
        return None

    def budget_progress(self) -> tuple[float, int] | None:
        """``(spent, total)`` pipeline executions when the search runs on a budget of executions
        rather than a number of trials (shown by the progress display); None by default."""
        return None

    @property
    def is_exhausted(self) -> bool:
        """True when there is nothing left to propose; the loop then stops early."""
        return False


class FixedRounds(TrialSchedule):
    """Ask ``num_trials`` rounds, then stop (the schedule of a plain :class:`BaseOptimizer`)."""

    def next_action(self, num_trials: int, rounds_done: int) -> str:
        return "ask" if rounds_done < num_trials else "stop"
