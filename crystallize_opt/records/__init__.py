"""The records crystallize-opt stores in an Optuna study, typed and versioned.

Every reader and writer of crystallize-opt's user attributes goes through this module: a trial's
record (:class:`TrialRecord`, user attribute ``"crystallize"`` of the trial), the retry mark of a
re-queued trial (:class:`RetryRecord`), and with the study its settings (:class:`StudySettings`),
the baseline's evaluation (:class:`BaselineRecord`) and a noise-aware run's winner selection
(:class:`WinnerSelection`), how learning curves map to Optuna steps (:class:`CurveLayout`) and
the samplers that took over after the first (:class:`SamplerHistory`).
Each record's ``to_json()`` is what is stored (JSON-compatible, with
``"schema_version"``); ``from_json`` reads it back. Studies written before records had a version
store the same layout without that key: it reads as version 1.

A stored value that does not have the expected layout (a hand-edited or foreign study) raises
:class:`RecordError`, naming the attribute, the key and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

from ._base import SCHEMA_KEY, SCHEMA_VERSION, Record, RecordError, StudyRecord
from ._curves import CurveLayout
from ._samplers import SamplerHistory
from ._selection import WinnerSelection

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

__all__ = [
    "SCHEMA_KEY",
    "SCHEMA_VERSION",
    "BaselineRecord",
    "CurveLayout",
    "RecordError",
    "RetryRecord",
    "SamplerHistory",
    "StudySettings",
    "TrialRecord",
    "WinnerSelection",
    "executions_run",
]


def executions_run(replicates: Sequence[int], pruned: Mapping[str, Any] | None) -> float:
    """Pipeline executions a trial ran, counted by what they cost: each finished replicate is
    one, and the replicate a pruner stopped in the middle of its learning curve
    (``pruned["replicate"]`` not among them) is the share of its training it ran
    (``pruned["share"]``, :meth:`CurveLayout.share`, to 0.001; a whole one when the record has
    no share: the study did not know its steps per replicate yet, or an earlier version stored
    it). A trial stopped between replicates ran only its finished ones. An int when the count is
    whole."""
    if pruned is None or pruned.get("replicate") in set(replicates):
        return len(replicates)
    share = pruned.get("share")
    if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 < share <= 1:
        return len(replicates) + 1
    return (1000 * len(replicates) + round(1000 * share)) / 1000


@dataclass(frozen=True)
class _EvaluationRecord(Record):
    """What a treatment's replicates produced (the layout of ``TrialEvaluation.to_dict()``)."""

    KINDS: ClassVar[dict[str, str]] = {
        "replicates": "int_list",
        "seeds": "int_list",
        "values": "values",
        "stats": "stats",
        "failures": "str_list",
        "duration": "number",
        "curves": "curves",
    }

    #: Replicate indices that ran, in order (their seeds follow from them).
    replicates: list[int] | None = None
    #: The seed of each replicate, in the order of ``replicates``.
    seeds: list[int] | None = None
    #: Per metric, each replicate's value (None where that replicate did not record it).
    values: dict[str, list[float | None]] | None = None
    #: Per metric, ``{"mean", "std", "sem", "n"}`` over the replicates that recorded it.
    stats: dict[str, dict[str, float]] | None = None
    #: Each failed replicate's error, one line each.
    failures: list[str] | None = None
    #: Seconds the replicates took.
    duration: float | None = None
    #: Each replicate's learning curve (``ctx.report``), replicate index (as a string) ->
    #: ``[[step, value], ...]``; a replicate a pruner stopped is here too (not in ``replicates``).
    curves: dict[str, list[list[Any]]] | None = None

    def curve_of(self, replicate: int) -> list[tuple[int, float]]:
        """Replicate ``replicate``'s learning curve, ``[(step, value), ...]`` ([] when none;
        a value stored as null, not finite, reads as NaN)."""
        stored = (self.curves or {}).get(str(replicate)) or []
        return [(int(step), math.nan if value is None else float(value)) for step, value in stored]

    def metric_stats(self, metric: str) -> dict[str, Any]:
        """``{"mean", "std", "sem", "n"}`` of ``metric`` as stored ({} when not stored)."""
        return dict((self.stats or {}).get(metric) or {})


