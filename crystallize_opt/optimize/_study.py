"""The Optuna study as crystallize-opt keeps it: opening it, the settings record stored with it
(and checked when it is continued), and reading results back (the best of the study,
treatments of trials)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import optuna
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from .._logging import get_logger
from .._optuna_compat import create_study, load_study
from .._version import __version__
from ..exceptions import ConfigurationError, OptimizationError
from ..plugins import SEED_SCHEME, SEEDSEQUENCE_SCHEME
from ..ranking import StudyBest, study_best
from ..records import (
    BaselineRecord,
    RecordError,
    SamplerHistory,
    StudySettings,
    TrialRecord,
    WinnerSelection,
)
from ..treatment import Treatment
from ._base import OptimizationRun
from ._composite_samplers import HandOffSampler, NoiseCheckSampler, NoRepeatSampler
from ._objective import Objective
from ._space import SearchSpace, describe_differences

_log = get_logger("optimize")

#: Name of the lease of the worker choosing that winner: each worker claims it in the user
#: attribute ``crystallize_selection_lease:<worker>`` (see ``_lease.StudyLease``).
SELECTION_LEASE_ATTR = "crystallize_selection_lease"
#: Settings whose change is only warned about when a study is continued (its earlier trials are
#: then not directly comparable); a changed objective or search space is refused.
_WARNED_SETTINGS = ("replicates_per_trial", "master_seed", "pipeline_signature", "noise", "curve_pruning")


def open_study(
    name: str,
    storage: BaseStorage,
    sampler: BaseSampler | None,
    pruner: BasePruner | None,
    directions: Sequence[str],
) -> optuna.Study:
    """Load the study ``name`` from ``storage``, or create it with ``directions``
    (``"minimize"``/``"maximize"``) when it does not exist (``sampler`` None: Optuna's default
    until the caller sets ``study.sampler``)."""
    try:
        return load_study(name, storage, sampler=sampler, pruner=pruner)
    except KeyError:
        return create_study(
            name,
            storage,
            sampler=sampler,
            pruner=pruner,
            directions=[
                StudyDirection.MINIMIZE if d == "minimize" else StudyDirection.MAXIMIZE for d in directions
            ],
            load_if_exists=True,  # another worker may create it at the same moment
        )


def study_settings(
    run: OptimizationRun,
    objective: Objective,
    space: SearchSpace,
    sampler: BaseSampler | None,
    pruner: BasePruner | None,
    *,
    common_random_numbers: bool,
    noise: dict[str, Any] | None,
    curve_pruning: str | None = None,
) -> StudySettings:
    """The settings record stored with a study; ``noise`` is the noise handling's settings as a
    dict, or None without noise handling."""
    return StudySettings(
        experiment=run.experiment_name,
        objective=objective.to_dict(),
        search_space=space.describe(),
        sampler=describe_component(sampler),
        pruner=describe_component(pruner),
        replicates_per_trial=run.replicates_per_trial,
        master_seed=run.master_seed,
        common_random_numbers=common_random_numbers,
        noise=noise,
        pipeline_signature=run.pipeline_signature,
        package_version=run.package_version,
        curve_pruning=curve_pruning,
        seed_scheme=SEED_SCHEME,
    )


def store_or_check_settings(study: optuna.Study, storage: BaseStorage, settings: StudySettings) -> str:
    """Store ``settings`` (a :func:`study_settings` record) with a new study, with its objective
    metrics as Optuna's metric names; or check a continued study's stored settings against them,
    warning when its replicates, seed, pipeline, noise handling or sampler changed (a changed
    sampler is recorded with the trial it takes over from: :class:`SamplerHistory`).

    Returns:
        The study's replicate-seed scheme (see :func:`seed_scheme_of`): a continued study keeps
        the one its trials ran on.

    Raises:
        ConfigurationError: if the stored study's objective or search space differs (the
            message lists each difference), the study was not made by crystallize-opt and
            already has trials, or its seed scheme is unknown to this release.
        RecordError: if the stored settings, sampler history or baseline are malformed.
    """
    stored = StudySettings.from_study(study)
    if stored is None and study.trials:  # another worker may have just set the study up
        stored = StudySettings.from_study(load_study(study.study_name, storage))
    if stored is None:
        if study.trials:
            raise ConfigurationError(
                f"study {study.study_name!r} already has {len(study.trials)} trial(s) not made by crystallize-opt; "
                "choose another study_name"
            )
        settings.store(study)
        with warnings.catch_warnings():  # experimental in Optuna, but shown by optuna-dashboard
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(settings.metrics or [])
        return settings.seed_scheme or SEED_SCHEME
    scheme = seed_scheme_of(study, stored)
    differences = describe_differences(stored.objective or {}, settings.objective or {}, "objective")
    differences += describe_differences(
        stored.search_space or {}, settings.search_space or {}, "search space"
    )
    if differences:
        raise ConfigurationError(
            f"study {study.study_name!r} exists with different settings; continue it with the same ones or "
            f"use a new study_name: " + "; ".join(differences)
        )
    for key in _WARNED_SETTINGS:
        if getattr(stored, key) != getattr(settings, key):
            _log.warning(
                "study %r: %s was %r, now %r; earlier trials are not directly comparable",
                study.study_name,
                key,
                getattr(stored, key),
                getattr(settings, key),
            )
    _note_sampler_change(study, stored.sampler, settings.sampler)
    if stored.seed_scheme is None and scheme == SEED_SCHEME:
        # A study of an earlier release that evaluated nothing yet: its first trial is the
        # first to pick a scheme, so it takes this release's, recorded before any trial runs
        # (a worker opening it later reads it, and the study never mixes schemes).
        replace(stored, seed_scheme=scheme).store(study)
    return scheme


def _note_sampler_change(
    study: optuna.Study, first: dict[str, Any] | None, given: dict[str, Any] | None
) -> None:
    """Warn when the sampler continuing ``study`` is not the one that proposed its last trials
    (descriptions of :func:`describe_component`; ``first`` the one it was made with), and record
    from which trial on it proposes (:class:`SamplerHistory`), so the report names each sampler
    with its trials and the next continuation by the same sampler does not warn again.

    Raises:
        RecordError: if the stored history is malformed.
    """
    history = SamplerHistory.from_study(study)
    current = history.latest or first
    if not current or not given or current == given:
        return
    current_class, given_class = current.get("class"), given.get("class")
    if current_class != given_class:
        # E.g. a default sampler that changed with the environment (PyTorch installed since).
        _log.warning(
            "study %r: its trials were proposed by %s, the next ones by %s; the search does not go on "
            "as it would have",
            study.study_name,
            current_class,
            given_class,
        )
    elif _parts(current) != _parts(given):
        # A composite of the same class made of other samplers (a release of crystallize-opt
        # that changed the default).
        _log.warning(
            "study %r: its trials were proposed by a %s made of other samplers than the one proposing "
            "the next ones; the search does not go on as it would have",
            study.study_name,
            current_class,
        )
    else:
        _log.warning(
            "study %r: its trials were proposed by a %s with other settings than the one proposing the "
            "next ones; the search does not go on as it would have",
            study.study_name,
            current_class,
        )
    history.changed(len(study.get_trials(deepcopy=False)), given).store(study)


def seed_scheme_of(study: optuna.Study, stored: StudySettings) -> str:
    """The replicate-seed scheme of a study whose settings ``stored`` are stored: the one they
    record; for a study of a release before the scheme was recorded, ``"seedsequence"``
    (``derive_seed(master, r)``, what its trials and baseline ran on) once it holds a trial or
    a baseline, so it continues exactly as it would have; else this release's.

    Raises:
        ConfigurationError: if the recorded scheme is unknown to this release (a study of a
            later release): continuing it would mix its replicate seeds with others.
        RecordError: if the stored baseline is malformed.
    """
    if stored.seed_scheme is not None:
        if stored.seed_scheme not in (SEED_SCHEME, SEEDSEQUENCE_SCHEME):
            raise ConfigurationError(
                f"study {study.study_name!r} records replicate seed scheme {stored.seed_scheme!r}, unknown to "
                f"crystallize-opt {__version__} (it knows {SEED_SCHEME!r} and {SEEDSEQUENCE_SCHEME!r}); continue "
                "it with the release that made it, or use a new study_name"
            )
        return stored.seed_scheme
    if study.trials or BaselineRecord.from_study(study) is not None:
        _log.info(
            "study %r was made before replicate seeds followed crystallize-ml's formula: it keeps "
            "derive_seed(master, r), the seeds its trials ran on",
            study.study_name,
        )
        return SEEDSEQUENCE_SCHEME
    return SEED_SCHEME


def describe_component(component: object | None) -> dict[str, Any] | None:
    """Class name and simple settings of a sampler or pruner, for the study's record."""
    if component is None:
        return None
    settings: dict[str, Any] = {
        key.lstrip("_"): value
        for key, value in vars(component).items()
        if value is None or isinstance(value, (bool, int, float, str))
    }
    if isinstance(component, (HandOffSampler, NoiseCheckSampler, NoRepeatSampler)):
        settings["samplers"] = [describe_component(sampler) for sampler in component.samplers]
    return {"class": type(component).__name__, "settings": settings}


