"""The study a command names (a study folder's config, or ``--storage`` and ``--study``), and what
several commands read or write of it: its report's default path, a trial's estimate, the figures
for optuna-dashboard."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from .._optuna_compat import load_study
from .._paths import file_stem
from ..exceptions import ConfigurationError
from ..records import StudySettings, TrialRecord


def load_config(config: str) -> Any:
    """The study folder or config file CONFIG, loaded (a ``StudyConfig``; imported here so that
    commands which never read a config do not pay for the config package)."""
    from ..config import load_study

    return load_study(config)


def require_optimize(study_config: Any) -> Any:
    """The config's ``optimize:`` section.

    Raises:
        ConfigurationError: naming the file, when it has none.
    """
    if study_config.optimize is None:
        raise ConfigurationError(
            f"{study_config.path}: no 'optimize:' section; add one to describe the study"
        )
    return study_config.optimize


def study_location(args: argparse.Namespace) -> tuple[str, str]:
    """Storage URL and study name from CONFIG and/or --storage/--study."""
    storage, name = args.storage, args.study
    if args.config:
        settings = require_optimize(load_config(args.config))
        name = settings.study_name if name is None else name
        # Without a storage, the folder's study.db or study.log (parallel runs), whichever holds it.
        storage = storage or settings.storage_for(study_name=name)
    if not storage or not name:
        raise ConfigurationError("name the study: give CONFIG, or both --storage URL and --study NAME")
    return storage, name


def open_study(args: argparse.Namespace) -> optuna.Study:
    """The study CONFIG and/or --storage/--study name, read from a storage that exists.

    Raises:
        ConfigurationError: naming the storage (password hidden) when it or the study does not exist.
    """
    from ..storage import display_storage, open_existing_storage

    url, name = study_location(args)
    storage = open_existing_storage(url)  # journal:/// and redis:// URLs too, which plain Optuna cannot open
    try:
        return load_study(name, storage)
    except KeyError:
        known = optuna.get_all_study_names(storage=storage)
        raise ConfigurationError(
            f"no study {name!r} in {display_storage(url)}; it holds {known or 'no studies'}"
        ) from None


def default_report_path(folder: Path, study_name: str) -> Path:
    """The default report file of a study: ``<folder>/<study name>-report.html``, with the study
    name made a plain file name by the rule every name that becomes a file name follows
    (``_paths.file_stem``: ``/``, ``\\`` and control characters become ``_``, leading dots go),
    so that no study name (``../x``, ``a/b``) reaches a file outside ``folder``. A study name
    is not refused for this: Optuna allows any, and the study may exist already."""
    return folder / file_stem(study_name, "study", "-report.html")


def trial_estimate(trial: FrozenTrial, metric: str, index: int = 0) -> dict[str, Any]:
    """Mean, SEM and n of objective ``metric`` (the ``index``-th) over the trial's replicates;
    the value Optuna was told, without SEM and n, for trials without replicate statistics."""
    record = TrialRecord.from_trial(trial)
    found = {} if record is None else record.metric_stats(metric)
    value = trial.values[index] if trial.values and len(trial.values) > index else None
    return {"mean": found.get("mean", value), "sem": found.get("sem"), "n": found.get("n")}


def objective_metrics(study: optuna.Study) -> list[str]:
    settings = StudySettings.from_study(study)
    stored = None if settings is None else settings.metrics
    return stored or study.metric_names or ["value"]


def store_dashboard_figures(study: optuna.Study) -> None:
    """Store the figures and the winner note for optuna-dashboard when it is installed; a failure
    is a warning (the dashboard is optional, the study and its report are done)."""
    from ..report import save_to_dashboard

    try:
        if save_to_dashboard(study):
            print("optuna-dashboard: figures and the winner note stored with the study")
    except Exception as exc:  # never fails the command
        from .._text import one_line

        print(
            f"warning: could not store the figures for optuna-dashboard: {one_line(str(exc))}",
            file=sys.stderr,
        )
