"""The records crystallize-opt stores in an Optuna study, typed and versioned.

Every reader and writer of crystallize-opt's user attributes goes through this module: a trial's
record (:class:`TrialRecord`, user attribute ``"crystallize"`` of the trial), the retry mark of a
re-queued trial (:class:`RetryRecord`), and with the study its settings (:class:`StudySettings`),
the baseline's evaluation (:class:`BaselineRecord`) and a noise-aware run's winner selection
(:class:`WinnerSelection`). Each record's ``to_json()`` is what is stored (JSON-compatible, with
``"schema_version"``); ``from_json`` reads it back. Studies written before records had a version
store the same layout without that key: it reads as version 1.

A stored value that does not have the expected layout (a hand-edited or foreign study) raises
:class:`RecordError`, naming the attribute, the key and what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .exceptions import CrystallizeError
from .treatment import Treatment
from .verifiers import ci_text

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

#: Key of the schema version in every stored record.
SCHEMA_KEY = "schema_version"
#: The version this release writes and the newest it reads.
SCHEMA_VERSION = 1

_R = TypeVar("_R", bound="_Record")


class RecordError(CrystallizeError, ValueError):
    """A stored crystallize-opt record does not have the expected layout, or was written by a
    newer release (its schema version is higher than :data:`SCHEMA_VERSION`)."""


def _fail(where: str, key: str, value: object, expected: str) -> RecordError:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return RecordError(f"{where}: {key!r} is {shown}, expected {expected}")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_version(where: str, data: Mapping[str, Any]) -> None:
    version = data.get(SCHEMA_KEY, 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _fail(where, SCHEMA_KEY, version, "a positive integer")
    if version > SCHEMA_VERSION:
        raise RecordError(
            f"{where}: written by a newer crystallize-opt (schema_version {version}; this release reads up to "
            f"{SCHEMA_VERSION}); upgrade crystallize-opt to read it"
        )


#: What a field may hold when present (None is always allowed): check and expectation.
_CHECKS: dict[str, tuple[Any, str]] = {
    "int_list": (lambda v: isinstance(v, list) and all(isinstance(x, int) for x in v), "a list of integers"),
    "str_list": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of strings"),
    "number": (_is_number, "a number"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "dict": (lambda v: isinstance(v, dict), "a JSON object"),
    "values": (
        lambda v: (
            isinstance(v, dict)
            and all(isinstance(c, list) and all(x is None or _is_number(x) for x in c) for c in v.values())
        ),
        "an object of metric -> list of numbers or null",
    ),
    "stats": (
        lambda v: isinstance(v, dict) and all(isinstance(s, dict) for s in v.values()),
        'an object of metric -> {"mean", "std", "sem", "n"}',
    ),
    "numbers": (
        lambda v: isinstance(v, dict) and all(x is None or _is_number(x) for x in v.values()),
        "an object of metric -> number",
    ),
}


@dataclass(frozen=True)
class _Record:
    """Fields map one to one to keys of the stored JSON object; ``KINDS`` names each field's
    check in :data:`_CHECKS`. A None field is not stored."""

    #: The user attribute the record is stored under.
    ATTR: ClassVar[str]
    #: Whose attribute it is, for error messages ("trial", "study").
    OWNER: ClassVar[str]
    #: Field name -> its check in :data:`_CHECKS`.
    KINDS: ClassVar[dict[str, str]] = {}

    def to_json(self) -> dict[str, Any]:
        """The stored form: a JSON-compatible dict with :data:`SCHEMA_KEY`, None fields left out."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        out[SCHEMA_KEY] = SCHEMA_VERSION
        return out

    @classmethod
    def from_json(cls: type[_R], data: object, where: str | None = None) -> _R:
        """Read a stored record (any schema version up to :data:`SCHEMA_VERSION`; none means 1).
        Unknown keys are ignored (a newer release of the same version may add some).

        Raises:
            RecordError: if ``data`` is not a JSON object, a key holds a value of the wrong type,
                or the record is of a newer schema version.
        """
        where = where or f"{cls.OWNER} user attribute {cls.ATTR!r}"
        if not isinstance(data, Mapping):
            raise RecordError(f"{where} is {type(data).__name__} {data!r:.80}, expected a JSON object")
        _check_version(where, data)
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = data.get(f.name)
            check, expected = _CHECKS[cls.KINDS[f.name]]
            if value is not None and not check(value):
                raise _fail(where, f.name, value, expected)
            values[f.name] = value
        return cls(**values)


