"""Ending a trial with Optuna's public storage calls, on any storage: what
:class:`~._rdb.RetryingRDBStorage` does in one transaction, written one call after the other
(journal and in-memory storages, and an RDB storage where Optuna's internals moved)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from optuna.exceptions import StorageInternalError, UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import TrialState


def finish_trial_in_steps(
    storage: BaseStorage,
    trial_id: int,
    state: TrialState,
    values: Sequence[float] | None,
    user_attrs: Mapping[str, Any],
) -> None:
    """What :meth:`~._rdb.RetryingRDBStorage.finish_trial` does, on any storage, with public calls: the
    attributes first, then the state (a journal or in-memory storage writes each at once).

    Raises:
        UpdateFinishedTrialError: if the trial has already finished (Optuna's storages check it
            before writing an attribute: nothing is written).
        StorageInternalError: when the database refused to store the state.
    """
    for key, value in user_attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)
    if not storage.set_trial_state_values(trial_id, state, values):
        # Optuna's RDB storage answers False, rather than raising, when the database refused the
        # write (an integrity error): the trial would stay RUNNING without a word.
        raise StorageInternalError(
            f"trial id {trial_id}: the database refused to store its state {state.name}"
        )


def fail_running_trial_in_steps(storage: BaseStorage, trial_id: int, user_attrs: Mapping[str, Any]) -> bool:
    """What :meth:`~._rdb.RetryingRDBStorage.fail_running_trial` does, on any storage, with public calls:
    the attributes first, then the state FAIL. True when this call's state change succeeded,
    False when the trial had finished (another process failed or finished it first; then the
    attributes are not written, or overwritten by this call's when that process changed the
    state after they were written).

    A FAIL of this call is not told from another process's: where a storage call is retried
    after its commit's answer was lost (an RDB storage without Optuna's internals), the retry
    finds the trial finished and this answers False. Journal and in-memory storages answer each
    write they made.

    Raises:
        KeyError: if there is no such trial.
    """
    try:
        for key, value in user_attrs.items():
            storage.set_trial_user_attr(trial_id, key, value)
        return bool(storage.set_trial_state_values(trial_id, TrialState.FAIL))
    except UpdateFinishedTrialError:
        return False
