"""The ``crystallize-opt`` subcommands. Each takes the parsed arguments and returns an exit code."""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import socket
import sys
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from .._checks import check_count, check_replicates, check_seed, check_study_name
from .._optuna_compat import load_study, study_id
from .._paths import file_stem
from ..exceptions import ConfigurationError
from ..optimize import WorkerRole, best_of
from ..ranking import rank_study, study_best
from ..records import BaselineRecord, StudySettings, TrialRecord
from ..result import Result
from ..treatment import Treatment
from ._gpus import gpus_option, use_gpus_in_this_process
from ._tables import WINNER_MARK, best_cell, fmt, selection_text, table


def check_options(args: argparse.Namespace) -> None:
    """Check the numbers and names given as options, by the rules the Python API and the config
    apply to the same values (``crystallize_opt._checks``), before the command does anything.

    Raises:
        ConfigurationError: naming the option (``--trials must be a positive integer, got 0``).
    """
    for option, check in (
        ("trials", check_count),
        ("replicates", check_replicates),
        ("workers", check_count),
        ("top", check_count),
        ("seed", check_seed),
        ("study", check_study_name),
    ):
        value = getattr(args, option, None)
        if value is not None:
            check(value, f"--{option}")


def _load(config: str) -> Any:
    from ..config import load_study

    return load_study(config)


def _require_optimize(study_config: Any) -> Any:
    if study_config.optimize is None:
        raise ConfigurationError(
            f"{study_config.path}: no 'optimize:' section; add one to describe the study"
        )
    return study_config.optimize


def _study_location(args: argparse.Namespace) -> tuple[str, str]:
    """Storage URL and study name from CONFIG and/or --storage/--study."""
    storage, name = args.storage, args.study
    if args.config:
        settings = _require_optimize(_load(args.config))
        name = settings.study_name if name is None else name
        # Without a storage, the folder's study.db or study.log (parallel runs), whichever holds it.
        storage = storage or settings.storage_for(study_name=name)
    if not storage or not name:
        raise ConfigurationError("name the study: give CONFIG, or both --storage URL and --study NAME")
    return storage, name


def _open_study(args: argparse.Namespace) -> optuna.Study:
    """The study CONFIG and/or --storage/--study name, read from a storage that exists.

    Raises:
        ConfigurationError: naming the storage (password hidden) when it or the study does not exist.
    """
    from ..storage import display_storage, open_existing_storage

    url, name = _study_location(args)
    storage = open_existing_storage(url)  # journal:/// and redis:// URLs too, which plain Optuna cannot open
    try:
        return load_study(name, storage)
    except KeyError:
        known = optuna.get_all_study_names(storage=storage)
        raise ConfigurationError(
            f"no study {name!r} in {display_storage(url)}; it holds {known or 'no studies'}"
        ) from None


def _report_path(folder: Path, study_name: str) -> Path:
    """The default report file of a study: ``<folder>/<study name>-report.html``, with the study
    name made a plain file name by the rule every name that becomes a file name follows
    (``_paths.file_stem``: ``/``, ``\\`` and control characters become ``_``, leading dots go),
    so that no study name (``../x``, ``a/b``) reaches a file outside ``folder``. A study name
    is not refused for this: Optuna allows any, and the study may exist already."""
    return folder / file_stem(study_name, "study", "-report.html")


def _estimate(trial: FrozenTrial, metric: str, index: int = 0) -> dict[str, Any]:
    """Mean, SEM and n of objective ``metric`` (the ``index``-th) over the trial's replicates;
    the value Optuna was told, without SEM and n, for trials without replicate statistics."""
    record = TrialRecord.from_trial(trial)
    found = {} if record is None else record.metric_stats(metric)
    value = trial.values[index] if trial.values and len(trial.values) > index else None
    return {"mean": found.get("mean", value), "sem": found.get("sem"), "n": found.get("n")}


def _objective_metrics(study: optuna.Study) -> list[str]:
    settings = StudySettings.from_study(study)
    stored = None if settings is None else settings.metrics
    return stored or study.metric_names or ["value"]


