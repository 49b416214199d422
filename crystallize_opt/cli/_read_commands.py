"""The commands that read a stored study: ``report``, ``dashboard``, ``best``, ``studies``, ``trials``."""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import TrialState

from .._optuna_compat import load_study, study_id
from ..exceptions import ConfigurationError
from ..optimize import best_of
from ..ranking import rank_study, study_best
from ..records import BaselineRecord, TrialRecord
from ..treatment import Treatment
from ._study import (
    default_report_path,
    load_config,
    objective_metrics,
    open_study,
    store_dashboard_figures,
    study_location,
    trial_estimate,
)
from ._tables import WINNER_MARK, best_cell, fmt, selection_text, table


def cmd_report(args: argparse.Namespace) -> int:
    """Write the study's HTML report; ``--plotlyjs`` wins over the config's ``report.plotlyjs``,
    and without either (or without a config) plotly.js is inlined."""
    from .._paths import ensure_directory
    from ..config import ReportConfig
    from ..report import write_report
    from ..storage import on_read_only_file_system

    study = open_study(args)
    # The config is read (again: open_study read it) only for what the options leave to it.
    needs_config = args.config and (not args.output or args.plotlyjs is None)
    study_config = load_config(args.config) if needs_config else None
    if args.output:
        path = Path(args.output)
    else:
        path = default_report_path(study_config.folder if study_config else Path(), study.study_name)
    plotlyjs = args.plotlyjs or (study_config.report if study_config else ReportConfig()).plotlyjs
    ensure_directory(path.parent, "the report")
    # A study read from read-only media has its default report beside it: say so before the
    # report is built (seconds for a large study), and if the write fails all the same.
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        read_only = on_read_only_file_system(path.parent)
        raise _unwritable_report(path, os.strerror(errno.EROFS if read_only else errno.EACCES))
    try:
        write_report(study, path, plotlyjs=plotlyjs)
    except OSError as exc:
        raise _unwritable_report(path, exc.strerror or str(exc)) from exc
    print(f"report: {path}")
    return 0