@dataclass(frozen=True)
class _EvaluationRecord(_Record):
    """What a treatment's replicates produced (the layout of ``TrialEvaluation.to_dict()``)."""

    KINDS: ClassVar[dict[str, str]] = {
        "replicates": "int_list",
        "seeds": "int_list",
        "values": "values",
        "stats": "stats",
        "failures": "str_list",
        "duration": "number",
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

    @property
    def treatment_params(self) -> dict[str, Any] | None:
        """The parameters the trial evaluated, or None when the record does not say (then
        Optuna's ``trial.params`` are what ran)."""
        stored = self.treatment
        if stored is not None and set(stored) == {"name", "params"} and isinstance(stored["params"], dict):
            return dict(stored["params"])
        return dict(stored) if stored else None  # an earlier version's record: only parameters


@dataclass(frozen=True)
class BaselineRecord(_EvaluationRecord):
    """The baseline's evaluation (the experiment without a treatment), stored with the study
    when the optimizer runs it (``run_baseline=True``)."""

    ATTR: ClassVar[str] = "crystallize_baseline"
    OWNER: ClassVar[str] = "study"
    KINDS: ClassVar[dict[str, str]] = {**_EvaluationRecord.KINDS, "objective": "numbers"}

    #: Each objective and constraint metric aggregated with the objective's aggregate.
    objective: dict[str, float] | None = None

    @classmethod
    def from_study(cls, study: optuna.Study) -> BaselineRecord | None:
        """The stored baseline, or None. Raises :class:`RecordError` as :meth:`from_json`."""
        stored = study.user_attrs.get(cls.ATTR)
        return None if stored is None else cls.from_json(stored)

    def store(self, study: optuna.Study) -> None:
        study.set_user_attr(self.ATTR, self.to_json())


@dataclass(frozen=True)
class StudySettings(_Record):
    """The settings a study was made with, checked when it is continued. Studies of earlier
    releases may lack any key (then None)."""

    ATTR: ClassVar[str] = "crystallize"
    OWNER: ClassVar[str] = "study"
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

    def to_json(self) -> dict[str, Any]:
        """As the other records', but every key is stored, None ones included (as releases
        before the schema version did)."""
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, SCHEMA_KEY: SCHEMA_VERSION}

    @classmethod
    def from_study(cls, study: optuna.Study) -> StudySettings | None:
        """The stored settings, or None. Raises :class:`RecordError` as :meth:`from_json`."""
        stored = study.user_attrs.get(cls.ATTR)
        return None if stored is None else cls.from_json(stored)

    def store(self, study: optuna.Study) -> None:
        study.set_user_attr(self.ATTR, self.to_json())

    @property
    def metrics(self) -> list[str] | None:
        """The objective's metric names, or None when not stored."""
        stored = (self.objective or {}).get("metrics")
        return [str(m) for m in stored] if isinstance(stored, list) else None


@dataclass(frozen=True)
class RetryRecord(_Record):
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