@dataclass(frozen=True)
class TrialRecord(_EvaluationRecord):
    """Everything crystallize-opt stores with one trial (one storage write, with its state).

    A trial that ran has the evaluation fields; one given up before running (or failed as
    stale) has only ``failure``.
    """

    ATTR: ClassVar[str] = "crystallize"
    OWNER: ClassVar[str] = "trial"
    KINDS: ClassVar[dict[str, str]] = {
        **_EvaluationRecord.KINDS,
        "treatment": "dict",
        "failure": "str",
        "noise": "dict",
        "pipeline_signature": "str",
        "package_version": "str",
        "pruned": "dict",
        "retry": "int",
    }

    #: ``{"name", "params"}``: the treatment that ran, its parameters including constants and a
    #: callable space's output. Records of earlier versions hold only parameters (a plain dict).
    treatment: dict[str, Any] | None = None
    #: Why the trial failed (the first failed replicate, a non-finite objective, a stale worker).
    failure: str | None = None
    #: The racing facts of a noise-aware search (see ``NoisePolicy.record``), read on resume.
    noise: dict[str, Any] | None = None
    #: Fingerprint of the pipeline that ran the trial.
    pipeline_signature: str | None = None
    #: crystallize-opt's version that ran the trial.
    package_version: str | None = None
    #: Where and why a pruned trial stopped: ``replicate``, ``step`` (the step's own numbering),
    #: ``optuna_step``, ``value`` (what the pruner saw), ``pruner``, ``mode``, ``reason`` (one
    #: line), ``compared`` (the other trials' values at that step) and, when the trial stopped
    #: inside a replicate whose steps per replicate the study knew, ``share`` (the share of its
    #: training it ran, :meth:`CurveLayout.share`). None when it was not pruned.
    pruned: dict[str, Any] | None = None
    #: The retry attempt (1, 2, ...) queued for the parameters of a trial failed as stale or
    #: interrupted, written with the FAIL before the retry is queued: a stale-trial check
    #: queues it when the failing process stopped in between. None when not retried.
    retry: int | None = None

    @classmethod
    def from_trial(cls, trial: FrozenTrial) -> TrialRecord | None:
        """The trial's record; None when it has none (a trial not made by crystallize-opt, or
        one still running).

        Raises:
            RecordError: as :meth:`from_json`.
        """
        stored = trial.user_attrs.get(cls.ATTR)
        return (
            None
            if stored is None
            else cls.from_json(stored, f"trial {trial.number}'s user attribute {cls.ATTR!r}")
        )

    def store(self, trial: optuna.Trial) -> None:
        """Write the record into the running ``trial``."""
        trial.set_user_attr(self.ATTR, self.to_json())

    @classmethod
    def user_attrs_of(cls, record: dict[str, Any], metrics: list[str] | tuple[str, ...]) -> dict[str, Any]:
        """The user attributes a finished trial stores: the record (``record``, its stored form)
        under :attr:`ATTR`, and beside it, for tables that show flat attributes (optuna-dashboard,
        ``study.trials_dataframe()``), each objective metric's ``"<metric> mean"``, ``"<metric> sem"``
        and ``"<metric> n"`` over the replicates (finite ones only). The flat ones are copies for
        display; the record is what crystallize-opt reads back.

        Beyond crystallize-ml's reference API.
        """
        attrs: dict[str, Any] = {cls.ATTR: record}
        stats = record.get("stats")
        if not isinstance(stats, dict):
            return attrs
        for metric in metrics:
            entry = stats.get(metric)
            if not isinstance(entry, dict):
                continue
            for key in ("mean", "sem", "n"):
                value = entry.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    attrs[f"{metric} {key}"] = int(value) if key == "n" else float(value)
        return attrs

    @classmethod
    def params_of(cls, trial: FrozenTrial) -> dict[str, Any]:
        """The parameters ``trial`` evaluated (constants and a callable space's output included):
        its record's :attr:`treatment_params`, else (a record of an earlier version that did not
        store them, or no record) Optuna's ``trial.params``.

        Raises:
            RecordError: as :meth:`from_json`.
        """
        record = cls.from_trial(trial)
        params = None if record is None else record.treatment_params
        return dict(trial.params) if params is None else params

    @property
    def executions(self) -> float:
        """Pipeline executions the trial ran, by cost (:func:`executions_run` of its replicates
        and :attr:`pruned`); 0 for a trial given up before running."""
        return executions_run(self.replicates or [], self.pruned)

    @property
    def treatment_params(self) -> dict[str, Any] | None:
        """The parameters the trial evaluated, or None when the record does not say (then
        Optuna's ``trial.params`` are what ran)."""
        stored = self.treatment
        if stored is not None and set(stored) == {"name", "params"} and isinstance(stored["params"], dict):
            return dict(stored["params"])
        return dict(stored) if stored else None  # an earlier version's record: only parameters


