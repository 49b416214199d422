"""Reading stored studies: the best trial, the Pareto compromise, treatments of trials."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from ..exceptions import OptimizationError
from ..treatment import Treatment

#: User attribute holding everything crystallize-opt stores with a trial (one storage write).
TRIAL_ATTR = "crystallize"
#: User attribute holding the study's settings.
STUDY_ATTR = "crystallize"
#: User attribute holding the baseline's reference evaluation.
BASELINE_ATTR = "crystallize_baseline"
#: User attribute holding how a noise-aware optimization chose its winner (and the baseline test).
SELECTION_ATTR = "crystallize_selection"


def describe_component(component: object | None) -> dict[str, Any] | None:
    """Class name and simple settings of a sampler or pruner, for the study's record."""
    if component is None:
        return None
    settings = {
        key.lstrip("_"): value
        for key, value in vars(component).items()
        if value is None or isinstance(value, (bool, int, float, str))
    }
    return {"class": type(component).__name__, "settings": settings}


def treatment_of(trial: FrozenTrial) -> Treatment:
    """The Treatment a stored trial evaluated, named ``trial-<number>`` (constants included)."""
    params = trial.user_attrs.get(TRIAL_ATTR, {}).get("treatment") or trial.params
    return Treatment(f"trial-{trial.number}", params)


def best_trial(study: optuna.Study) -> FrozenTrial:
    """The study's best trial by the rule of :meth:`OptunaOptimizer.get_best_treatment`.

    Raises:
        OptimizationError: quoting the first failures, when no trial completed feasibly.
    """
    if len(study.directions) == 1:
        try:
            return study.best_trial
        except ValueError:
            raise _no_result_error(study) from None
    pareto = study.best_trials
    if not pareto:
        raise _no_result_error(study)
    directions = ["minimize" if d == StudyDirection.MINIMIZE else "maximize" for d in study.directions]
    return choose_compromise(pareto, directions)


def _no_result_error(study: optuna.Study) -> OptimizationError:
    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    reasons = [
        f"trial {t.number}: {t.user_attrs.get(TRIAL_ATTR, {}).get('failure', 'failed')}" for t in failed[:3]
    ]
    detail = "; first failures: " + " | ".join(reasons) if reasons else ""
    return OptimizationError(f"study {study.study_name!r} has no feasible completed trial{detail}")


def choose_compromise(trials: Sequence[FrozenTrial], directions: Sequence[str]) -> FrozenTrial:
    """The trial closest to the ideal point after scaling each objective to [0, 1] (0 best)."""
    columns = []
    for index, direction in enumerate(directions):
        values = [float(t.values[index]) for t in trials]
        low, high = min(values), max(values)
        span = high - low
        scaled = [0.0 if span == 0 else (v - low) / span for v in values]
        columns.append(scaled if direction == "minimize" else [1.0 - s for s in scaled])
    distances = [math.hypot(*(column[i] for column in columns)) for i in range(len(trials))]
    best = min(range(len(trials)), key=lambda i: (distances[i], trials[i].number))
    return trials[best]