def cmd_run(args: argparse.Namespace) -> int:
    from ..verifiers import ci_text

    study_config = _load(args.config)
    result: Result = study_config.experiment.run(replicates=args.replicates, strategy=args.strategy)
    rows = []
    for condition in [result.metrics.baseline, *result.metrics.treatments.values()]:
        for metric in sorted(condition.metrics):
            summary = condition.summary(metric)
            rows.append([condition.name, metric, summary["mean"], summary["sem"], int(summary["n"])])
    print(table(["condition", "metric", "mean", "SEM", "n"], rows))
    for hypothesis in result.metrics.hypotheses:
        print(
            f"\nhypothesis {hypothesis.name} ({', '.join(hypothesis.metrics)}); best: {hypothesis.ranking.get('best')}"
        )
        hyp_rows = []
        labels: set[tuple[Any, Any]] = set()
        warnings = []
        for treatment, found in hypothesis.results.items():
            parts = [(treatment, found)]
            if "per_metric" in found:  # several metrics: the Holm-adjusted verdict, then each metric
                hyp_rows.append(
                    [treatment, found.get("p_value"), found.get("significant"), None, "(Holm-adjusted)"]
                )
                parts = [(f"  {treatment} ({m})", r) for m, r in found["per_metric"].items()]
            for label, part in parts:
                hyp_rows.append(
                    [label, part.get("p_value"), part.get("significant"), part.get("effect"), ci_text(part)]
                )
                labels.add((part.get("effect_label"), part.get("ci_method")))
            warnings += [f"warning ({treatment}): {note}" for note in found.get("warnings") or ()]
        for treatment, error in hypothesis.errors.items():
            hyp_rows.append([treatment, None, None, None, f"error: {error}"])
        print(table(["treatment", "p-value", "significant", "effect", "CI"], hyp_rows))
        for label, method in sorted(labels, key=str):
            if label:  # what the effect and CI columns are of (verifiers of other sources may not say)
                print(f"effect: {label}" + (f"; CI: {method} interval" if method else ""))
        for warning in warnings:
            print(warning)
    if result.errors:
        print(f"\n{len(result.errors)} replicate(s) failed; first: {result.errors[0]}")
    if args.output:
        result.to_json(args.output)
        print(f"\nresult written to {args.output}")
    return 1 if result.errors and args.strict else 0


def _resources(text: str | None, dask: str | None) -> dict[str, float] | None:
    """``--resources GPU=1,MEM=2`` as a mapping (None when not given).

    Raises:
        ConfigurationError: without ``--dask``, or for an entry that is not NAME=NUMBER.
    """
    if text is None:
        return None
    if dask is None:
        raise ConfigurationError(f"--resources {text} are Dask worker resources: they need --dask ADDRESS")
    found: dict[str, float] = {}
    for entry in text.split(","):
        name, _, value = entry.partition("=")
        try:
            amount = float(value)
        except ValueError:
            amount = -1.0
        if not name.strip() or not amount > 0:
            raise ConfigurationError(
                f"--resources must be NAME=NUMBER[,NAME=NUMBER...], e.g. GPU=1; got {text!r}"
            )
        found[name.strip()] = amount
    return found


