"""Failing (and retrying) the trials whose worker died.

Any worker that finds a RUNNING trial whose heartbeat (:mod:`._heartbeat`; its start, before
the first beat) is older than the grace period marks it failed and queues its parameters again,
up to a number of retries. A trial whose owner (:data:`._owner.OWNER_ATTR`, written as the trial
starts) is a process of this host that certainly no longer exists is failed and retried the same
way at once, without waiting for the grace period. A retry promised in a failed trial's record
and never queued (its process stopped in between) is queued by a later check.
"""

from __future__ import annotations

import threading
import weakref

import optuna
from optuna.trial import FrozenTrial, TrialState

from .._logging import get_logger
from .._optuna_compat import study_backend
from .._optuna_compat import trial_id as stored_trial_id
from ..records import RetryRecord, TrialRecord
from ..storage import fail_running_trial, last_recovery
from ._clock import SYSTEM_CLOCK, Clock, SystemClock
from ._heartbeat import HEARTBEAT_ATTR
from ._owner import OWNER_ATTR, describe_owner, owner_is_dead

_log = get_logger("optimize")

#: System attribute that named the managed worker (``<run id>:<index>``) running a trial in
#: studies written before the owner record held it (read, never written now).
WORKER_ATTR = "crystallize:worker"
#: Seconds a failure's promised retry may be missing before :func:`queue_lost_retries` queues it,
#: at least (the grace period when longer): a live failing process queues it within
#: milliseconds, a storage retrying through a short outage within seconds.
LOST_RETRY_AFTER = 60.0


def last_sign_of_life(trial: FrozenTrial, now: float) -> float:
    """Unix time of the trial's last heartbeat, or of its start when it has none yet (``now``
    when it has neither)."""
    beat = trial.system_attrs.get(HEARTBEAT_ATTR)
    if isinstance(beat, (int, float)):
        return float(beat)
    return trial.datetime_start.timestamp() if trial.datetime_start else now


def why_stale(trial: FrozenTrial, now: float, grace_period: float, recovered: float = 0.0) -> str | None:
    """Why the RUNNING ``trial`` counts as abandoned at Unix time ``now``: its owner process is
    certainly gone (see :func:`._owner.owner_is_dead`), or it has been silent for longer than
    ``grace_period`` seconds. None while it may still be running.

    Silence counts from ``recovered`` at the latest: the Unix time this process's last database
    outage ended (see :func:`._outage.last_recovery`), during which no worker could store a
    heartbeat."""
    owner = trial.system_attrs.get(OWNER_ATTR)
    if owner_is_dead(owner):
        return f"stale: its worker ({describe_owner(owner)}) no longer exists"
    silent = now - max(last_sign_of_life(trial, now), recovered)
    if silent > grace_period:
        return f"stale: no heartbeat for {silent:.1f} s (grace period {grace_period:g} s); its worker died?"
    return None


def fail_and_retry(study: optuna.Study, trial: FrozenTrial, reason: str, max_retries: int) -> bool:
    """Store the RUNNING ``trial`` as FAIL with ``reason`` (its :class:`TrialRecord`) and queue
    its parameters again (marked with a :class:`RetryRecord`), unless they were retried
    ``max_retries`` times already.

    Only the process whose state change succeeds queues the retry, so several processes doing
    this at once retry a trial once. Returns False (and queues nothing) when the trial had
    finished or was failed by another process first, or when storing failed.

    On a SQLite or server database the record and the state are one transaction, and a retry
    after a database outage recognises a FAIL of this call that landed before its answer was lost
    (:func:`~crystallize_opt.storage.fail_running_trial`), so the parameters are still queued.
    On journal (file or Redis) storages the record and the state are written one after the other.
    The record names the retry it promises (:attr:`TrialRecord.retry`): where this process
    stops between the FAIL and the queueing, a later :func:`fail_stale_trials` queues it.
    """
    retry = RetryRecord.from_trial(trial)
    attempt = (retry.attempt if retry is not None and retry.attempt is not None else 0) + 1
    promised = attempt if attempt <= max_retries else None
    try:
        stored_id = stored_trial_id(study, trial)
        record = {TrialRecord.ATTR: TrialRecord(failure=reason, retry=promised).to_json()}
        failed = fail_running_trial(study_backend(study), stored_id, record)
    except Exception as exc:  # the storage gave up (an outage longer than its timeout)
        _log.debug("trial %d not failed (%s): %s", trial.number, reason, exc)
        return False
    if not failed:
        _log.debug(
            "trial %d not failed (%s): another worker failed or finished it first", trial.number, reason
        )
        return False
    if promised is not None:
        _queue_retry(study, trial, promised)
        _log.warning(
            "trial %d failed (%s); its parameters are queued again (attempt %d)",
            trial.number,
            reason,
            promised,
        )
    else:
        _log.warning("trial %d failed (%s); not retried (max_retries=%d)", trial.number, reason, max_retries)
    return True


def _queue_retry(study: optuna.Study, failed: FrozenTrial, attempt: int) -> None:
    """Queue the parameters of the ``failed`` trial again as retry ``attempt``."""
    study.enqueue_trial(failed.params, user_attrs=RetryRecord(of=failed.number, attempt=attempt).user_attrs())
    _settled_failures(study).add(failed.number)


