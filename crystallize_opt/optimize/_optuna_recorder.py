"""The Optuna adapter's trial recorder: each trial's record and end state stored in the study
(heartbeats while it runs on a shared storage), and the baseline's record."""

from __future__ import annotations

import math
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING

from .._logging import get_logger
from .._optuna_compat import trial_id
from ..coordination import TrialHeartbeat, storage_is_shared
from ..exceptions import StorageError
from ..records import BaselineRecord, TrialRecord
from ..treatment import Treatment
from ._evaluation import TrialEvaluation
from ._finalize import BaselineReference
from ._recorder import TrialRecorder
from ._tell import store_trial_end

if TYPE_CHECKING:
    from ._optuna import OptunaOptimizer

_log = get_logger("optimize")


class StudyRecorder(TrialRecorder):
    """The :class:`TrialRecorder` of an :class:`OptunaOptimizer`: trials asked and not told yet
    are its ``_pending`` trials; each ends COMPLETE, PRUNED or FAIL in the study."""

    def __init__(self, optimizer: OptunaOptimizer):
        super().__init__(optimizer)
        self._opt = optimizer

    def running(self, treatment: Treatment) -> AbstractContextManager[object]:
        """Send heartbeats for ``treatment``'s trial while it runs (shared storages only)."""
        opt = self._opt
        trial = opt._pending.get(treatment.name)
        if trial is None or not storage_is_shared(opt.storage):
            return nullcontext()
        return TrialHeartbeat(
            opt.storage, trial_id(opt.study, trial), opt.heartbeat_interval, opt._worker_tag
        )

    def tell_evaluation(self, evaluation: TrialEvaluation, *, pruned: bool = False) -> None:
        """Store the trial's replicates and finish it: COMPLETE, PRUNED, or FAIL with the reason
        (a replicate raised, or an objective is NaN or infinite)."""
        opt = self._opt
        assert evaluation.treatment is not None
        values = evaluation.objective_values(opt.objective)
        failure = evaluation.failure_reason()
        if failure is None and not pruned:
            bad = [m for m in opt.objective.metrics if not math.isfinite(values[m])]
            if bad:
                failure = (
                    f"objective {', '.join(repr(m) for m in bad)} is {values[bad[0]]} (not a finite number)"
                )
        trial = opt._pending[evaluation.treatment.name]
        # What ran, also where it differs from Optuna's params (constants, a callable space's output).
        treatment = {"name": evaluation.treatment.name, "params": evaluation.treatment.params}
        record = TrialRecord(**evaluation.to_dict(), treatment=treatment)
        queue = None
        if opt._noise_search is not None and opt.noise is not None:
            # The trial tells its parameters' pooled mean: replicates from every trial of them.
            pooled, queue, facts = opt._noise_search.finish(
                trial.number, trial.params, evaluation, stopped=pruned, failed=failure is not None
            )
            record = replace(record, noise=facts)
            if failure is None:
                values = {opt.objective.metrics[0]: pooled}
            pruned = pruned and opt.noise.stopped_trials == "pruned"
        self.finish(evaluation.treatment.name, values, record, failure=failure, pruned=pruned)
        if queue is not None:  # intensification: the incumbent earns one more replicate
            opt.study.enqueue_trial(queue)

    def abort(self, treatment: Treatment, reason: str) -> None:
        """Store the trial as FAIL with ``reason`` (it never stays RUNNING)."""
        opt = self._opt
        if treatment.name in opt._pending:
            self.finish(treatment.name, {}, TrialRecord(), failure=reason, pruned=False)

    def abort_pending(self, reason: str) -> None:
        """Store every trial asked but not told yet as FAIL with ``reason``."""
        opt = self._opt
        for name, trial in list(opt._pending.items()):
            try:
                self.finish(name, {}, TrialRecord(), failure=reason, pruned=False)
            except StorageError as exc:  # the storage is gone too: leave it to the stale-trial check
                _log.warning("could not store trial %d as failed: %s", trial.number, exc)
                opt._pending.pop(name, None)
            except Exception:
                _log.exception("could not store trial %d as failed", trial.number)
                opt._pending.pop(name, None)

    def finish(
        self,
        name: str,
        values: dict[str, float],
        record: TrialRecord,
        *,
        failure: str | None,
        pruned: bool,
    ) -> None:
        """Store how the pending trial ``name`` ended (see :func:`store_trial_end`), stop tracking
        it, and count it towards the target when it finished."""
        opt = self._opt
        trial = opt._pending[name]  # removed only once stored, so an interrupt here can still fail it
        if opt._run is not None:
            record = replace(
                record,
                pipeline_signature=opt._run.pipeline_signature,
                package_version=opt._run.package_version,
            )
        if failure is not None:
            record = replace(record, failure=failure)
        try:
            end = store_trial_end(
                opt.study,
                opt.storage,
                trial,
                record,
                values,
                opt.objective,
                failure=failure,
                pruned=pruned,
                grace_period=opt.grace_period,
            )
        except Exception:
            opt._pending.pop(name, None)
            raise
        # Ctrl+C or SIGTERM while storing (not an Exception) skips this: the trial stays pending,
        # and abort_pending fails it.
        opt._pending.pop(name, None)
        if end in ("finished", "exhausted"):
            opt._target.trial_finished()
        if end == "exhausted":
            opt._exhausted = True


class StudyBaseline(BaselineReference):
    """The baseline of an :class:`OptunaOptimizer` made with ``run_baseline=True``: evaluated
    once per study and stored in the study's user attributes."""

    def __init__(self, optimizer: OptunaOptimizer):
        self._opt = optimizer

    def wanted(self) -> bool:
        """True when the baseline should be evaluated (asked for, and not stored yet)."""
        opt = self._opt
        return opt.run_baseline and BaselineRecord.from_study(opt.study) is None

    def tell(self, evaluation: TrialEvaluation) -> None:
        """Store the baseline's evaluation with the study."""
        opt = self._opt
        BaselineRecord(**evaluation.to_dict(), objective=evaluation.objective_values(opt.objective)).store(
            opt.study
        )
