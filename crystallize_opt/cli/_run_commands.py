"""The commands that run a study folder's experiment: ``run``, ``optimize`` and ``worker``."""

from __future__ import annotations

import argparse
import json
import os
import socket
from pathlib import Path
from typing import Any

from ..exceptions import ConfigurationError
from ..optimize import WorkerRole
from ..result import Result
from ._gpus import gpus_option, use_gpus_in_this_process
from ._study import (
    default_report_path,
    load_config,
    require_optimize,
    store_dashboard_figures,
    trial_estimate,
)
from ._tables import fmt, selection_text, table


def cmd_run(args: argparse.Namespace) -> int:
    from ..verifiers import ci_text

    study_config = load_config(args.config)
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
    study_config = load_config(args.config)
    settings = require_optimize(study_config)
    if gpus is None and settings.gpus is not None and args.dask is None:
        gpus = settings.gpus
        if args.workers == 1:
            use_gpus_in_this_process(gpus, f"{study_config.path}: optimize.gpus")
    report_path: Path | None = None
    if not args.no_report:  # the worker command never writes the report
        from .._paths import ensure_directory

        name = settings.study_name if args.study is None else args.study
        report_path = Path(args.report) if args.report else default_report_path(study_config.folder, name)
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
            estimate = trial_estimate(trial, name, index)
            print(
                f"estimate: {name} = {fmt(estimate['mean'])} ± {fmt(estimate['sem'])} "
                f"(mean ± SEM over n={fmt(estimate['n'])} replicates)"
            )
    from ..storage import display_storage

    print(f"study: {study.study_name!r} in {display_storage(optimizer.storage_url)}")
    if report_path is not None:
        from ..report import write_report

        # --plotlyjs wins over the config's report.plotlyjs (the default when it has none).
        plotlyjs = study_config.report.plotlyjs if args.plotlyjs is None else args.plotlyjs
        write_report(study, report_path, plotlyjs=plotlyjs)
        print(f"report: {report_path}")
        store_dashboard_figures(study)
    if selection is not None:
        print("\n" + selection_text(selection, metric))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """One worker of a shared study: the optimize command without report."""
    return cmd_optimize(args)
