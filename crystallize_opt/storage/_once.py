"""Writes done once though retried: a trial created, claimed or failed stores a token unique to
that call in the same transaction, and a retry looks for it before doing the write again."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from .._optuna_compat import RDBInternals

#: System attributes written in the transaction that creates a trial (``CREATED_ATTR``) or claims
#: it from the queue (``CLAIMED_ATTR``): a token unique to that call. When the connection drops
#: at the commit, whether it landed is unknown; the retry looks for its token and takes the trial
#: the first attempt made, instead of making another (or claiming another) and leaving the first
#: RUNNING with no worker: counted as running until the stale-trial check fails it, it made a
#: worker give up its last trial as "not needed" and end the study one trial short.
CREATED_ATTR = "crystallize:created"
CLAIMED_ATTR = "crystallize:claimed"
#: System attribute written in the transaction that fails a RUNNING trial whose worker died
#: (:meth:`~._rdb.RetryingRDBStorage.fail_running_trial`): a token unique to that call. The
#: process whose FAIL landed queues the trial's parameters again; without the token, its retry
#: after a lost answer found the trial failed, took it for another process's doing, and nobody
#: queued them. A system attribute, so that the user attributes (optuna-dashboard's) show none.
FAILED_ATTR = "crystallize:failed"
_TOKENS = (CREATED_ATTR, CLAIMED_ATTR, FAILED_ATTR)


def without_tokens(template: FrozenTrial | None) -> FrozenTrial | None:
    """``template`` (a trial to copy, as ``add_trial`` passes) without the tokens of the trial it
    was copied from: the copy gets a token of its own."""
    if template is None or not template.system_attrs.keys() & set(_TOKENS):
        return template
    template = copy.copy(template)
    template.system_attrs = {k: v for k, v in template.system_attrs.items() if k not in _TOKENS}
    return template


def created_by(rdb: RDBInternals, session: Any, study_id: int, token: str) -> Any | None:
    """The trial model of the study whose :data:`CREATED_ATTR` is ``token`` (JSON), or None."""
    models = rdb.models
    attr = models.TrialSystemAttributeModel
    return (
        session.query(models.TrialModel)
        .join(attr, attr.trial_id == models.TrialModel.trial_id)
        .filter(models.TrialModel.study_id == study_id, attr.key == CREATED_ATTR, attr.value_json == token)
        .one_or_none()
    )


def frozen_trial(trial: Any, template: FrozenTrial | None) -> FrozenTrial:
    """The :class:`FrozenTrial` Optuna's create returns for the new trial model ``trial``: a
    copy of ``template`` (when given) with the new trial's number, start and id."""
    copied = copy.deepcopy(template)
    return FrozenTrial(
        number=trial.number,
        state=TrialState(trial.state) if copied is None else copied.state,
        value=None,
        values=None if copied is None else copied.values,
        datetime_start=trial.datetime_start,
        datetime_complete=None if copied is None else copied.datetime_complete,
        params={} if copied is None else copied.params,
        distributions={} if copied is None else copied.distributions,
        user_attrs={} if copied is None else copied.user_attrs,
        system_attrs={} if copied is None else copied.system_attrs,
        intermediate_values={} if copied is None else copied.intermediate_values,
        trial_id=trial.trial_id,
    )


def holds(session: Any, trial_id: int, attrs: Mapping[str, str], model: Any) -> bool:
    """Whether the trial's attributes (rows of ``model``) hold ``attrs`` (key: stored JSON), all."""
    rows = (
        session.query(model.key, model.value_json)
        .filter(model.trial_id == trial_id, model.key.in_(list(attrs)))
        .all()
    )
    held = {key: json.loads(value) for key, value in rows}
    return held == {key: json.loads(value) for key, value in attrs.items()}