def _parts(description: Mapping[str, Any] | None) -> Any:
    """The classes a sampler described by :func:`describe_component` is made of, as a tree."""
    if not isinstance(description, Mapping):
        return None
    nested = (description.get("settings") or {}).get("samplers") or []
    return (description.get("class"), tuple(_parts(part) for part in nested))


def treatment_params(trial: FrozenTrial) -> dict[str, Any]:
    """The parameters a stored trial evaluated (constants and a callable space's output included).

    Read from its record's treatment (:attr:`TrialRecord.treatment_params`); records of earlier
    versions stored there only parameters that differ from Optuna's, or nothing, and Optuna's
    ``trial.params`` stand in for what is missing.

    Raises:
        RecordError: if the trial's record is malformed.
    """
    return TrialRecord.params_of(trial)


def treatment_of(trial: FrozenTrial) -> Treatment:
    """The Treatment a stored trial evaluated, named ``trial-<number>`` (constants included)."""
    return Treatment(f"trial-{trial.number}", treatment_params(trial))


def best_of(study: optuna.Study, selection: WinnerSelection | None = None) -> StudyBest:
    """The study's best, as every surface shows it (:func:`~crystallize_opt.ranking.study_best`):
    a noise-aware study's winner (``selection``, else the one stored), else the first trial of
    :func:`~crystallize_opt.ranking.rank_study` (single objective: the best feasible value;
    several objectives: the feasible Pareto trial closest to the ideal point once each objective
    is scaled to [0, 1] over the Pareto front; ties: the earlier trial).

    Raises:
        OptimizationError: quoting the first failures, when there is no winner and no trial
            completed feasibly.
        RecordError: if the stored selection or the best trial's record is malformed.
    """
    best = study_best(study, selection)
    if best is None:
        raise _no_result_error(study)
    return best


def _no_result_error(study: optuna.Study) -> OptimizationError:
    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    reasons = [f"trial {t.number}: {_failure_of(t)}" for t in failed[:3]]
    detail = "; first failures: " + " | ".join(reasons) if reasons else ""
    return OptimizationError(f"study {study.study_name!r} has no feasible completed trial{detail}")


def _failure_of(trial: FrozenTrial) -> str:
    """The failure stored with a failed trial, for an error message (never raises)."""
    try:
        record = TrialRecord.from_trial(trial)
    except RecordError as exc:
        return f"failed (its record is unreadable: {exc})"
    return (record.failure if record is not None else None) or "failed"
