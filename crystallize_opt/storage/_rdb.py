"""The SQLite and server database storage: Optuna's :class:`~optuna.storages.RDBStorage` that
waits out outages, finishes a trial with its record in one transaction, counts a study's trials
by state with one query and claims a queued trial atomically; creating, claiming, finishing and
failing an abandoned trial happen once even when a retry follows a commit whose answer was lost."""

from __future__ import annotations

import functools
import json
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import optuna
import sqlalchemy
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial, TrialState

from .._optuna_compat import RDBInternals, cached_storage_calls, rdb_internals, study_id
from ._in_steps import fail_running_trial_in_steps, finish_trial_in_steps
from ._once import CLAIMED_ATTR, CREATED_ATTR, FAILED_ATTR, created_by, frozen_trial, holds, without_tokens
from ._outage import OutageWatch, with_connect_timeout

F = TypeVar("F", bound=Callable[..., Any])


def _retrying(method: F) -> F:
    """``method`` of a :class:`RetryingRDBStorage`, run by the storage's :class:`OutageWatch`."""

    @functools.wraps(method)
    def wrapper(self: RetryingRDBStorage, *args: Any, **kwargs: Any) -> Any:
        return self.outage.run(lambda: method(self, *args, **kwargs))

    return wrapper  # type: ignore[return-value]