def _unwritable_report(path: Path, why: str) -> ConfigurationError:
    return ConfigurationError(
        f"cannot write the report {str(path)!r} ({why}); write it elsewhere with --output FILE"
    )


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Start optuna-dashboard on the study's storage (storing the figures and note first), print
    its URL, and serve until interrupted."""
    from ..report import dashboard_available
    from ..storage import display_storage

    if not dashboard_available():
        raise ConfigurationError(
            "optuna-dashboard is not installed: pip install 'crystallize-opt[dashboard]' (or optuna-dashboard)"
        )
    import optuna_dashboard

    from ..storage import resolve_storage

    url, name = study_location(args)
    open_study(args)  # the storage and the study exist: nothing is created below
    storage = resolve_storage(url)  # writable: the dashboard saves notes too
    study = load_study(name, storage)
    store_dashboard_figures(study)
    page = f"http://{args.host}:{args.port}/dashboard/studies/{study_id(study)}"
    print(f"optuna-dashboard on {display_storage(url)}: {page} (Ctrl+C stops it)", flush=True)
    optuna_dashboard.run_server(storage, host=args.host, port=args.port)
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    """Print ``{name: params}`` of the best treatment: a noise-aware study's selected winner, else
    the best trial's. For a selection, JSON adds a ``"selection"`` key (never a winner's name, which
    is ``trial-<n>`` or ``model-<i>``) and YAML adds its summary as comments, so both stay ready to
    paste into ``treatments:``."""
    study = open_study(args)
    best = best_of(study)  # what every surface shows as best
    treatment, selection = best.treatment, best.selection
    document: dict[str, Any] = {treatment.name: treatment.params}
    if args.format == "json":
        if selection is not None:
            document["selection"] = selection.to_dict()
        print(json.dumps(document, indent=2, default=repr))
    else:
        print(yaml.safe_dump(document, sort_keys=False).rstrip())
        if selection is not None:
            text = selection_text(selection, objective_metrics(study)[0])
            print("\n".join(f"# {line}" for line in text.splitlines()))
    return 0


def cmd_studies(args: argparse.Namespace) -> int:
    from ..storage import open_existing_storage

    storage = open_existing_storage(args.storage)
    summaries = optuna.get_all_study_summaries(storage=storage)
    rows = []
    noisy = False
    for summary in summaries:
        study = load_study(summary.study_name, storage)
        counts = {state: 0 for state in TrialState}
        for trial in study.get_trials(deepcopy=False):
            counts[trial.state] += 1
        try:
            best = best_cell(study_best(study))
        except Exception:  # a study whose records cannot be read still gets its row
            best = None
        noisy = noisy or (best is not None and best[1])
        rows.append(
            [
                summary.study_name,
                ",".join(d.name.lower() for d in study.directions),
                counts[TrialState.COMPLETE],
                counts[TrialState.PRUNED],
                counts[TrialState.FAIL],
                counts[TrialState.RUNNING],
                None if best is None else best[0],
            ]
        )
    print(table(["study", "direction", "complete", "pruned", "failed", "running", "best"], rows))
    if noisy:
        print(
            f"\n{WINNER_MARK}: a noise-aware study's best is its chosen winner, shown by its held-out estimate"
        )
    return 0


def cmd_trials(args: argparse.Namespace) -> int:
    """List the study's trials by number, or with ``--top N`` its N best by the ranking that
    ``best`` and the report use (feasible first, then non-domination front, then distance to the
    ideal point): every objective metric's mean and SEM, whether a constrained study's trials are
    feasible, a multi-objective study's front, and ``*`` on the trial ``best`` returns."""
    study = open_study(args)
    metrics = objective_metrics(study)
    ranked = rank_study(study)
    rank_of = {r.trial.number: r for r in ranked}
    trials = [r.trial for r in ranked] if args.top else study.get_trials(deepcopy=False)
    if args.state:
        trials = [t for t in trials if t.state.name.lower() == args.state]
    if args.top:
        trials = trials[: args.top]
    best = study_best(study)  # what `best` returns: a noise-aware study's selected winner
    selection = None if best is None else best.selection
    chosen: Treatment | None = None if best is None else best.treatment
    constrained = any(t.constraints for t in study.get_trials(deepcopy=False))
    multi = len(study.directions) > 1
    headers = (["rank"] if args.top else []) + ["trial", "state"] + (["feasible"] if constrained else [])
    headers += ["front"] if multi else []
    for metric in metrics:
        headers += [metric, "SEM"]
    headers += ["n", "best", "params"]
    rows = []
    for trial in trials:
        found = rank_of.get(trial.number)
        estimates = [trial_estimate(trial, metric, index) for index, metric in enumerate(metrics)]
        record = TrialRecord.from_trial(trial)
        failure = None if record is None else record.failure
        row: list[Any] = [found.rank] if args.top and found else []
        row += [trial.number, trial.state.name.lower()]
        if constrained:
            row.append(None if found is None else ("yes" if found.feasible else "no"))
        if multi:
            row.append(None if found is None or found.front < 0 else found.front + 1)
        for estimate in estimates:
            row += [estimate["mean"] if trial.values else None, estimate["sem"]]
        row.append(estimates[0]["n"])
        row.append("*" if chosen is not None and chosen.name == f"trial-{trial.number}" else "")
        row.append(json.dumps(trial.params, default=repr) + (f"  ({failure})" if failure else ""))
        rows.append(row)
    print(table(headers, rows))
    notes = ["front: 1 = Pareto-optimal among the feasible trials"] if multi else []
    if selection is not None:
        if selection.winner_trial is None:
            what = f" {json.dumps(selection.winner.params, default=repr)} (a point no trial evaluated)"
        else:
            found = rank_of.get(selection.winner_trial)
            what = f" (rank {found.rank})" if found is not None else ""
        notes.append(
            f"*: `crystallize-opt best` returns {selection.winner.name}{what}, the noise-aware selection's "
            f"winner (chosen by {selection.rule}, confirmed on fresh seeds)"
        )
        if args.top:
            notes.append(
                "rank: the selection's candidates first, in its order (the winner first), then the other "
                "trials by the value told to Optuna (their parameters' pooled mean over the search's replicates)"
            )
    elif chosen is not None:
        notes.append(f"*: `crystallize-opt best` returns {chosen.name}, the first of this ranking")
    if notes:
        print("\n" + "\n".join(notes))
    baseline = BaselineRecord.from_study(study)
    if baseline is not None:
        parts = [
            f"{metric} = {fmt(baseline.metric_stats(metric).get('mean', math.nan))} ± "
            f"{fmt(baseline.metric_stats(metric).get('sem', math.nan))} "
            f"(n={fmt(baseline.metric_stats(metric).get('n'))})"
            for metric in metrics
        ]
        print(f"\nbaseline: {'; '.join(parts)}")
    return 0
