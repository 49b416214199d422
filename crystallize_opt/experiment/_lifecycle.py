"""One run of an experiment, start to end: the overrides of a run on a view of the experiment,
``before_run``, the replicates of every condition, the Result and its hypotheses, ``after_run``;
and the single pass of :meth:`Experiment.apply`. The Experiment class delegates here, so it
holds the experiment's definition and its documented entry points, not their lifecycles."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import TYPE_CHECKING, Any

from .. import _constants as C
from .._checks import check_replicates
from ..exceptions import ConfigurationError
from ..hypothesis import Hypothesis
from ..plugins import SEED_SCHEME, ArtifactPlugin
from ..result import Result
from ..treatment import Treatment
from ._aggregate import build_result
from ._dispatch import execute
from ._runner import ReplicateTask, steps_set_up
from ._sync import ensure_no_running_loop
from ._validation import check_structure, hypothesis_list, treatment_list

if TYPE_CHECKING:
    from ._experiment import Experiment

#: The values of ``strategy`` a run accepts.
STRATEGIES = ("rerun", "resume")


async def run_experiment(
    experiment: Experiment,
    treatments: list[Treatment] | None,
    hypotheses: list[Hypothesis] | None,
    replicates: int | None,
    strategy: str | None,
) -> Result:
    """:meth:`Experiment.arun` (its docstring states the behaviour)."""
    strategy = strategy or getattr(experiment, "strategy", None) or "rerun"
    if strategy not in STRATEGIES:
        raise ConfigurationError(f"strategy must be one of {list(STRATEGIES)}, got {strategy!r}")
    active_treatments = experiment.treatments if treatments is None else treatment_list(treatments)
    baseline, active_treatments = split_baseline(active_treatments)
    active_hypotheses = experiment.hypotheses if hypotheses is None else hypothesis_list(hypotheses)
    if replicates is None:
        count = stated_replicates(experiment.datasource) or experiment.replicates
    else:
        count = check_replicates(replicates, "replicates")
    # The run's overrides go to a view of the experiment, never into it: plugins read
    # experiment.replicates etc. of the run, and the experiment object stays as the user built it.
    run = run_view(experiment, active_treatments, active_hypotheses, count)
    run.validate()
    if strategy == "resume":
        artifact_plugin = run.get_plugin(ArtifactPlugin)
        if artifact_plugin is None:
            raise ConfigurationError('strategy="resume" needs an ArtifactPlugin to read stored results from')
        artifact_plugin.prepare_resume()
    for plugin in run.plugins:
        plugin.before_run(run)
    conditions: list[Treatment | None] = [baseline, *active_treatments]
    task = ReplicateTask(
        run,
        conditions,
        range(count),
        fingerprints={condition_name(t): condition_fingerprint(run, t) for t in conditions},
        resume=strategy == "resume",
    )
    outcomes = await execute(run, task)
    result = build_result(run, outcomes, [condition_name(t) for t in conditions], active_hypotheses, strategy)
    for plugin in run.plugins:
        plugin.after_run(run, result)
    return result


def apply_once(
    experiment: Experiment, treatment: Treatment | None, data: Any | None, seed: int | None
) -> Any:
    """:meth:`Experiment.apply` (its docstring states the behaviour)."""
    if treatment is not None and not isinstance(treatment, Treatment):
        raise ConfigurationError(f"apply() expects a Treatment or None, got {type(treatment).__name__}")
    check_structure(experiment)
    baseline, others = split_baseline([] if treatment is None else [treatment])
    conditions: list[Treatment | None] = [baseline, *others]
    run = run_view(experiment, others, [], 1, applying=True)
    task = ReplicateTask(
        run,
        [treatment],
        [0],
        seeds=None if seed is None else {0: int(seed)},
        scope="apply",
        keep_output=True,
        data=data,
        data_given=data is not None,
    )
    if task.is_async:
        ensure_no_running_loop("apply", "arun")
    for plugin in run.plugins:
        plugin.before_run(run)
    with steps_set_up(run):
        outcome = task(0)[0]
    names = [condition_name(t) for t in conditions]
    result = build_result(run, [[outcome]], names, [], "apply")
    for plugin in run.plugins:
        plugin.after_run(run, result)
    if outcome.exception is not None:
        raise outcome.exception
    return outcome.output


def stated_replicates(datasource: Any) -> int | None:
    """The replicate count ``datasource`` states (its ``replicates``: e.g. an artifact's producer
    count), when it is a positive integer; a run without ``replicates=`` uses it, as in
    crystallize-ml."""
    stated = getattr(datasource, "replicates", None)
    if isinstance(stated, int) and not isinstance(stated, bool) and stated > 0:
        return stated
    return None


def split_baseline(treatments: list[Treatment]) -> tuple[Treatment | None, list[Treatment]]:
    """The treatment named ``"baseline"`` (None when there is none), which the baseline
    condition applies (as in crystallize-ml), and the other treatments, in order."""
    baseline = next((t for t in treatments if t.name == C.BASELINE_CONDITION), None)
    return baseline, [t for t in treatments if t.name != C.BASELINE_CONDITION]


def condition_name(treatment: Treatment | None) -> str:
    """The name of a condition in results: ``"baseline"`` or the treatment's name."""
    return C.BASELINE_CONDITION if treatment is None else treatment.name


def condition_fingerprint(experiment: Experiment, treatment: Treatment | None) -> str:
    """Identify what a stored result of ``treatment`` depends on (code, params, seed, count,
    and how replicate seeds follow from the seed: records of releases before crystallize-ml's
    formula, which lack it, are rerun on resume, never mixed with this release's seeds)."""
    parts = [
        experiment.pipeline.signature(),
        experiment.datasource.fingerprint(),
        C.BASELINE_CONDITION if treatment is None else treatment.fingerprint(),
        str(experiment.replicates),
        str(experiment.master_seed),
        json.dumps(experiment.initial_ctx, sort_keys=True, default=repr),
        SEED_SCHEME,
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def run_view(
    experiment: Experiment,
    treatments: list[Treatment],
    hypotheses: list[Hypothesis],
    replicates: int,
    *,
    applying: bool = False,
) -> Experiment:
    """A shallow copy of ``experiment`` carrying one run's overrides, which its plugins read
    (``experiment.replicates``, ``treatments``, ``hypotheses``, ``applying``); the experiment is
    left unchanged, during the run and after it. The copy shares the pipeline, the datasource
    and the plugins (same objects); only the overridden fields differ."""
    view = copy.copy(experiment)
    view.treatments, view.hypotheses, view.replicates = treatments, hypotheses, replicates
    view.applying = applying
    return view