@dataclass
class WinnerSelection:
    """How the winner of a noise-aware optimization was chosen, and how it compares.

    Stored as JSON in the study's user attribute ``"crystallize_selection"``.

    Attributes:
        winner: the chosen treatment (``trial-<n>`` for evaluated parameters, where ``n`` is
            the first trial that ran them; ``model-<i>`` for a minimum of the model's mean).
        rule: how it was chosen (``"model"``, ``"mean"`` or ``"best observed"``).
        search_estimate: the winner's objective value as estimated from the seeds used to
            choose it (model mean or pooled mean): optimistic under noise.
        holdout_estimate: the winner's mean over held-out seeds that played no part in
            choosing it (unbiased); None without held-out seeds.
        holdout: winner's and baseline's values and the seeds (``{"seeds", "winner", "baseline"}``).
        comparison: the paired t-test of winner vs baseline on the held-out seeds (keys of
            :func:`~crystallize_opt.paired_t_test`'s result; ``effect`` = winner - baseline), or
            None when it could not be made (``comparison_note`` says why).
        candidates: the confirmed candidates (name, params, model or pooled estimate,
            confirmation mean, search replicates).
        confirmation_seeds: the fresh seeds of the confirmation round (empty without one).
        comparison_note: why there is no comparison (e.g. the baseline failed), if so.
        noise: ``{"deterministic", "noise_sd", "stopped_trials", "intensified", "model"}``
            (what the search saw; model hyperparameters when it was fitted).
        executions: pipeline executions by phase (search, confirmation, holdout) and the budget.
    """

    winner: Treatment
    rule: str
    search_estimate: float
    holdout_estimate: float | None = None
    holdout: dict[str, Any] = field(default_factory=dict)
    comparison: dict[str, Any] | None = None
    comparison_note: str | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    confirmation_seeds: list[int] = field(default_factory=list)
    noise: dict[str, Any] = field(default_factory=dict)
    executions: dict[str, int] = field(default_factory=dict)

    #: The study user attribute it is stored under.
    ATTR: ClassVar[str] = "crystallize_selection"

    def to_json(self) -> dict[str, Any]:
        """:meth:`to_dict` with :data:`SCHEMA_KEY`: what the study stores."""
        return {**self.to_dict(), SCHEMA_KEY: SCHEMA_VERSION}

    @classmethod
    def from_json(cls, data: object, where: str | None = None) -> WinnerSelection:
        """Read a stored selection (any schema version up to :data:`SCHEMA_VERSION`).

        Raises:
            RecordError: if the winner, rule or search estimate are missing or of the wrong
                type, or the record is of a newer schema version.
        """
        where = where or f"study user attribute {cls.ATTR!r}"
        if not isinstance(data, Mapping):
            raise RecordError(f"{where} is {type(data).__name__} {data!r:.80}, expected a JSON object")
        _check_version(where, data)
        winner = data.get("winner")
        if not (
            isinstance(winner, Mapping)
            and isinstance(winner.get("name"), str)
            and isinstance(winner.get("params"), Mapping)
        ):
            raise _fail(where, "winner", winner, 'a {"name": string, "params": object}')
        if not isinstance(data.get("rule"), str):
            raise _fail(where, "rule", data.get("rule"), "a string")
        if not _is_number(data.get("search_estimate")):
            raise _fail(where, "search_estimate", data.get("search_estimate"), "a number")
        for key, kind in (
            ("holdout", "dict"),
            ("comparison", "dict"),
            ("candidates", "list"),
            ("noise", "dict"),
            ("executions", "dict"),
            ("confirmation_seeds", "int_list"),
        ):
            value = data.get(key)
            ok = isinstance(value, list) if kind == "list" else _CHECKS[kind][0](value)
            if value is not None and not ok:
                raise _fail(where, key, value, "a list" if kind == "list" else _CHECKS[kind][1])
        return cls.from_dict(data)

    @classmethod
    def from_study(cls, study: optuna.Study) -> WinnerSelection | None:
        """The stored selection, or None. Raises :class:`RecordError` as :meth:`from_json`."""
        stored = study.user_attrs.get(cls.ATTR)
        return None if stored is None else cls.from_json(stored)

    def store(self, study: optuna.Study) -> None:
        study.set_user_attr(self.ATTR, self.to_json())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible copy (what the study stores)."""
        return {
            "winner": {"name": self.winner.name, "params": dict(self.winner.params)},
            "rule": self.rule,
            "search_estimate": self.search_estimate,
            "holdout_estimate": self.holdout_estimate,
            "holdout": self.holdout,
            "comparison": self.comparison,
            "comparison_note": self.comparison_note,
            "candidates": self.candidates,
            "confirmation_seeds": self.confirmation_seeds,
            "noise": self.noise,
            "executions": self.executions,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WinnerSelection:
        """Read back what :meth:`to_dict` wrote."""
        winner = data["winner"]
        return cls(
            winner=Treatment(winner["name"], dict(winner["params"])),
            rule=data["rule"],
            search_estimate=data["search_estimate"],
            holdout_estimate=data.get("holdout_estimate"),
            holdout=dict(data.get("holdout") or {}),
            comparison=data.get("comparison"),
            comparison_note=data.get("comparison_note"),
            candidates=list(data.get("candidates") or []),
            confirmation_seeds=list(data.get("confirmation_seeds") or []),
            noise=dict(data.get("noise") or {}),
            executions=dict(data.get("executions") or {}),
        )

    def summary(self, metric: str) -> str:
        """Two or three lines for people: the winner, its estimates, and the baseline test."""
        lines = [f"winner {self.winner.name} {dict(self.winner.params)} (chosen by {self.rule})"]
        estimate = f"{metric}: search estimate {self.search_estimate:.6g}"
        if self.holdout_estimate is not None:
            estimate += f", held-out estimate {self.holdout_estimate:.6g} on {len(self.holdout.get('seeds', []))} fresh seed(s)"
        lines.append(estimate)
        c = self.comparison
        if c is not None:
            lines.append(
                f"vs baseline: effect {c['effect']:+.6g} (winner - baseline), {ci_text(c)}, "
                f"paired t-test p = {c['p_value']:.3g}"
            )
        elif self.comparison_note:
            lines.append(f"vs baseline: not compared ({self.comparison_note})")
        return "\n".join(lines)
