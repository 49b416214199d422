"""Extract, once, the compact per-trial table that every part of the report is drawn from."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from ..optimize import WinnerSelection
from ..ranking import best_among, rank_rows, violation
from ..records import BaselineRecord, RecordError, StudySettings, TrialRecord
from ._importance import Importances, compute_importances
from ._sampler_text import describe_sampler

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Trial states in the order the header lists them.
STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")


@dataclass(frozen=True)
class ParamColumn:
    """One searched parameter across all trials.

    ``values[i]`` is trial row ``i``'s value (NaN where that trial did not set the parameter); a
    categorical parameter holds the index of its label in ``choices``.
    """

    name: str
    values: FloatArray
    choices: tuple[str, ...] | None
    log: bool

    @property
    def is_categorical(self) -> bool:
        return self.choices is not None

    def axis_values(self) -> FloatArray:
        """Values in plotting space: log10 of a log-scaled parameter, codes of a categorical one."""
        if self.log:
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.log10(np.where(self.values > 0, self.values, np.nan))
        return self.values


@dataclass(frozen=True)
class Baseline:
    """The baseline's evaluation, per objective metric (NaN / 0 where it lacks one)."""

    mean: FloatArray
    sem: FloatArray
    n: IntArray
    values: tuple[FloatArray, ...]
    #: The seed of each of ``values``' entries, per objective (empty when not stored).
    seeds: tuple[IntArray, ...] = ()


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, as arrays with one row per trial (ordered by trial number).

    ``value`` holds what Optuna was told (NaN for failed or unfinished trials); ``mean``, ``sem``
    and ``n`` come from the stored replicate statistics of each objective metric, falling back
    to ``value``, NaN and 0 for trials without them (e.g. studies not made by crystallize-opt).
    ``ranking`` lists the rows of the usable trials (complete, feasible, finite values), best
    first by the rule of :mod:`crystallize_opt.ranking` (as ``best`` and ``trials``: in a
    noise-aware study the selection's candidates first, the winner first);
    ``replicates[row]`` holds per-replicate values (one array per objective) of the first
    ``top_k`` ranked rows that stored them. ``selection`` is how a noise-aware
    optimization chose its winner (None for other studies); ``best_row`` is the row of the
    study's best (:func:`~crystallize_opt.ranking.best_among`: the winner's trial, None for a
    winner no trial ran; else the first ranked row); ``observed_best_row`` is the row with the
    best value told to Optuna (Optuna's ``best_trial``; the ranking's first row without a
    selection).
    """

    study_name: str
    metrics: tuple[str, ...]
    directions: tuple[str, ...]
    aggregate: str | None
    constraints: tuple[str, ...]
    sampler: str
    has_settings: bool
    number: IntArray
    state: npt.NDArray[np.str_]
    value: FloatArray
    mean: FloatArray
    sem: FloatArray
    n: IntArray
    feasible: BoolArray
    params: tuple[ParamColumn, ...]
    failures: tuple[tuple[int, str], ...]
    ranking: IntArray
    pareto: BoolArray
    replicates: Mapping[int, tuple[FloatArray, ...]]
    baseline: Baseline | None
    importances: Importances
    top_k: int
    selection: WinnerSelection | None = None
    best_row: int | None = None
    observed_best_row: int | None = None
    #: ``replicate_seeds[row][j]``: the seed of each of ``replicates[row][j]``'s values (rows whose
    #: record stores seeds).
    replicate_seeds: Mapping[int, tuple[IntArray, ...]] = field(default_factory=dict)

    @property
    def n_trials(self) -> int:
        return int(self.number.size)

    @property
    def is_multi_objective(self) -> bool:
        return len(self.metrics) > 1

    @property
    def usable(self) -> BoolArray:
        """Complete, feasible trials with finite values: the ones that are ranked."""
        mask = np.zeros(self.n_trials, dtype=bool)
        mask[self.ranking] = True
        return mask

    @property
    def best(self) -> int | None:
        """Row of the best trial, as every surface shows it: a noise-aware study's winner (None
        when no trial ran the winner's parameters), else the first ranked row (multi-objective:
        the Pareto trial closest to the ideal point)."""
        return self.best_row

    @property
    def best_words(self) -> str:
        """What the best trial is, in words: ``"the winner"`` of a noise-aware study, else
        ``"the best trial"``."""
        return "the winner" if self.selection is not None else "the best trial"

    def best_name(self, row: int) -> str:
        """The legend of the best trial's marker: ``winner (trial n)`` or ``best trial (n)``."""
        number = int(self.number[row])
        return f"winner (trial {number})" if self.selection is not None else f"best trial ({number})"

    @property
    def top(self) -> IntArray:
        """Rows of the ``top_k`` best trials, best first."""
        return self.ranking[: self.top_k]

    def state_counts(self) -> dict[str, int]:
        """Number of trials per state, in the order of :data:`STATES` (states with none left out)."""
        return {s: int(np.count_nonzero(self.state == s)) for s in STATES if np.any(self.state == s)}

    def params_by_importance(self) -> list[ParamColumn]:
        """The parameters, most important first (those without an importance keep their order)."""
        order = list(self.importances.values)
        known = [p for name in order for p in self.params if p.name == name]
        return known + [p for p in self.params if p.name not in self.importances.values]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _metric_names(study: optuna.Study, settings: Mapping[str, Any]) -> tuple[str, ...]:
    k = len(study.directions)
    stored = settings.get("objective", {}).get("metrics")
    if isinstance(stored, list) and len(stored) == k:
        return tuple(str(m) for m in stored)
    names = study.metric_names
    if names is not None and len(names) == k:
        return tuple(names)
    return ("value",) if k == 1 else tuple(f"objective {i}" for i in range(k))


