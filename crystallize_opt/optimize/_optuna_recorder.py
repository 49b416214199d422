"""The Optuna adapter's trial recorder: each trial's record and end state stored in the study
(heartbeats while it runs on a shared storage), and the baseline's record."""

from __future__ import annotations

import math
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from optuna.storages import BaseStorage

from .._logging import get_logger
from .._optuna_compat import trial_id
from .._signals import deferred_signals
from ..coordination import TrialHeartbeat, storage_is_shared
from ..exceptions import StorageError
from ..records import BaselineRecord, TrialRecord
from ..treatment import Treatment
from ._evaluation import TrialEvaluation
from ._finalize import BaselineReference
from ._noise import NoiseHandling
from ._objective import Objective
from ._optuna_session import StudySession
from ._recorder import TrialRecorder
from ._target import queued_params
from ._tell import store_trial_end

_log = get_logger("optimize")


class StudyRecorder(TrialRecorder):
    """The :class:`TrialRecorder` of an :class:`OptunaOptimizer`: trials asked and not told yet
    are the session's :attr:`~StudySession.pending` trials; each ends COMPLETE, PRUNED or FAIL
    in the study.

    Args:
        session: the optimizer's study session.
        storage: the storage the study is kept in.
        objective: the objective whose values each trial tells.
        noise: the noise handling's settings, or None without noise handling.
        heartbeat_interval: seconds between heartbeats of a running trial (shared storages).
        grace_period: seconds without heartbeat after which a running trial is stale.
    """

    def __init__(
        self,
        session: StudySession,
        storage: BaseStorage,
        objective: Objective,
        *,
        noise: NoiseHandling | None,
        heartbeat_interval: float,
        grace_period: float,
    ):
        self._session = session
        self._storage = storage
        self._objective = objective
        self._noise = noise
        self._heartbeat_interval = heartbeat_interval
        self._grace_period = grace_period

    def running(self, treatment: Treatment) -> AbstractContextManager[object]:
        """Send heartbeats for ``treatment``'s trial while it runs (shared storages only)."""
        session = self._session
        trial = session.pending.get(treatment.name)
        if trial is None or not storage_is_shared(self._storage):
            return nullcontext()
        return TrialHeartbeat(
            self._storage, trial_id(session.study, trial), self._heartbeat_interval, session.worker_tag
        )

    def tell_evaluation(self, evaluation: TrialEvaluation, *, pruned: bool = False) -> None:
        """Store the trial's replicates and finish it: COMPLETE, PRUNED, or FAIL with the reason
        (a replicate raised, or an objective is NaN or infinite)."""
        assert evaluation.treatment is not None
        objective = self._objective
        values = evaluation.objective_values(objective)
        failure = evaluation.failure_reason()
        if failure is None and not pruned:
            bad = [m for m in objective.metrics if not math.isfinite(values[m])]
            if bad:
                failure = (
                    f"objective {', '.join(repr(m) for m in bad)} is {values[bad[0]]} (not a finite number)"
                )
        trial = self._session.pending[evaluation.treatment.name]
        # What ran, also where it differs from Optuna's params (constants, a callable space's output).
        treatment = {"name": evaluation.treatment.name, "params": evaluation.treatment.params}
        record: dict[str, Any] = {**evaluation.to_dict(), "treatment": treatment}
        queue = None
        search = self._session.noise_search
        if search is not None and self._noise is not None:
            # The trial tells its parameters' pooled mean: replicates from every trial of them.
            pooled, queue, facts = search.finish(
                trial.number, trial.params, evaluation, stopped=pruned, failed=failure is not None
            )
            record["noise"] = facts
            if failure is None:
                values = {objective.metrics[0]: pooled}
            # Stopped by racing: the partial mean, or PRUNED, by setting. Stopped inside a
            # learning curve before any replicate of its parameters finished: no value, PRUNED.
            pruned = pruned and (self._noise.stopped_trials == "pruned" or not math.isfinite(pooled))
        if search is None:
            self.finish(evaluation.treatment.name, values, record, failure=failure, pruned=pruned)
            return
        # A Ctrl+C between storing the trial and queueing the intensification would lose the
        # latter (a rerun replays the trial, and queues nothing): held back until both are stored.
        with deferred_signals():
            self.finish(evaluation.treatment.name, values, record, failure=failure, pruned=pruned)
            if queue is not None:  # intensification: the incumbent earns one more replicate
                self._session.study.enqueue_trial(queue)

    def abort(self, treatment: Treatment, reason: str) -> None:
        """Store the trial as FAIL with ``reason`` (it never stays RUNNING)."""
        if treatment.name in self._session.pending:
            self.finish(treatment.name, {}, {}, failure=reason, pruned=False)

    def abort_pending(self, reason: str) -> None:
        """Store every trial asked but not told yet as FAIL with ``reason``, queueing again the
        parameters of those that were queued trials (an intensification, a warm start, a
        retry): a rerun runs them, as the interrupted run would have. A trial the sampler
        proposed is proposed again by the rerun's sampler (see ``TrialSeeding``)."""
        pending = self._session.pending
        for name, trial in list(pending.items()):
            try:
                queued = queued_params(self._session.study, trial)
                self.finish(name, {}, {}, failure=reason, pruned=False)
                if queued is not None:
                    self._session.study.enqueue_trial(queued[0], user_attrs=queued[1])
            except StorageError as exc:  # the storage is gone too: leave it to the stale-trial check
                _log.warning("could not store trial %d as failed: %s", trial.number, exc)
                pending.pop(name, None)
            except Exception:
                _log.exception("could not store trial %d as failed", trial.number)
                pending.pop(name, None)

    def finish(
        self,
        name: str,
        values: dict[str, float],
        record: Mapping[str, Any],
        *,
        failure: str | None,
        pruned: bool,
    ) -> None:
        """Store how the pending trial ``name`` ended (see :func:`store_trial_end`) with a
        :class:`TrialRecord` of ``record``'s fields, the failure and the run's pipeline signature
        and package version; stop tracking it, and count it towards the target when it finished."""
        session = self._session
        trial = session.pending[name]  # removed only once stored, so an interrupt here can still fail it
        run = session.run
        fields = dict(record, failure=failure)
        if run is not None:
            fields.update(pipeline_signature=run.pipeline_signature, package_version=run.package_version)
        stored = TrialRecord.json_of(**fields)
        try:
            end = store_trial_end(
                session.study,
                self._storage,
                trial,
                stored,
                values,
                self._objective,
                failure=failure,
                pruned=pruned,
                grace_period=self._grace_period,
            )
        except Exception:
            session.ended(name, None)
            raise
        # Ctrl+C or SIGTERM while storing (not an Exception) skips this: the trial stays pending,
        # and abort_pending fails it.
        session.ended(name, end, ran=fields.get("replicates") is not None)


class StudyBaseline(BaselineReference):
    """The baseline of an :class:`OptunaOptimizer` made with ``run_baseline=True``: evaluated
    once per study and stored in the study's user attributes.

    Args:
        session: the optimizer's study session.
        objective: the objective whose values are stored with the baseline.
        run_baseline: whether the baseline is evaluated at all.
    """

    def __init__(self, session: StudySession, objective: Objective, *, run_baseline: bool):
        self._session = session
        self._objective = objective
        self._run_baseline = run_baseline

    def wanted(self) -> bool:
        """True when the baseline should be evaluated (asked for, and not stored yet)."""
        return self._run_baseline and BaselineRecord.from_study(self._session.study) is None

    def tell(self, evaluation: TrialEvaluation) -> None:
        """Store the baseline's evaluation with the study."""
        record = BaselineRecord(
            **evaluation.to_dict(), objective=evaluation.objective_values(self._objective)
        )
        record.store(self._session.study)