class RetryingRDBStorage(RDBStorage):
    """An :class:`optuna.storages.RDBStorage` that waits out outages of its database, and that
    writes a finished trial's record, values and state in one transaction (:meth:`finish_trial`).

    Every operation runs through :attr:`outage` (an :class:`OutageWatch`): when the database
    stops answering (a restart, a dropped connection) or SQLite stays locked, the operation is
    retried with backoff for up to ``outage.timeout`` seconds (default
    :data:`DEFAULT_OUTAGE_TIMEOUT`); a full disk or a damaged file raises
    :class:`~crystallize_opt.StorageError` at once. Connecting to a PostgreSQL or MySQL server
    gives up after :data:`CONNECT_TIMEOUT` seconds unless the URL sets ``connect_timeout``.

    An operation that failed mid-transaction was rolled back, so trying it again is safe. One
    whose connection dropped at the commit may have landed: creating a trial, claiming a queued
    one, finishing one and failing an abandoned one (:meth:`fail_running_trial`) check on their
    retry whether the first attempt landed (see :data:`~._once.CREATED_ATTR`), so each happens
    once; other writes store the same value again.
    """

    def __init__(self, url: str, **kwargs: Any) -> None:
        kwargs["engine_kwargs"] = with_connect_timeout(url, kwargs.get("engine_kwargs"))
        super().__init__(url, **kwargs)
        self.outage = OutageWatch(url)

    def _create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> FrozenTrial:
        """Create a trial of the study (RUNNING, or as ``template_trial``) and return it, as
        Optuna's own does (its cache calls this), once: its retry after a commit whose answer was
        lost returns the trial that commit made (see :data:`~._once.CREATED_ATTR`).

        Raises:
            KeyError: if there is no such study.
        """
        rdb = rdb_internals()
        if rdb is None:
            return self.outage.run(lambda: RDBStorage._create_new_trial(self, study_id, template_trial))
        models = rdb.models
        template_trial = without_tokens(template_trial)
        token = json.dumps(uuid.uuid4().hex)

        def create(again: bool) -> FrozenTrial:
            with rdb.session(self.scoped_session) as session:
                made = created_by(rdb, session, study_id, token) if again else None
                if made is not None:
                    return frozen_trial(made, template_trial)
                # Numbering counts the study's trials: locked, two processes never share a number.
                models.StudyModel.find_or_raise_by_id(study_id, session, for_update=True)
                trial = rdb.add_trial(self, session, study_id, template_trial)
                session.add(
                    models.TrialSystemAttributeModel(
                        trial_id=trial.trial_id, key=CREATED_ATTR, value_json=token
                    )
                )
                return frozen_trial(trial, template_trial)

        return self.outage.run_knowing_retries(create)

    def finish_trial(
        self,
        trial_id: int,
        state: TrialState,
        values: Sequence[float] | None,
        user_attrs: Mapping[str, Any],
    ) -> None:
        """Store ``user_attrs`` as the trial's user attributes, then its ``values`` and its
        finished ``state``, in one transaction: a crash never leaves the trial finished without
        them (and a trial costs one commit instead of two: on SQLite a commit costs milliseconds).
        A retry after a commit whose answer was lost finds the trial finished with these
        attributes: it was stored, and nothing is raised.

        Where Optuna's RDB internals moved (:func:`~.._optuna_compat.rdb_internals` is None),
        the attributes are written one by one before the state, as separate commits: a crash
        between them then leaves the trial RUNNING with its attributes, never finished without.

        Raises:
            UpdateFinishedTrialError: if the trial has already finished (nothing is written).
            KeyError: if there is no such trial.
        """
        rdb = rdb_internals()
        if rdb is None:
            finish_trial_in_steps(self, trial_id, state, values, user_attrs)  # each step retried
            return

        def store(again: bool) -> None:
            try:
                self._store_finished(rdb, trial_id, state, values, user_attrs, insert=True, again=again)
            except sqlalchemy.exc.IntegrityError:
                # The trial already had one of these attributes (someone set it before): the plain
                # insert was rolled back; write them the way Optuna does, replacing the old values.
                self._store_finished(rdb, trial_id, state, values, user_attrs, insert=False, again=again)

        self.outage.run_knowing_retries(store)

    @_retrying
    def count_trial_states(self, study_id: int) -> dict[TrialState, int] | None:
        """How many trials of the study are in each state (states without trials are left out),
        or None where Optuna's RDB internals moved (:func:`count_states` then reads the trials).

        One COUNT query, read fresh: reading the trials themselves takes seven queries.
        """
        rdb = rdb_internals()
        if rdb is None:
            return None
        models = rdb.models
        with rdb.session(self.scoped_session) as session:
            rows = (
                session.query(models.TrialModel.state, sqlalchemy.func.count(models.TrialModel.trial_id))
                .filter(models.TrialModel.study_id == study_id)
                .group_by(models.TrialModel.state)
                .all()
            )
        return {TrialState(state): int(count) for state, count in rows}

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        """As Optuna's, waiting out outages; a queued trial is claimed atomically, once
        (:meth:`_claim_waiting_trial`), and a retry that finds the trial already ``state`` with
        these ``values`` (its first attempt's commit landed, the answer was lost) returns True.
        Failing a trial without values is not recognised that way (nothing tells this call's FAIL
        from another process's): its retry raises as Optuna's. :meth:`fail_running_trial` fails
        an abandoned trial once, recognising its own landed commit.

        Raises:
            UpdateFinishedTrialError: if the trial has already finished otherwise.
            KeyError: if there is no such trial.
        """
        if state == TrialState.RUNNING and values is None:
            rdb = rdb_internals()
            if rdb is not None:
                token = json.dumps(uuid.uuid4().hex)
                return self.outage.run_knowing_retries(
                    lambda again: self._claim_waiting_trial(rdb, trial_id, token, again=again)
                )

        def store(again: bool) -> bool:
            if again and values is not None and state.is_finished():
                stored = RDBStorage.get_trial(self, trial_id)
                if stored.state == state and stored.values == [float(v) for v in values]:
                    return True
            return RDBStorage.set_trial_state_values(self, trial_id, state, values)

        return self.outage.run_knowing_retries(store)

    def fail_running_trial(self, trial_id: int, user_attrs: Mapping[str, Any]) -> bool:
        """Store the RUNNING trial as FAIL with ``user_attrs`` (upserted), in one transaction, for
        this call alone: True when this call failed it, False when the trial was not RUNNING (it
        had finished, or another process failed it first; nothing is written then).

        One conditional ``UPDATE ... WHERE state = RUNNING``, atomic on every database, so of
        several processes failing the trial at once one gets True. A token unique to the call is
        stored with it (:data:`~._once.FAILED_ATTR`); a retry after a commit whose answer was
        lost finds it and returns True: the FAIL that landed was this call's.

        Where Optuna's RDB internals moved (:func:`~.._optuna_compat.rdb_internals` is None):
        :func:`fail_running_trial_in_steps`, which does not recognise its own landed FAIL (its
        retry answers False).

        Raises:
            KeyError: if there is no such trial.
        """
        rdb = rdb_internals()
        if rdb is None:
            return fail_running_trial_in_steps(self, trial_id, user_attrs)  # each step retried
        token = json.dumps(uuid.uuid4().hex)
        return self.outage.run_knowing_retries(
            lambda again: self._fail_running(rdb, trial_id, user_attrs, token, again=again)
        )

    def _fail_running(
        self, rdb: RDBInternals, trial_id: int, attrs: Mapping[str, Any], token: str, *, again: bool
    ) -> bool:
        """:meth:`fail_running_trial`'s transaction: ``again`` (a retry): True at once if
        ``token`` (JSON) is stored already."""
        models = rdb.models
        with rdb.session(self.scoped_session) as session:
            if again and holds(session, trial_id, {FAILED_ATTR: token}, models.TrialSystemAttributeModel):
                return True  # the first attempt's commit landed; its answer was lost
            # The state first: its row lock (the write lock on SQLite) makes a second process
            # wait here and then find the trial failed, before it wrote anything.
            if not _move_state(
                rdb, session, trial_id, TrialState.RUNNING, TrialState.FAIL, "datetime_complete"
            ):
                models.TrialModel.find_or_raise_by_id(trial_id, session)  # KeyError if there is none
                return False
            # Optuna's upsert refuses a finished trial (it now is): the attributes are replaced
            # by a delete and a plain insert, in the same transaction.
            for model, keys in (
                (models.TrialUserAttributeModel, list(attrs)),
                (models.TrialSystemAttributeModel, [FAILED_ATTR]),
            ):
                session.query(model).filter(model.trial_id == trial_id, model.key.in_(keys)).delete(
                    synchronize_session=False
                )
            for key, value in attrs.items():
                session.add(
                    models.TrialUserAttributeModel(trial_id=trial_id, key=key, value_json=json.dumps(value))
                )
            session.add(
                models.TrialSystemAttributeModel(trial_id=trial_id, key=FAILED_ATTR, value_json=token)
            )
        return True

    def _claim_waiting_trial(self, rdb: RDBInternals, trial_id: int, token: str, *, again: bool) -> bool:
        """Move a queued trial from WAITING to RUNNING for this process alone: True when it did,
        False when another process took it first (Optuna's ``ask`` then takes the next one).

        Optuna reads the state and then writes it; on SQLite (where ``SELECT ... FOR UPDATE`` is
        a no-op) two processes could both read WAITING and both run the trial. One conditional
        ``UPDATE ... WHERE state = WAITING`` is atomic on every database. ``token`` (JSON) is
        stored with the claim; ``again`` (a retry): True at once if the token is there already.

        Raises:
            UpdateFinishedTrialError: if the trial has already finished (as Optuna's own).
            KeyError: if there is no such trial (as Optuna's own).
        """
        models = rdb.models
        with rdb.session(self.scoped_session) as session:
            if again and holds(session, trial_id, {CLAIMED_ATTR: token}, models.TrialSystemAttributeModel):
                return True
            if _move_state(rdb, session, trial_id, TrialState.WAITING, TrialState.RUNNING, "datetime_start"):
                rdb.set_system_attr(self, session, trial_id, CLAIMED_ATTR, json.loads(token))
                return True
            trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
            current_state: Any = trial.state  # see _store_finished
            self.check_trial_is_updatable(trial_id, current_state)
        return False

    def _store_finished(
        self,
        rdb: RDBInternals,
        trial_id: int,
        state: TrialState,
        values: Sequence[float] | None,
        attrs: Mapping[str, Any],
        *,
        insert: bool,
        again: bool = False,
    ) -> None:
        """Write ``attrs`` as user attributes, ``values`` and ``state`` in one transaction.

        With ``insert`` each attribute is a plain INSERT (it fails on an existing key); Optuna's
        own upsert loads the trial once more per attribute, a query that costs as much as the
        insert itself on SQLite. Without ``insert``, attributes are written with Optuna's upsert.
        ``again`` (a retry): nothing is written if the trial is already ``state`` with ``attrs``.
        """
        models = rdb.models
        with rdb.session(self.scoped_session) as session:
            trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
            # The column is typed ``TrialState`` from Optuna 5.1 and ``Column[Any]`` in 5.0: a cast
            # is redundant on one and needed on the other; an ``Any`` local type-checks on both.
            current_state: Any = trial.state
            if again and current_state == state and attrs:
                stored = {k: json.dumps(v) for k, v in attrs.items()}
                if holds(session, trial_id, stored, models.TrialUserAttributeModel):
                    return  # the first attempt's commit landed; its answer was lost
            self.check_trial_is_updatable(trial_id, current_state)
            for key, value in attrs.items():
                if insert:
                    session.add(
                        models.TrialUserAttributeModel(
                            trial_id=trial_id, key=key, value_json=json.dumps(value)
                        )
                    )
                else:
                    rdb.set_user_attr(self, session, trial_id, key, value)
            if values is not None:
                for objective, value in enumerate(values):
                    rdb.set_value(self, session, trial, objective, value)
            trial.state = state
            if state.is_finished():
                trial.datetime_complete = datetime.now()


