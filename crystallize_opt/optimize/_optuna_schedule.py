"""The Optuna adapter's trial schedule: the study's finished trials counted against a target
shared by every worker (or, with noise handling, the search's budget of executions)."""

from __future__ import annotations

import optuna
from optuna.storages import BaseStorage

from ..coordination import storage_is_shared
from ._optuna_session import StudySession
from ._schedule import TrialSchedule
from ._target import count_finished, give_up


class StudySchedule(TrialSchedule):
    """The :class:`TrialSchedule` of an :class:`OptunaOptimizer` (see :meth:`next_action`):
    counts the session's study against the session's target (or noise search's budget).

    Args:
        session: the optimizer's study session.
        storage: the storage the study is kept in.
        poll_interval: seconds the loop waits after :meth:`next_action` said ``"wait"``.
    """

    def __init__(self, session: StudySession, storage: BaseStorage, poll_interval: float):
        self._session = session
        self._storage = storage
        self.poll_interval = poll_interval

    @property
    def is_exhausted(self) -> bool:
        """True once a grid or brute-force sampler has proposed its whole space."""
        return self._session.exhausted

    def next_action(self, num_trials: int, rounds_done: int) -> str:
        """Ask while finished plus running trials fall short of ``num_trials``; wait while only
        running trials (of other workers) could still reach it; stop once finished trials do
        (with noise handling: once the search budget of executions is spent).

        One call runs at most as many trials as were missing when it started: failed trials
        do not count as finished, so a call whose trials failed can end below the target (run
        it again to continue). With shared storages, RUNNING trials silent for longer than
        ``grace_period`` are failed first (and retried), at most once per ``poll_interval``.
        """
        session, storage = self._session, self._storage
        if self.is_exhausted:
            return "stop"
        if rounds_done == 0:
            session.target.reset()
        search = session.noise_search
        if search is not None:  # a budget of executions, not a number of trials
            if storage_is_shared(storage):
                session.target.shared_counts(session.study, storage, num_trials, force=rounds_done == 0)
                search.sync(session.study)  # other workers' trials
            return "stop" if search.search_done else "ask"
        return session.target.next_action(session.study, storage, num_trials, rounds_done)

    def finished_count(self) -> int:
        """Complete or pruned trials in the study."""
        return count_finished(self._session.study, self._storage)

    def budget_progress(self) -> tuple[float, int] | None:
        """With noise handling, the pipeline executions spent (search, and once the winner is
        chosen, confirmation and held-out runs) and the whole budget (see
        :meth:`NoiseSearch.progress`)."""
        search = self._session.noise_search
        return None if search is None else search.progress(self._session.study)

    def give_up_if_surplus(self, trial: optuna.Trial) -> bool:
        """Give ``trial`` up when lower-numbered live trials already make up the target; with
        noise handling, when the finished trials of a shared study already spend the search
        budget."""
        session, storage = self._session, self._storage
        if session.run is None:
            return False
        search = session.noise_search
        if search is None:
            return session.target.give_up_if_surplus(session.study, storage, trial, session.run.num_trials)
        if not storage_is_shared(storage):
            return False
        # next_action read the study before this trial existed. Meanwhile the other workers'
        # last trials may have ended and one of them, finding no running trial, begun choosing
        # the winner from the search as it stood: run now, this trial would change that search
        # (and its worker would choose again). Read again now that the trial is in the study,
        # where a worker about to choose sees it running: a worker that began choosing without
        # seeing it had found the budget spent, and so does this read.
        search.sync(session.study)
        if not search.search_done:
            return False
        give_up(session.study, trial, "not needed: other workers' trials spent the search budget")
        return True