@dataclass(frozen=True)
class BaselineRecord(_EvaluationRecord, StudyRecord):
    """The baseline's evaluation (the experiment without a treatment), stored with the study
    when the optimizer runs it (``run_baseline=True``)."""

    ATTR: ClassVar[str] = "crystallize_baseline"
    KINDS: ClassVar[dict[str, str]] = {**_EvaluationRecord.KINDS, "objective": "numbers"}

    #: Each objective and constraint metric aggregated with the objective's aggregate.
    objective: dict[str, float] | None = None


#: Keys of :class:`StudySettings` added after the schema version: stored only when set.
_ADDED_SETTINGS = frozenset({"curve_pruning", "seed_scheme"})


@dataclass(frozen=True)
class StudySettings(StudyRecord):
    """The settings a study was made with, checked when it is continued. Studies of earlier
    releases may lack any key (then None)."""

    ATTR: ClassVar[str] = "crystallize"
    KINDS: ClassVar[dict[str, str]] = {
        "experiment": "str",
        "objective": "dict",
        "search_space": "dict",
        "sampler": "dict",
        "pruner": "dict",
        "replicates_per_trial": "int",
        "master_seed": "int",
        "common_random_numbers": "bool",
        "noise": "dict",
        "pipeline_signature": "str",
        "package_version": "str",
        "curve_pruning": "str",
        "seed_scheme": "str",
    }

    #: The experiment's name.
    experiment: str | None = None
    #: ``Objective.to_dict()``: metrics, directions, aggregate, constraints.
    objective: dict[str, Any] | None = None
    #: ``SearchSpace.describe()``: each parameter's distribution or constant.
    search_space: dict[str, Any] | None = None
    #: ``{"class", "settings"}`` of the sampler (None when not given).
    sampler: dict[str, Any] | None = None
    #: ``{"class", "settings"}`` of the pruner (None without one).
    pruner: dict[str, Any] | None = None
    #: Replicates each trial runs.
    replicates_per_trial: int | None = None
    #: The experiment's master seed.
    master_seed: int | None = None
    #: Whether every trial runs on the same seeds.
    common_random_numbers: bool | None = None
    #: The noise handling's settings, None without noise handling.
    noise: dict[str, Any] | None = None
    #: Fingerprint of the pipeline.
    pipeline_signature: str | None = None
    #: crystallize-opt's version that made the study.
    package_version: str | None = None
    #: How learning curves reach the pruner (``"paired"``, ``"pooled"``, ``"off"``); None
    #: without curve pruning (no pruner, or noise handling).
    curve_pruning: str | None = None
    #: How the trials' replicate seeds follow from the master seed: ``"crystallize-ml"``
    #: (``(master + r*31337) mod 2**32``) or ``"seedsequence"`` (``derive_seed(master, r)``).
    #: None in studies of releases before it was stored: those used ``"seedsequence"``.
    seed_scheme: str | None = None

    def to_json(self) -> dict[str, Any]:
        """As the other records', but every key is stored, None ones included (as releases
        before the schema version did), except keys added since, stored only when set."""
        stored = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) is not None or f.name not in _ADDED_SETTINGS
        }
        return {**stored, SCHEMA_KEY: SCHEMA_VERSION}

    @property
    def metrics(self) -> list[str] | None:
        """The objective's metric names, or None when not stored."""
        stored = (self.objective or {}).get("metrics")
        return [str(m) for m in stored] if isinstance(stored, list) else None


@dataclass(frozen=True)
class RetryRecord(Record):
    """Marks a queued trial that retries the parameters of a failed (stale) one."""

    ATTR: ClassVar[str] = "crystallize_retry"
    OWNER: ClassVar[str] = "trial"
    KINDS: ClassVar[dict[str, str]] = {"of": "int", "attempt": "int"}

    #: Number of the failed trial whose parameters this trial runs again.
    of: int | None = None
    #: 1 for the first retry, 2 for the retry of a retry, ...
    attempt: int | None = None

    @classmethod
    def from_trial(cls, trial: FrozenTrial) -> RetryRecord | None:
        """The trial's retry mark, or None. Raises :class:`RecordError` as :meth:`from_json`."""
        stored = trial.user_attrs.get(cls.ATTR)
        return (
            None
            if stored is None
            else cls.from_json(stored, f"trial {trial.number}'s user attribute {cls.ATTR!r}")
        )

    def user_attrs(self) -> dict[str, Any]:
        """The user attributes of the queued trial (for ``study.enqueue_trial(user_attrs=...)``)."""
        return {self.ATTR: self.to_json()}