def _move_state(
    rdb: RDBInternals, session: Any, trial_id: int, expected: TrialState, new: TrialState, stamp: str
) -> bool:
    """In ``session``: move the trial from ``expected`` to ``new``, stamping its ``stamp``
    column (``datetime_start`` or ``datetime_complete``) with now; True when it was ``expected``.
    One conditional ``UPDATE ... WHERE state = expected``, atomic on every database: of several
    processes moving the trial at once, one gets True (Optuna reads the state, then writes it)."""
    models = rdb.models
    moved = (
        session.query(models.TrialModel)
        .filter(models.TrialModel.trial_id == trial_id, models.TrialModel.state == expected)
        .update({"state": new, stamp: datetime.now()}, synchronize_session=False)
    )
    return bool(moved)


def fail_running_trial(storage: BaseStorage, trial_id: int, user_attrs: Mapping[str, Any]) -> bool:
    """Store the RUNNING trial as FAIL with ``user_attrs``: True when this call failed it, False
    when it was no longer RUNNING (finished, or failed by another process first). On a
    :class:`RetryingRDBStorage` one transaction that recognises its own landed commit on a retry
    (:meth:`RetryingRDBStorage.fail_running_trial`); else :func:`fail_running_trial_in_steps`.

    Raises:
        KeyError: if there is no such trial.
    """
    if isinstance(storage, RetryingRDBStorage):
        return storage.fail_running_trial(trial_id, user_attrs)
    return fail_running_trial_in_steps(storage, trial_id, user_attrs)


