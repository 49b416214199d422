"""Heartbeats for running trials, and failing (and retrying) the trials whose worker died.

Optuna's own heartbeat only runs inside ``study.optimize`` and not on journal storages; this
one works with the ask/tell loop on every storage: a background thread stamps the running
trial's system attribute :data:`HEARTBEAT_ATTR` with the time, and any worker that finds a
RUNNING trial whose stamp (or start, before the first stamp) is older than the grace period
marks it failed and enqueues its parameters again, up to a number of retries.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import optuna
from optuna.storages import BaseStorage, InMemoryStorage
from optuna.trial import FrozenTrial, TrialState

from .._logging import get_logger

_log = get_logger("optimize")

HEARTBEAT_ATTR = "crystallize:heartbeat"
#: System attribute naming the managed worker (``<run id>:<index>``) that runs a trial.
WORKER_ATTR = "crystallize:worker"
#: User attribute of a retried trial: ``{"of": <number of the stale trial>, "attempt": k}``.
RETRY_ATTR = "crystallize_retry"


def storage_is_shared(storage: BaseStorage) -> bool:
    """True when other processes may use ``storage`` (so heartbeats matter)."""
    return not isinstance(storage, InMemoryStorage)


class TrialHeartbeat:
    """Stamps a running trial every ``interval`` seconds from a daemon thread until stopped."""

    def __init__(self, storage: BaseStorage, trial_id: int, interval: float, worker_tag: str | None = None):
        self._storage = storage
        self._worker_tag = worker_tag
        self._trial_id = trial_id
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crystallize-heartbeat", daemon=True)

    def __enter__(self) -> TrialHeartbeat:
        # No beat now: until the first one, the trial's start time is its sign of life. A managed
        # worker names itself on the trial, so its parent can fail the trial if the worker dies.
        if self._worker_tag is not None:
            try:
                self._storage.set_trial_system_attr(self._trial_id, WORKER_ATTR, self._worker_tag)
            except Exception as exc:
                _log.debug("worker tag of trial id %d not recorded: %s", self._trial_id, exc)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        try:
            self._storage.set_trial_system_attr(self._trial_id, HEARTBEAT_ATTR, time.time())
        except Exception as exc:  # a finished trial, or a storage hiccup: the next beat tries again
            _log.debug("heartbeat of trial id %d not recorded: %s", self._trial_id, exc)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._beat()


def last_sign_of_life(trial: FrozenTrial) -> float:
    """Unix time of the trial's last heartbeat, or of its start when it has none yet."""
    beat = trial.system_attrs.get(HEARTBEAT_ATTR)
    if isinstance(beat, (int, float)):
        return float(beat)
    return trial.datetime_start.timestamp() if trial.datetime_start else time.time()


def fail_stale_trials(
    study: optuna.Study, grace_period: float, max_retries: int, failure_attr: str
) -> list[int]:
    """Fail the RUNNING trials silent for longer than ``grace_period`` seconds; retry their params.

    Only the worker whose state change succeeds enqueues the retry, so several workers running
    this at once retry a trial once. Returns the numbers of the trials it failed.
    """
    now = time.time()
    storage = study._storage
    failed: list[int] = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        silent = now - last_sign_of_life(trial)
        if silent <= grace_period:
            continue
        reason = f"stale: no heartbeat for {silent:.1f} s (grace period {grace_period:g} s); its worker died?"
        try:
            storage.set_trial_user_attr(trial._trial_id, failure_attr, {"failure": reason})
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except Exception as exc:  # another worker failed or finished it first
            _log.debug("trial %d not failed as stale: %s", trial.number, exc)
            continue
        failed.append(trial.number)
        retry: dict[str, Any] = trial.user_attrs.get(RETRY_ATTR) or {}
        attempt = int(retry.get("attempt", 0)) + 1
        if attempt <= max_retries:
            study.enqueue_trial(
                trial.params, user_attrs={RETRY_ATTR: {"of": trial.number, "attempt": attempt}}
            )
            _log.warning(
                "trial %d was stale (%s); its parameters are queued again (attempt %d)",
                trial.number,
                reason,
                attempt,
            )
        else:
            _log.warning(
                "trial %d was stale (%s); not retried (max_retries=%d)", trial.number, reason, max_retries
            )
    return failed


def fail_trials_of_workers(study: optuna.Study, run_id: str, started: float, failure_attr: str) -> list[int]:
    """Fail the RUNNING trials that the managed workers of ``run_id`` left behind (they all exited).

    A trial is theirs when it carries their tag, or when it started after ``started`` (Unix time)
    and carries no tag and no heartbeat yet: a worker stopped between creating a trial and
    naming itself on it. (Workers of other runs and ``crystallize-opt worker`` processes tag
    their trials too, so they are not mistaken for ours.)
    """
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        tag = trial.system_attrs.get(WORKER_ATTR)
        if isinstance(tag, str):
            ours = tag.startswith(f"{run_id}:")
        else:
            begun = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
            ours = begun >= started and HEARTBEAT_ATTR not in trial.system_attrs
        if not ours:
            continue
        try:
            study._storage.set_trial_user_attr(
                trial._trial_id,
                failure_attr,
                {"failure": "interrupted: its worker process ended before storing it"},
            )
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except Exception as exc:  # finished meanwhile
            _log.debug("trial %d not failed: %s", trial.number, exc)
            continue
        failed.append(trial.number)
    return failed