#: Per study object: numbers of FAIL trials whose promised retry this process found queued (or
#: that promised none), so :func:`queue_lost_retries` reads each failed trial's record once.
_SETTLED: weakref.WeakKeyDictionary[optuna.Study, set[int]] = weakref.WeakKeyDictionary()
_SETTLED_LOCK = threading.Lock()


def _settled_failures(study: optuna.Study) -> set[int]:
    with _SETTLED_LOCK:
        return _SETTLED.setdefault(study, set())


def queue_lost_retries(study: optuna.Study, now: float, grace_period: float) -> list[int]:
    """Queue the retries that :func:`fail_and_retry` promised (:attr:`TrialRecord.retry`) and
    never queued: its process stopped between failing a trial and queueing its parameters.

    A promise counts as lost once the trial has been FAIL for longer than ``grace_period``
    seconds (at least :data:`LOST_RETRY_AFTER`) at Unix time ``now`` with no trial of the study
    marked as its retry (:class:`RetryRecord`); the failing process queues it within
    milliseconds when it lives.
    Two processes finding the same lost retry at the same moment may both queue it (the
    storages offer no atomic check-and-insert); that needs a crash and a race at once.
    Returns the numbers of the failed trials whose retry this call queued.

    Raises:
        RecordError: if a failed trial's record or a retry mark is malformed.
    """
    settled = _settled_failures(study)
    pending: dict[int, tuple[FrozenTrial, int]] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if trial.number in settled:
            continue
        record = TrialRecord.from_trial(trial)
        if record is None or record.retry is None:
            settled.add(trial.number)
            continue
        pending[trial.number] = (trial, record.retry)
    if not pending:
        return []
    for trial in study.get_trials(deepcopy=False):
        mark = RetryRecord.from_trial(trial)
        if mark is not None and mark.of in pending:
            settled.add(mark.of)
            del pending[mark.of]
    queued = []
    lost_after = max(grace_period, LOST_RETRY_AFTER)
    for number, (trial, attempt) in sorted(pending.items()):
        ended = trial.datetime_complete.timestamp() if trial.datetime_complete else now
        if now - ended <= lost_after:
            continue  # its process may be queueing it right now
        _queue_retry(study, trial, attempt)
        _log.warning(
            "trial %d failed without its retry being queued (the process failing it stopped first); "
            "its parameters are queued now (attempt %d)",
            number,
            attempt,
        )
        queued.append(number)
    return queued


def fail_stale_trials(
    study: optuna.Study,
    grace_period: float,
    max_retries: int,
    clock: Clock = SYSTEM_CLOCK,
) -> list[int]:
    """Fail the RUNNING trials that :func:`why_stale` finds abandoned at ``clock``'s time; retry
    their params (see :func:`fail_and_retry`), and queue the retries that a process failing a
    trial promised and did not queue (:func:`queue_lost_retries`). Returns the numbers of the
    trials it failed.

    The end of this process's last database outage (real Unix time) only counts on the real
    clock; a test's clock decides alone."""
    now = clock.now()
    recovered = last_recovery() if isinstance(clock, SystemClock) else 0.0
    failed: list[int] = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        reason = why_stale(trial, now, grace_period, recovered)
        if reason is not None and fail_and_retry(study, trial, reason, max_retries):
            failed.append(trial.number)
    queue_lost_retries(study, now, grace_period)
    return failed


def worker_of(trial: FrozenTrial) -> str | None:
    """The tag (``<run id>:<index>``) of the managed worker that ran ``trial``, None for a trial
    not run by one: read from its owner record, or from :data:`WORKER_ATTR` in older studies."""
    owner = trial.system_attrs.get(OWNER_ATTR)
    tag = owner.get("worker") if isinstance(owner, dict) else trial.system_attrs.get(WORKER_ATTR)
    return tag if isinstance(tag, str) else None


def fail_trials_of_workers(study: optuna.Study, run_id: str, started: float, max_retries: int) -> list[int]:
    """Fail the RUNNING trials that the managed workers of ``run_id`` left behind (they all
    exited), and queue their parameters again like a stale trial's (:func:`fail_and_retry`).

    A trial is theirs when its owner record (or, in older studies, :data:`WORKER_ATTR`) carries
    their tag, or when it started after ``started`` (Unix time) and carries no owner, no tag and
    no heartbeat yet: a worker stopped between creating a trial and naming itself on it.
    (Workers of other runs and ``crystallize-opt worker`` processes name themselves too, so they
    are not mistaken for ours.) Returns the numbers of the trials it failed.
    """
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        tag = worker_of(trial)
        if tag is not None:
            ours = tag.startswith(f"{run_id}:")
        else:
            begun = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
            unnamed = OWNER_ATTR not in trial.system_attrs and HEARTBEAT_ATTR not in trial.system_attrs
            ours = begun >= started and unnamed
        reason = "interrupted: its worker process ended before storing it"
        if ours and fail_and_retry(study, trial, reason, max_retries):
            failed.append(trial.number)
    return failed