def finish_trial(
    storage: BaseStorage,
    trial_id: int,
    state: TrialState,
    values: Sequence[float] | None,
    user_attrs: Mapping[str, Any],
) -> None:
    """Store a finished trial's ``user_attrs``, ``values`` and ``state``: in one transaction on a
    :class:`RetryingRDBStorage`, else with :func:`finish_trial_in_steps`.

    Raises:
        UpdateFinishedTrialError: if the trial has already finished.
    """
    if isinstance(storage, RetryingRDBStorage):
        storage.finish_trial(trial_id, state, values, user_attrs)
    else:
        finish_trial_in_steps(storage, trial_id, state, values, user_attrs)


#: Operations that run through the storage's OutageWatch where they are defined (a retry of
#: these must know it follows a failed attempt of the same call).
RETRIED_WHERE_DEFINED = frozenset(
    {"finish_trial", "count_trial_states", "_create_new_trial", "set_trial_state_values"}
)
# Every public storage operation, plus the private ones that Optuna's cached storage calls directly.
for _name in sorted(
    (
        {n for n in vars(RDBStorage) if not n.startswith("_") and callable(getattr(RDBStorage, n))}
        - {
            "check_trial_is_updatable",
            "upgrade",
            "get_current_version",
            "get_head_version",
            "get_all_versions",
        }
        | set(cached_storage_calls())
    )
    - RETRIED_WHERE_DEFINED
):
    setattr(RetryingRDBStorage, _name, _retrying(getattr(RetryingRDBStorage, _name)))


def count_states(study: optuna.Study, storage: BaseStorage) -> dict[TrialState, int]:
    """Trials of ``study`` (kept in ``storage``) per state (states without trials are left out).

    One COUNT query on a :class:`RetryingRDBStorage`; on any other storage, or where Optuna's
    internals moved, the study's trials read and counted.
    """
    if isinstance(storage, RetryingRDBStorage):
        counted = storage.count_trial_states(study_id(study))
        if counted is not None:
            return counted
    return dict(Counter(trial.state for trial in study.get_trials(deepcopy=False)))
