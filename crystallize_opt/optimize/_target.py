"""The study's target of finished trials: when a loop asks, waits or stops, alone or sharing
the study with other workers."""

from __future__ import annotations

import time
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from .._optuna_compat import study_storage, trial_id, trial_is_enqueued
from ..coordination import fail_stale_trials, storage_is_shared
from ..records import TrialRecord
from ..storage import count_states
from ._tell import tell_trial

FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
#: Within this many trials of the target, shared-study counts are read before every trial.
NEAR_TARGET = 8


def count_finished(study: optuna.Study, storage: BaseStorage) -> int:
    """Complete or pruned trials of ``study`` (kept in ``storage``)."""
    counts = count_states(study, storage)
    return sum(counts.get(state, 0) for state in FINISHED_STATES)


class TrialTarget:
    """Counts a study's finished trials against its target for one optimization call.

    Alone on its storage, the loop counts the finished trials once and then its own. On a
    shared storage (several processes) it reads the counts at most once per ``poll_interval``
    while the target is far, before every trial within :data:`NEAR_TARGET` of it, and fails
    RUNNING trials whose heartbeat stopped for longer than ``grace_period`` (their parameters
    are queued again, at most ``max_retries`` times).

    Args:
        poll_interval: seconds between reads of a shared study's counts (and stale checks).
        grace_period: seconds without heartbeat after which a RUNNING trial is failed.
        max_retries: how often a stale trial's parameters are queued again.
    """

    def __init__(self, poll_interval: float, grace_period: float, max_retries: int):
        self.poll_interval = poll_interval
        self.grace_period = grace_period
        self.max_retries = max_retries
        self.reset()

    def reset(self) -> None:
        """Forget all counts (a new call, or a new process)."""
        #: Trials this process finished during the call.
        self.finished_here = 0
        self._finished_before: int | None = None
        self._quota = 0
        self._last_read = 0.0
        self._shared_finished = 0
        self._here_at_read = 0

    def trial_finished(self) -> None:
        """Count one more trial finished (complete or pruned) by this process."""
        self.finished_here += 1

    def next_action(
        self, study: optuna.Study, storage: BaseStorage, num_trials: int, rounds_done: int
    ) -> str:
        """``"ask"`` while finished plus running trials fall short of ``num_trials``; ``"wait"``
        while only running trials (of other workers) could still reach it; ``"stop"`` once the
        finished trials do, or once this call has run as many trials as were missing when it
        started (failed trials do not count as finished: run the call again to continue)."""
        if storage_is_shared(storage):
            finished, running = self.shared_counts(study, storage, num_trials, force=rounds_done == 0)
        else:  # nobody else adds trials: count our own
            if self._finished_before is None:
                self._finished_before = count_finished(study, storage)
            finished, running = self._finished_before + self.finished_here, 0
        if rounds_done == 0:
            self._quota = max(0, num_trials - finished)
        if finished >= num_trials or rounds_done >= self._quota:
            return "stop"
        return "ask" if finished + running < num_trials else "wait"

    def _estimate(self) -> int:
        """Finished trials of a shared study: as last read, plus ours since."""
        return self._shared_finished + self.finished_here - self._here_at_read

    def shared_counts(
        self, study: optuna.Study, storage: BaseStorage, num_trials: int, *, force: bool
    ) -> tuple[int, int]:
        """Finished and running trials of a shared study (read fresh when due, see the class)."""
        now = time.monotonic()
        recent = now - self._last_read < self.poll_interval
        if recent and not force and num_trials - self._estimate() > NEAR_TARGET:
            return self._estimate(), 0
        if not recent:
            fail_stale_trials(study, self.grace_period, self.max_retries)
        self._last_read = now
        counts = count_states(study, storage)
        self._remember_read(sum(counts.get(state, 0) for state in FINISHED_STATES))
        return self._shared_finished, counts.get(TrialState.RUNNING, 0)

    def _remember_read(self, finished: int) -> None:
        """The study's finished trials as just read: what :meth:`_estimate` counts on from."""
        self._shared_finished = finished
        self._here_at_read = self.finished_here

    def give_up_if_surplus(
        self, study: optuna.Study, storage: BaseStorage, trial: optuna.Trial, target: int
    ) -> bool:
        """Near the target of a shared study, two workers may ask at the same moment for the
        last missing trial: the one whose trial got the higher number stores it as FAIL ("not
        needed"), re-queueing queued parameters, and gets True."""
        # Fewer lower-numbered trials than the target exist at all: nothing to read. (Not the
        # count estimate: a worker whose last read is older than its poll interval would skip
        # the check while the others finished the study, and run a trial beyond the target.)
        if not storage_is_shared(storage) or trial.number < target:
            return False
        live = study.get_trials(deepcopy=False, states=(*FINISHED_STATES, TrialState.RUNNING))
        # A fresh count: the next next_action sees the study near its target and waits or stops
        # instead of asking again from a stale estimate (and giving up trial after trial).
        self._remember_read(sum(1 for other in live if other.state in FINISHED_STATES))
        if sum(1 for other in live if other.number < trial.number) < target:
            return False
        give_up(study, trial, "not needed: lower-numbered trials reach the study's target")
        return True


def queued_params(study: optuna.Study, trial: optuna.Trial) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The parameters and user attributes (a retry's count) to queue ``trial`` again with, when
    it was a queued trial (a retry, a warm start, an intensification); None for a trial its
    sampler proposed. Read before the trial's end is stored (its record is not copied)."""
    if not trial_is_enqueued(trial):
        return None
    fixed = study_storage(study).get_trial_system_attrs(trial_id(study, trial)).get("fixed_params")
    return (dict(fixed), dict(trial.user_attrs)) if fixed else None


def give_up(study: optuna.Study, trial: optuna.Trial, reason: str) -> None:
    """Store ``trial``, asked but not run, as FAIL with ``reason`` (it ran no execution),
    re-queueing its parameters when it was a queued trial (a retry, a warm start, an
    intensification), so a later run of the study still runs them."""
    queued = queued_params(study, trial)
    if queued is not None:
        study.enqueue_trial(queued[0], user_attrs=queued[1])
    # The record goes with the state, in one write (see tell_trial).
    tell_trial(
        study,
        trial,
        state=TrialState.FAIL,
        user_attrs={TrialRecord.ATTR: TrialRecord(failure=reason).to_json()},
    )
