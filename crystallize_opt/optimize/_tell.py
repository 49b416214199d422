"""Finishing trials: telling Optuna a trial's state without the cost of ``Study.tell``, and storing
how a trial of the optimizer ended (its record, constraints and final state), including what
to make of a trial another worker already failed or a sampler that ran out of points."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from .._logging import get_logger
from ..records import TrialRecord
from ..storage._open import RetryingRDBStorage
from ._objective import Objective

_log = get_logger("optimize")

_tell_with_warning: Callable[..., Any] | None
try:  # private to Optuna 5: Study.tell without building its return value
    from optuna.study._tell import _tell_with_warning
except ImportError:  # pragma: no cover - depends on the Optuna version
    _tell_with_warning = None


def tell_trial(
    study: optuna.Study,
    trial: optuna.Trial,
    values: float | Sequence[float] | None = None,
    state: TrialState | None = None,
) -> None:
    """Finish ``trial`` exactly as ``study.tell(trial, values, state=state)`` does, without its return value.

    ``Study.tell`` ends by reading the trial back from the storage and deep-copying it, only to
    return it: six queries on an RDB storage, and a deep copy of the trial's whole record in
    memory; the optimizer never uses it. Raises what ``study.tell`` raises. Falls back to
    ``study.tell`` itself when Optuna's internals have moved.
    """
    if _tell_with_warning is None:  # pragma: no cover - depends on the Optuna version
        study.tell(trial, values, state=state)
        return
    _tell_with_warning(study=study, trial=trial, value_or_values=values, state=state)


#: How :func:`store_trial_end` left a trial: ``"failed"`` (stored as FAIL), ``"finished"``
#: (COMPLETE or PRUNED), ``"stale"`` (another worker had already failed it; nothing stored) or
#: ``"exhausted"`` (finished, and the sampler has proposed its whole space).
TrialEnd = Literal["failed", "finished", "stale", "exhausted"]


def store_trial_end(
    study: optuna.Study,
    storage: BaseStorage,
    trial: optuna.Trial,
    record: TrialRecord,
    values: dict[str, float],
    objective: Objective,
    *,
    failure: str | None,
    pruned: bool,
    grace_period: float,
) -> TrialEnd:
    """Store ``record`` (its :meth:`~TrialRecord.to_json`) with ``trial`` and finish ``trial``:
    FAIL when ``failure`` is given, else PRUNED or COMPLETE with the objective's ``values`` (and
    its constraints).

    ``grace_period`` only goes into the warning about a stale trial.

    Raises:
        Exception: whatever the storage raised, other than for a stale trial or an exhausted
            sampler.
    """
    try:
        if isinstance(storage, RetryingRDBStorage):  # written with the state: one commit
            storage.stage_trial_user_attr(trial._trial_id, TrialRecord.ATTR, record.to_json())
        else:
            record.store(trial)
        if failure is not None:
            _log.warning("trial %d failed: %s", trial.number, failure)
            tell_trial(study, trial, state=TrialState.FAIL)
            return "failed"
        for constraint in objective.constraints:
            value = values.get(constraint, math.nan)
            # An unmeasurable constraint counts as violated.
            trial.set_constraint(constraint, value if math.isfinite(value) else math.inf)
        objective_values = [values[m] for m in objective.metrics]
        if pruned:
            tell_trial(study, trial, state=TrialState.PRUNED)
        else:
            tell_trial(study, trial, objective_values if len(objective_values) > 1 else objective_values[0])
        return "finished"
    except (UpdateFinishedTrialError, ValueError) as exc:
        if not isinstance(exc, UpdateFinishedTrialError) and "Cannot tell a" not in str(exc):
            raise
        _log.warning(
            "trial %d was failed as stale by another worker while it ran (no heartbeat arrived within "
            "grace_period=%g s); its result is discarded",
            trial.number,
            grace_period,
        )
        return "stale"
    except RuntimeError as exc:
        # Grid and brute-force samplers call study.stop() once the space is exhausted, which
        # Optuna only allows inside study.optimize; the trial itself is already stored.
        if "Study.stop" not in str(exc):
            raise
        return "exhausted"
    finally:
        if isinstance(storage, RetryingRDBStorage):
            storage.discard_staged(trial._trial_id)