def _stats_row(
    record: Mapping[str, Any], metrics: Sequence[str], value: Sequence[float]
) -> tuple[list[float], list[float], list[int]]:
    stats = _mapping(record.get("stats"))
    means, sems, ns = [], [], []
    for i, metric in enumerate(metrics):
        entry = stats.get(metric)
        if isinstance(entry, Mapping) and math.isfinite(_float(entry.get("mean"))):
            means.append(_float(entry.get("mean")))
            sems.append(_float(entry.get("sem")))
            ns.append(int(_float(entry.get("n")) if math.isfinite(_float(entry.get("n"))) else 0))
        else:
            means.append(value[i])
            sems.append(math.nan)
            ns.append(0)
    return means, sems, ns


def _replicates_with_seeds(
    record: Mapping[str, Any], metrics: Sequence[str]
) -> tuple[tuple[FloatArray, ...], tuple[IntArray, ...] | None] | None:
    """Per metric, the finite replicate values and (when the record stores a seed per replicate)
    their seeds; None when no metric has a value."""
    values = record.get("values")
    if not isinstance(values, Mapping):
        return None
    seeds = record.get("seeds")
    out, seeds_out = [], []
    for metric in metrics:
        column = [_float(x) for x in (values.get(metric) or [])]
        keep = [i for i, v in enumerate(column) if math.isfinite(v)]
        out.append(np.array([column[i] for i in keep], dtype=float))
        if isinstance(seeds, Sequence) and len(seeds) == len(column):
            seeds_out.append(np.array([int(seeds[i]) for i in keep], dtype=np.int64))
    if not any(a.size for a in out):
        return None
    return tuple(out), (tuple(seeds_out) if len(seeds_out) == len(out) else None)


def _stored(
    read: Callable[[Any], StudySettings | TrialRecord | BaselineRecord | None], source: Any
) -> Mapping[str, Any]:
    """``read(source)``'s JSON, {} when there is none or it cannot be read (the report works with
    any study, so a malformed attribute is left out rather than fatal)."""
    try:
        record = read(source)
    except RecordError:
        return {}
    return {} if record is None else record.to_json()


def _baseline(study: optuna.Study, metrics: Sequence[str]) -> Baseline | None:
    record = _stored(BaselineRecord.from_study, study)
    if not record:
        return None
    objective = _mapping(record.get("objective"))
    fallback = [_float(objective.get(m)) for m in metrics]
    means, sems, ns = _stats_row(record, metrics, fallback)
    if not any(math.isfinite(m) for m in means):
        return None
    found = _replicates_with_seeds(record, metrics)
    values = found[0] if found is not None else tuple(np.empty(0) for _ in metrics)
    seeds = found[1] if found is not None and found[1] is not None else ()
    return Baseline(np.array(means), np.array(sems), np.array(ns, dtype=np.int64), values, seeds)


def _selection(study: optuna.Study) -> WinnerSelection | None:
    """The stored winner selection; None when there is none or it cannot be read (the report
    works with any study, so a malformed attribute is left out rather than fatal)."""
    try:
        return WinnerSelection.from_study(study)
    except (KeyError, TypeError, ValueError, AttributeError):  # RecordError is a ValueError
        return None


