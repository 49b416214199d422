"""The optimization loop: ask, run a trial's seeded replicates, tell; then return the best."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from .._checks import check_count, check_replicates
from .._logging import get_logger
from .._signals import deferred_signals
from .._version import __version__
from ..exceptions import ConfigurationError, OptimizationError, StorageError
from ..plugins import SEED_SCHEME, SEEDSEQUENCE_SCHEME, derive_seed, replicate_seed
from ..treatment import Treatment
from ._base import BaseOptimizer, OptimizationRun, WorkerRole
from ._collaborators import LoopCollaborators, collaborators_of
from ._evaluation import TrialEvaluation
from ._progress import TrialProgress, execution_bar

if TYPE_CHECKING:
    from ..context import CurveReporter
    from ..result import ConditionOutcome

_log = get_logger("optimize")


class Evaluate(Protocol):
    """``evaluate(treatment, {replicate: seed}, scope)`` runs replicates through the experiment's
    execution plugin and returns their outcomes; ``reporter``, when given, hears each replicate's
    learning curve as its steps report it (and may stop it: see :class:`CurveReporter`)."""

    def __call__(
        self,
        treatment: Treatment | None,
        seeds: Mapping[int, int],
        scope: str,
        /,
        *,
        reporter: CurveReporter | None = None,
    ) -> Awaitable[Sequence[ConditionOutcome]]: ...


class OptimizableExperiment(Protocol):
    """What the loop needs from an experiment (kept narrow so optimize never imports experiment)."""

    name: str

    @property
    def master_seed(self) -> int: ...

    def _pipeline_signature(self) -> str: ...


def trial_replicate_seed(
    master_seed: int, replicate: int, trial_key: int | None, scheme: str = SEED_SCHEME
) -> int:
    """Seed of replicate ``replicate`` of a trial.

    Shared by every trial (``trial_key`` None: common random numbers): the seed replicate
    ``replicate`` of the experiment gets, :func:`~crystallize_opt.replicate_seed`; under
    ``scheme`` ``"seedsequence"`` (a study of an earlier release, see ``seed_scheme_of``)
    ``derive_seed(master_seed, replicate)``, what its trials ran on. Per trial
    (``trial_key`` the trial's number): ``derive_seed(master_seed, replicate, trial_key + 1)``
    under either scheme, an independent stream for each trial and replicate.
    """
    if trial_key is not None:
        return derive_seed(master_seed, replicate, trial_key + 1)
    if scheme == SEEDSEQUENCE_SCHEME:
        return derive_seed(master_seed, replicate)
    return replicate_seed(master_seed, replicate)


def trial_replicate_seeds(
    master_seed: int, replicates: int, trial_key: int | None, scheme: str = SEED_SCHEME
) -> list[int]:
    """Seeds of replicates ``0 .. replicates - 1`` (see :func:`trial_replicate_seed`)."""
    return [trial_replicate_seed(master_seed, r, trial_key, scheme) for r in range(replicates)]


def to_evaluation(
    treatment: Treatment | None, outcomes: Sequence[ConditionOutcome], duration: float
) -> TrialEvaluation:
    """Turn the outcomes of one treatment's replicates into a :class:`TrialEvaluation`.

    A replicate a pruner stopped counts only with its learning curve and where it stopped
    (``pruned``): its metrics are those of an unfinished training, not a replicate's result."""
    pruned = next((o.pruned for o in outcomes if o.pruned is not None), None)
    finished = [o for o in outcomes if o.pruned is None]
    return TrialEvaluation.from_metrics(
        treatment,
        [o.replicate for o in finished],
        [int(o.seed) if o.seed is not None else -1 for o in finished],
        [o.metrics for o in finished],
        [o.error for o in finished if o.error is not None],
        duration,
        curves={o.replicate: o.curve for o in outcomes if o.curve},
        pruned=pruned,
    )


async def _evaluate_trial(
    parts: LoopCollaborators, evaluate: Evaluate, treatment: Treatment, seeds: dict[int, int]
) -> tuple[TrialEvaluation, bool]:
    scope = f"trials/{treatment.name}"
    started = time.perf_counter()
    if not parts.plan.reports_replicates:
        outcomes = await evaluate(treatment, seeds, scope)
        return to_evaluation(treatment, outcomes, time.perf_counter() - started), False
    done: list[ConditionOutcome] = []
    last = len(seeds) - 1
    reporter = parts.plan.curve_reporter(treatment)
    for position, (replicate, seed) in enumerate(seeds.items()):
        if reporter is None:
            done.extend(await evaluate(treatment, {replicate: seed}, scope))
        else:
            done.extend(await evaluate(treatment, {replicate: seed}, scope, reporter=reporter))
        evaluation = to_evaluation(treatment, done, time.perf_counter() - started)
        if evaluation.pruned is not None:  # stopped inside the replicate, by its learning curve
            return evaluation, True
        if evaluation.failed:
            return evaluation, False
        # Every replicate is reported (Optuna keeps it as an intermediate value); only a
        # trial with replicates left can stop early.
        if parts.plan.report_replicate(treatment, evaluation) and position < last:
            evaluation.pruned = parts.plan.stop_reason(treatment)
            return evaluation, True
    return to_evaluation(treatment, done, time.perf_counter() - started), False


def _check_metrics(optimizer: BaseOptimizer, parts: LoopCollaborators, evaluation: TrialEvaluation) -> None:
    """An objective metric that a cleanly finished trial never recorded is a configuration error."""
    if evaluation.failed or (evaluation.pruned is not None and not evaluation.replicates):
        return
    missing = [m for m in optimizer.objective.required_metrics if not evaluation.complete_values(m)]
    if missing:
        assert evaluation.treatment is not None
        message = (
            f"the pipeline never recorded objective metric(s) {missing}; "
            f"it recorded {evaluation.recorded_metrics or 'no metrics at all'}"
        )
        parts.recorder.abort(evaluation.treatment, message)
        raise ConfigurationError(message)


async def _run_trial(
    optimizer: BaseOptimizer,
    parts: LoopCollaborators,
    evaluate: Evaluate,
    treatment: Treatment,
    run: OptimizationRun,
    common_seeds: list[int],
    replicates_per_trial: int,
    best_value: float | None,
    failures: list[str],
) -> float | None:
    """Evaluate and tell one trial; return the best single-objective value seen so far."""
    planned = parts.plan.replicate_indices(treatment)
    if planned is None and optimizer.common_random_numbers:
        seeds = dict(enumerate(common_seeds))
    else:
        key = None if optimizer.common_random_numbers else parts.plan.trial_key(treatment)
        replicate_indices = range(replicates_per_trial) if planned is None else planned
        scheme = parts.plan.seed_scheme
        seeds = {r: trial_replicate_seed(run.master_seed, r, key, scheme) for r in replicate_indices}
    with parts.recorder.running(treatment):
        evaluation, pruned = await _evaluate_trial(parts, evaluate, treatment, seeds)
    with deferred_signals():
        _check_metrics(optimizer, parts, evaluation)
        parts.recorder.tell_evaluation(evaluation, pruned=pruned)
    if evaluation.failed:
        failures.append(f"{treatment.name}: {evaluation.failure_reason()}")
        return best_value
    if optimizer.objective.is_multi_objective or pruned:
        return best_value
    value = evaluation.objective_values(optimizer.objective)[optimizer.objective.metrics[0]]
    minimize = optimizer.objective.directions[0] == "minimize"
    if math.isfinite(value) and (
        best_value is None or (value < best_value if minimize else value > best_value)
    ):
        return value
    return best_value


def make_run(
    experiment: OptimizableExperiment,
    num_trials: int,
    replicates_per_trial: int,
    worker: WorkerRole | None = None,
) -> OptimizationRun:
    """Check the counts and describe the optimization for :meth:`BaseOptimizer.prepare`.

    Raises:
        ConfigurationError: if a count is not a positive integer, or ``replicates_per_trial``
            is above ``MAX_REPLICATES`` (10,000).
    """
    return OptimizationRun(
        experiment_name=experiment.name,
        master_seed=experiment.master_seed,
        replicates_per_trial=check_replicates(replicates_per_trial, "replicates_per_trial"),
        num_trials=check_count(num_trials, "num_trials"),
        pipeline_signature=experiment._pipeline_signature(),
        package_version=__version__,
        worker=worker,
    )


async def run_optimization(
    experiment: OptimizableExperiment,
    evaluate: Evaluate,
    optimizer: BaseOptimizer,
    num_trials: int,
    replicates_per_trial: int,
    *,
    progress: bool = False,
    worker: WorkerRole | None = None,
) -> Treatment:
    """Run ``optimizer`` against ``experiment`` and return the best treatment.

    ``evaluate(treatment, {replicate: seed}, scope)`` runs replicates through the experiment's
    execution plugin. Every trial runs exactly ``replicates_per_trial`` pipeline executions
    (fewer when the optimizer stops a poor trial early); the baseline is evaluated at most once,
    when the optimizer asks for it. ``worker``: this process's part in a study shared by
    several processes (None: it runs the search alone).

    Raises:
        ConfigurationError: for a non-positive ``num_trials``/``replicates_per_trial`` or an
            objective metric the pipeline never records (raised at the first clean trial).
        OptimizationError: when no trial succeeded, quoting the first failures.
        KeyboardInterrupt: after storing the interrupted trial as failed.
    """
    if not isinstance(optimizer, BaseOptimizer):
        raise ConfigurationError(f"optimizer must be a BaseOptimizer, got {type(optimizer).__name__}")
    run = make_run(experiment, num_trials, replicates_per_trial, worker)
    optimizer.prepare(run)
    parts = collaborators_of(optimizer)
    schedule = parts.schedule
    # After prepare: it opens a stored study, which decides the seed scheme.
    common_seeds = trial_replicate_seeds(run.master_seed, replicates_per_trial, None, parts.plan.seed_scheme)
    already = schedule.finished_count()
    _log.info(
        "optimizing %r: target %d trial(s), %d replicate(s) each",
        run.experiment_name,
        num_trials,
        replicates_per_trial,
    )
    if parts.baseline.wanted():
        started = time.perf_counter()
        outcomes = await evaluate(None, dict(enumerate(common_seeds)), "trials/baseline")
        parts.baseline.tell(to_evaluation(None, outcomes, time.perf_counter() - started))
    budget = schedule.budget_progress()
    bar = (
        TrialProgress(
            progress, total=num_trials, initial=min(already or 0, num_trials), description=run.experiment_name
        )
        if budget is None or not progress
        else execution_bar(run.experiment_name, budget)
    )
    best_value: float | None = None
    failures: list[str] = []
    rounds = 0
    try:
        while (action := schedule.next_action(num_trials, rounds)) != "stop":
            if action == "wait":
                await asyncio.sleep(schedule.poll_interval)
                continue
            rounds += 1
            try:
                with deferred_signals():
                    treatments = optimizer.ask()
                for treatment in treatments:
                    best_value = await _run_trial(
                        optimizer,
                        parts,
                        evaluate,
                        treatment,
                        run,
                        common_seeds,
                        replicates_per_trial,
                        best_value,
                        failures,
                    )
                    spent = schedule.budget_progress()
                    bar.advance(best_value, to=None if spent is None else spent[0])
            except BaseException as exc:  # Ctrl+C or SIGTERM at any point of a trial
                with deferred_signals():  # a second Ctrl+C must not cut the storing of this one short
                    parts.recorder.abort_pending(f"interrupted: {type(exc).__name__}: {exc}")
                raise
            if schedule.is_exhausted:
                _log.info("the optimizer has explored its whole search space; stopping")
                break
        # The bar stays open while the winner is chosen: with a budget of executions, the
        # confirmation and held-out runs are part of it (a budget's bar ends at the budget).
        best = await finish_optimization(
            optimizer, evaluate, failures, executed=None if budget is None else bar.add
        )
        if budget is not None and progress:  # a selection stored before this run ran nothing: count it
            spent = schedule.budget_progress()
            bar.advance(best_value, to=None if spent is None else spent[0])
        return best
    finally:
        bar.close()


async def finish_optimization(
    optimizer: BaseOptimizer,
    evaluate: Evaluate,
    failures: Sequence[str] = (),
    *,
    executed: Callable[[int], None] | None = None,
) -> Treatment:
    """Let ``optimizer``'s finalizer end its search (e.g. choose the winner of a noise-aware
    search), then return its best treatment. ``executed(n)`` is called after each evaluation
    the finalizer runs, with its number of pipeline executions (the progress bar counts them).

    Raises:
        OptimizationError: when nothing succeeded (quoting ``failures``, the first trials' reasons).
    """

    async def evaluate_replicates(
        treatment: Treatment | None, seeds: Mapping[int, int], scope: str
    ) -> TrialEvaluation:
        started = time.perf_counter()
        outcomes = await evaluate(treatment, seeds, scope)
        if executed is not None:
            executed(len(seeds))
        return to_evaluation(treatment, outcomes, time.perf_counter() - started)

    await collaborators_of(optimizer).finalizer.finalize(evaluate_replicates)
    try:
        return optimizer.get_best_treatment()
    except StorageError:  # the trials could not be read: whether they failed is unknown
        raise
    except OptimizationError as exc:
        if failures:
            raise OptimizationError(
                f"every trial failed; first failures: {' | '.join(failures[:3])}"
            ) from exc
        raise