def cmd_optimize(args: argparse.Namespace) -> int:
    resources = _resources(args.resources, args.dask)
    if args.dask is not None and args.gpus is not None:
        raise ConfigurationError(
            "--gpus names GPUs of this machine; on a Dask cluster ask for them with --resources GPU=1 "
            "(start the Dask workers with --resources GPU=1)"
        )
    gpus = gpus_option(args)
    if gpus is not None and args.workers == 1:
        use_gpus_in_this_process(gpus, "--gpus")  # before the study's code is imported
    study_config = _load(args.config)
    settings = _require_optimize(study_config)
    if gpus is None and settings.gpus is not None and args.dask is None:
        gpus = settings.gpus
        if args.workers == 1:
            use_gpus_in_this_process(gpus, f"{study_config.path}: optimize.gpus")
    report_path: Path | None = None
    if not args.no_report:  # the worker command never writes the report
        from .._paths import ensure_directory

        name = settings.study_name if args.study is None else args.study
        report_path = Path(args.report) if args.report else _report_path(study_config.folder, name)
        ensure_directory(report_path.parent, "the report")  # a bad path fails before the study is touched
    # --workers N without a storage keeps a new study in a journal file: see OptimizeConfig.storage_for.
    optimizer = settings.make_optimizer(
        storage=args.storage, study_name=args.study, seed=args.seed, workers=args.workers
    )
    experiment = study_config.experiment
    if args.seed is not None:
        from ..plugins import SeedPlugin

        experiment.plugins = [p for p in experiment.plugins if not isinstance(p, SeedPlugin)]
        experiment.plugins.insert(0, SeedPlugin(seed=args.seed))
    trials = settings.trials if args.trials is None else args.trials  # 0 is refused, not "the default"
    replicates = settings.replicates_per_trial if args.replicates is None else args.replicates
    if args.command == "worker":  # one of the processes sharing the study; the tag names it on its trials
        role = WorkerRole(f"{socket.gethostname()}:{os.getpid()}")
        best = experiment._optimize_as_worker(optimizer, trials, replicates, role, progress=not args.quiet)
    else:
        best = experiment.optimize(
            optimizer,
            num_trials=trials,
            replicates_per_trial=replicates,
            progress=not args.quiet,
            workers=args.workers,
            gpus=gpus if args.workers > 1 and args.dask is None else None,
            cluster=args.dask,
            resources=resources,
            upload=args.dask_upload,
        )
    study = optimizer.study
    metric = settings.objective.metrics[0]
    selection = optimizer.selection
    print(f"best {best.name}: {json.dumps(best.params, default=repr)}")
    if selection is None:  # with a selection the winner may be no trial's (model-<i>), see below
        trial = study.trials[int(best.name.split("-")[1])]
        for index, name in enumerate(settings.objective.metrics):
            estimate = _estimate(trial, name, index)
            print(
                f"estimate: {name} = {fmt(estimate['mean'])} ± {fmt(estimate['sem'])} "
                f"(mean ± SEM over n={fmt(estimate['n'])} replicates)"
            )
    from ..storage import display_storage

    print(f"study: {study.study_name!r} in {display_storage(optimizer.storage_url)}")
    if report_path is not None:
        from ..report import write_report

        write_report(study, report_path, plotlyjs=args.plotlyjs)
        print(f"report: {report_path}")
        _save_to_dashboard(study)
    if selection is not None:
        print("\n" + selection_text(selection, metric))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .._paths import ensure_directory
    from ..report import write_report
    from ..storage import on_read_only_file_system

    study = _open_study(args)
    if args.output:
        path = Path(args.output)
    else:
        path = _report_path(_load(args.config).folder if args.config else Path(), study.study_name)
    ensure_directory(path.parent, "the report")
    # A study read from read-only media has its default report beside it: say so before the
    # report is built (seconds for a large study), and if the write fails all the same.
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        read_only = on_read_only_file_system(path.parent)
        raise _unwritable_report(path, os.strerror(errno.EROFS if read_only else errno.EACCES))
    try:
        write_report(study, path, plotlyjs=args.plotlyjs)
    except OSError as exc:
        raise _unwritable_report(path, exc.strerror or str(exc)) from exc
    print(f"report: {path}")
    return 0


def _save_to_dashboard(study: optuna.Study) -> None:
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

    url, name = _study_location(args)
    _open_study(args)  # the storage and the study exist: nothing is created below
    storage = resolve_storage(url)  # writable: the dashboard saves notes too
    study = load_study(name, storage)
    _save_to_dashboard(study)
    page = f"http://{args.host}:{args.port}/dashboard/studies/{study_id(study)}"
    print(f"optuna-dashboard on {display_storage(url)}: {page} (Ctrl+C stops it)", flush=True)
    optuna_dashboard.run_server(storage, host=args.host, port=args.port)
    return 0


def _unwritable_report(path: Path, why: str) -> ConfigurationError:
    return ConfigurationError(
        f"cannot write the report {str(path)!r} ({why}); write it elsewhere with --output FILE"
    )


def cmd_best(args: argparse.Namespace) -> int:
    """Print ``{name: params}`` of the best treatment: a noise-aware study's selected winner, else
    the best trial's. For a selection, JSON adds a ``"selection"`` key (never a winner's name, which
    is ``trial-<n>`` or ``model-<i>``) and YAML adds its summary as comments, so both stay ready to
    paste into ``treatments:``."""
    study = _open_study(args)
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
            text = selection_text(selection, _objective_metrics(study)[0])
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
    study = _open_study(args)
    metrics = _objective_metrics(study)
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
        estimates = [_estimate(trial, metric, index) for index, metric in enumerate(metrics)]
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


def cmd_worker(args: argparse.Namespace) -> int:
    """One worker of a shared study: the optimize command without report."""
    return cmd_optimize(args)
