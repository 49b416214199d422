"""The Optuna adapter's trial schedule: the study's finished trials counted against a target
shared by every worker (or, with noise handling, the search's budget of executions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import optuna

from ..coordination import storage_is_shared
from ._schedule import TrialSchedule
from ._target import give_up

if TYPE_CHECKING:
    from ._optuna import OptunaOptimizer


class StudySchedule(TrialSchedule):
    """The :class:`TrialSchedule` of an :class:`OptunaOptimizer` (see :meth:`next_action`)."""

    def __init__(self, optimizer: OptunaOptimizer):
        self._opt = optimizer
        self.poll_interval = optimizer.poll_interval

    @property
    def is_exhausted(self) -> bool:
        """True once a grid or brute-force sampler has proposed its whole space."""
        opt = self._opt
        return opt._exhausted

    def next_action(self, num_trials: int, rounds_done: int) -> str:
        """Ask while finished plus running trials fall short of ``num_trials``; wait while only
        running trials (of other workers) could still reach it; stop once finished trials do
        (with noise handling: once the search budget of executions is spent).

        One call runs at most as many trials as were missing when it started: failed trials
        do not count as finished, so a call whose trials failed can end below the target (run
        it again to continue). With shared storages, RUNNING trials silent for longer than
        ``grace_period`` are failed first (and retried), at most once per ``poll_interval``.
        """
        opt = self._opt
        if self.is_exhausted:
            return "stop"
        if rounds_done == 0:
            opt._target.reset()
        if opt._noise_search is not None:  # a budget of executions, not a number of trials
            if storage_is_shared(opt.storage):
                opt._target.shared_counts(opt.study, opt.storage, num_trials, force=rounds_done == 0)
                opt._noise_search.sync(opt.study)  # other workers' trials
            return "stop" if opt._noise_search.search_done else "ask"
        return opt._target.next_action(opt.study, opt.storage, num_trials, rounds_done)

    def finished_count(self) -> int:
        opt = self._opt
        return opt.finished_trials()

    def budget_progress(self) -> tuple[int, int] | None:
        """With noise handling, executions spent by the search and its share of the budget."""
        opt = self._opt
        return None if opt._noise_search is None else opt._noise_search.progress()

    def give_up_if_surplus(self, trial: optuna.Trial) -> bool:
        """Give ``trial`` up when lower-numbered live trials already make up the target; with
        noise handling, when the finished trials of a shared study already spend the search
        budget."""
        opt = self._opt
        if opt._run is None:
            return False
        if opt._noise_search is None:
            return opt._target.give_up_if_surplus(opt.study, opt.storage, trial, opt._run.num_trials)
        if not storage_is_shared(opt.storage):
            return False
        # next_action read the study before this trial existed. Meanwhile the other workers'
        # last trials may have ended and one of them, finding no running trial, begun choosing
        # the winner from the search as it stood: run now, this trial would change that search
        # (and its worker would choose again). Read again now that the trial is in the study,
        # where a worker about to choose sees it running: a worker that began choosing without
        # seeing it had found the budget spent, and so does this read.
        opt._noise_search.sync(opt.study)
        if not opt._noise_search.search_done:
            return False
        give_up(opt.study, trial, "not needed: other workers' trials spent the search budget")
        return True