def _param_columns(trials: Sequence[FrozenTrial]) -> tuple[ParamColumn, ...]:
    distributions: dict[str, BaseDistribution] = {}
    choices: dict[str, list[Any]] = {}
    for trial in trials:
        for name, dist in trial.distributions.items():
            distributions.setdefault(name, dist)
            if isinstance(dist, CategoricalDistribution):
                known = choices.setdefault(name, [])
                known.extend(c for c in dist.choices if c not in known)
    columns = []
    for name, dist in distributions.items():
        values = np.full(len(trials), np.nan)
        if isinstance(dist, CategoricalDistribution):
            labels = choices[name]
            for i, trial in enumerate(trials):
                if name in trial.params:
                    values[i] = labels.index(trial.params[name]) if trial.params[name] in labels else np.nan
            columns.append(ParamColumn(name, values, tuple(str(c) for c in labels), log=False))
            continue
        for i, trial in enumerate(trials):
            if name in trial.params:
                values[i] = _float(trial.params[name])
        log = isinstance(dist, (FloatDistribution, IntDistribution)) and dist.log
        columns.append(ParamColumn(name, values, None, log=bool(log)))
    return tuple(columns)


def extract(study: optuna.Study, *, top_k: int = 10) -> ReportData:
    """Read ``study`` once (``get_trials(deepcopy=False)``) into a :class:`ReportData`.

    Works for any Optuna study: the crystallize-opt user attributes are used when present.

    Raises:
        ValueError: if ``top_k`` is smaller than 1.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    settings = _stored(StudySettings.from_study, study)
    objective = _mapping(settings.get("objective"))
    metrics = _metric_names(study, settings)
    directions = tuple(
        "maximize" if d == optuna.study.StudyDirection.MAXIMIZE else "minimize" for d in study.directions
    )
    k = len(metrics)
    size = len(trials)
    value = np.full((size, k), np.nan)
    mean, sem = np.full((size, k), np.nan), np.full((size, k), np.nan)
    n = np.zeros((size, k), dtype=np.int64)
    failures: list[tuple[int, str]] = []
    records: list[Mapping[str, Any]] = []
    for i, trial in enumerate(trials):
        record = _stored(TrialRecord.from_trial, trial)
        records.append(record)
        if trial.values is not None and len(trial.values) == k:
            value[i] = trial.values
        mean[i], sem[i], n[i] = _stats_row(record, metrics, value[i].tolist())
        if trial.state == TrialState.FAIL:
            failures.append((trial.number, str(record.get("failure") or "no reason stored")))
    state = np.array([t.state.name for t in trials], dtype=str) if trials else np.empty(0, dtype=str)
    selection = _selection(study)
    violations = np.array([violation(t) for t in trials], dtype=float)
    numbers = np.array([t.number for t in trials], dtype=np.int64)
    ranked = rank_rows(
        value,
        directions,
        state == "COMPLETE",
        violations,
        numbers,
        () if selection is None else selection.candidate_trials,
    )
    ranking, pareto = ranked.ranked_feasible, ranked.pareto
    observed = (
        ranked
        if selection is None
        else rank_rows(value, directions, state == "COMPLETE", violations, numbers)
    )
    # The study's best (ranking.best_among): a selection's winner, else the first ranked row
    # (best_among's own rule, read from the ranking made above rather than ranking again).
    best_row = ranked.best
    if selection is not None:
        winner = best_among(trials, directions, selection)
        row_of = {int(n): i for i, n in enumerate(numbers)}
        best_row = None if winner is None or winner.trial is None else row_of[winner.trial.number]
    n_complete = int(np.count_nonzero((state == "COMPLETE") & np.all(np.isfinite(value), axis=1)))
    params = _param_columns(trials)
    replicates, replicate_seeds = {}, {}
    for row in [*ranking[:top_k], *([] if best_row is None else [best_row])]:
        found = _replicates_with_seeds(records[row], metrics)
        if found is not None:
            replicates[int(row)] = found[0]
            if found[1] is not None:
                replicate_seeds[int(row)] = found[1]
    return ReportData(
        study_name=study.study_name,
        metrics=metrics,
        directions=directions,
        aggregate=str(objective["aggregate"]) if "aggregate" in objective else None,
        constraints=tuple(str(c) for c in objective.get("constraints") or ()),
        sampler=describe_sampler(study, settings),
        has_settings=bool(settings),
        number=np.array([t.number for t in trials], dtype=np.int64),
        state=state,
        value=value,
        mean=mean,
        sem=sem,
        n=n,
        feasible=ranked.feasible,
        params=params,
        failures=tuple(failures),
        ranking=ranking,
        pareto=pareto,
        replicates=replicates,
        baseline=_baseline(study, metrics),
        importances=compute_importances(study, n_complete=n_complete, param_names=[p.name for p in params]),
        top_k=top_k,
        selection=selection,
        best_row=best_row,
        observed_best_row=observed.best,
        replicate_seeds=replicate_seeds,
    )
