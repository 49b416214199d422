"""Finishing trials: telling Optuna a trial's state, with the trial's record in the same write,
without the cost of ``Study.tell``; and storing how a trial of the optimizer ended (its record,
constraints and final state), including what to make of a trial another worker already failed
or a sampler that ran out of points."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from .._logging import get_logger
from .._optuna_compat import (
    is_finished_trial_error,
    is_stop_outside_optimize,
    study_storage,
    tell_steps,
    trial_id,
)
from ..records import TrialRecord
from ..storage import finish_trial
from ._objective import Objective

_log = get_logger("optimize")


def tell_trial(
    study: optuna.Study,
    trial: optuna.Trial,
    values: float | Sequence[float] | None = None,
    state: TrialState | None = None,
    *,
    storage: BaseStorage | None = None,
    user_attrs: Mapping[str, Any] | None = None,
) -> None:
    """Finish ``trial`` as ``study.tell(trial, values, state=state)`` does, and store
    ``user_attrs`` as its user attributes with its state, without ``Study.tell``'s return value.

    ``state`` is None (COMPLETE with ``values``; FAIL, with a warning, when a value is NaN or
    not a number or their count is not the study's), ``TrialState.PRUNED`` (its last
    intermediate value becomes its value) or ``TrialState.FAIL``. The sampler's ``after_trial``
    runs first, as in ``Study.tell``; then :func:`~crystallize_opt.storage._open.finish_trial`
    writes the attributes, values and state: one transaction on a SQLite or server database, so
    a crash never leaves the trial finished without them. ``storage`` is the study's storage
    (the one Optuna's cache wraps), by default read from the study.

    ``Study.tell`` ends by reading the trial back and deep-copying it, only to return it: six
    queries on an RDB storage; the optimizer never uses it. Where Optuna moved the steps this
    repeats (:func:`~crystallize_opt._optuna_compat.tell_steps`), the attributes are set one by
    one and ``study.tell`` itself finishes the trial.

    Raises:
        ValueError: ``Cannot tell a <STATE> trial.`` when the trial has already finished, and
            for a ``state`` other than these (as ``Study.tell``).
        UpdateFinishedTrialError: when another process finished the trial while it was told.
    """
    attrs = dict(user_attrs or {})
    steps = tell_steps()
    if steps is None:
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        study.tell(trial, values, state=state)
        return
    storage = study_storage(study) if storage is None else storage
    steps.forget_cached_trials(study)  # cached for the trial just run, as Study.tell does
    stored_id = trial_id(study, trial)
    frozen = storage.get_trial(stored_id)
    if frozen.state != TrialState.RUNNING:
        raise ValueError(f"Cannot tell a {frozen.state.name} trial.")
    told = None if values is None else [values] if not isinstance(values, Sequence) else list(values)
    if state == TrialState.PRUNED and told is None:
        last = frozen.last_step
        if last is not None and _infeasible(study, [frozen.intermediate_values[last]]) is None:
            told = [frozen.intermediate_values[last]]
    elif state == TrialState.FAIL and told is None:
        pass
    elif state == TrialState.COMPLETE and told is not None:
        problem = _infeasible(study, told)
        if problem is not None:
            raise ValueError(problem)
    elif state is None:
        problem = "The value None could not be cast to float." if told is None else _infeasible(study, told)
        state = TrialState.COMPLETE if problem is None else TrialState.FAIL
        if problem is not None:
            told = None
            warnings.warn(problem, UserWarning, stacklevel=2)
    else:
        raise ValueError(f"Cannot tell with state {state} and values {values}.")
    told = None if told is None else [float(value) for value in told]
    try:
        study.sampler.after_trial(steps.pruner_study(study, frozen), frozen, state, told)
    finally:
        finish_trial(storage, stored_id, state, told, attrs)


def _infeasible(study: optuna.Study, values: Sequence[Any]) -> str | None:
    """Why ``values`` cannot be ``study``'s objective values (Optuna's own words), or None."""
    errors = []
    for value in values:
        try:
            number = float(value)
        except (ValueError, TypeError):
            errors.append(f"The value {value!r} could not be cast to float")
            continue
        if math.isnan(number):
            errors.append(f"The value {value} is not acceptable")
    if errors:
        return "; ".join(errors)
    if len(study.directions) != len(values):
        return (
            f"The number of the values {len(values)} did not match the number of the objectives "
            f"{len(study.directions)}"
        )
    return None


#: How :func:`store_trial_end` left a trial: ``"failed"`` (stored as FAIL), ``"finished"``
#: (COMPLETE or PRUNED), ``"stale"`` (another worker had already failed it; nothing stored) or
#: ``"exhausted"`` (finished, and the sampler has proposed its whole space).
TrialEnd = Literal["failed", "finished", "stale", "exhausted"]


def store_trial_end(
    study: optuna.Study,
    storage: BaseStorage,
    trial: optuna.Trial,
    record: dict[str, Any],
    values: dict[str, float],
    objective: Objective,
    *,
    failure: str | None,
    pruned: bool,
    grace_period: float,
) -> TrialEnd:
    """Store ``record`` (a :class:`TrialRecord`'s stored form, from ``to_json`` or ``json_of``)
    with ``trial`` and finish ``trial``:
    FAIL when ``failure`` is given, else PRUNED or COMPLETE with the objective's ``values`` (and
    its constraints).

    ``grace_period`` only goes into the warning about a stale trial.

    Raises:
        Exception: whatever the storage raised, other than for a stale trial or an exhausted
            sampler.
    """
    # Written with the state (see tell_trial); the objective's mean, SEM and n also flat, for tables.
    attrs = TrialRecord.user_attrs_of(record, tuple(objective.metrics))
    try:
        if failure is not None:
            _log.warning("trial %d failed: %s", trial.number, failure)
            tell_trial(study, trial, state=TrialState.FAIL, storage=storage, user_attrs=attrs)
            return "failed"
        for constraint in objective.constraints:
            value = values.get(constraint, math.nan)
            # An unmeasurable constraint counts as violated.
            trial.set_constraint(constraint, value if math.isfinite(value) else math.inf)
        objective_values = [values[m] for m in objective.metrics]
        if pruned:
            tell_trial(study, trial, state=TrialState.PRUNED, storage=storage, user_attrs=attrs)
        else:
            told = objective_values if len(objective_values) > 1 else objective_values[0]
            tell_trial(study, trial, told, storage=storage, user_attrs=attrs)
        return "finished"
    except (UpdateFinishedTrialError, ValueError) as exc:
        if not is_finished_trial_error(exc):
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
        if not is_stop_outside_optimize(exc):
            raise
        return "exhausted"
