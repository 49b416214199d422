"""The optimization loop: ask, run a trial's seeded replicates, tell; then return the best."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from .._logging import get_logger
from .._version import __version__
from ..exceptions import ConfigurationError, OptimizationError
from ..plugins import derive_seed
from ..treatment import Treatment
from ._base import BaseOptimizer, OptimizationRun
from ._evaluation import TrialEvaluation
from ._progress import TrialProgress

if TYPE_CHECKING:
    from ..experiment._runner import ConditionOutcome

_log = get_logger("optimize")

Evaluate = Callable[[Treatment | None, Mapping[int, int], str], Awaitable[Sequence["ConditionOutcome"]]]


class OptimizableExperiment(Protocol):
    """What the loop needs from an experiment (kept narrow so optimize never imports experiment)."""

    name: str

    @property
    def master_seed(self) -> int: ...

    def _pipeline_signature(self) -> str: ...


def _positive(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{what} must be a positive integer, got {value!r}")
    return value


def replicate_seeds(master_seed: int, replicates: int, trial_key: int | None) -> list[int]:
    """Seeds of a trial's replicates: shared by every trial (``trial_key`` None) or per trial."""
    if trial_key is None:
        return [derive_seed(master_seed, r) for r in range(replicates)]
    return [derive_seed(master_seed, r, trial_key + 1) for r in range(replicates)]


def to_evaluation(
    treatment: Treatment | None, outcomes: Sequence[ConditionOutcome], duration: float
) -> TrialEvaluation:
    """Turn the outcomes of one treatment's replicates into a :class:`TrialEvaluation`."""
    return TrialEvaluation.from_metrics(
        treatment,
        [o.replicate for o in outcomes],
        [int(o.seed) if o.seed is not None else -1 for o in outcomes],
        [o.metrics for o in outcomes],
        [o.error for o in outcomes if o.error is not None],
        duration,
    )


async def _evaluate_trial(
    optimizer: BaseOptimizer, evaluate: Evaluate, treatment: Treatment, seeds: list[int]
) -> tuple[TrialEvaluation, bool]:
    scope = f"trials/{treatment.name}"
    started = time.perf_counter()
    if not optimizer.reports_replicates:
        outcomes = await evaluate(treatment, dict(enumerate(seeds)), scope)
        return to_evaluation(treatment, outcomes, time.perf_counter() - started), False
    done: list[ConditionOutcome] = []
    for replicate, seed in enumerate(seeds):
        done.extend(await evaluate(treatment, {replicate: seed}, scope))
        evaluation = to_evaluation(treatment, done, time.perf_counter() - started)
        if evaluation.failed:
            return evaluation, False
        if replicate < len(seeds) - 1 and optimizer.report_replicate(treatment, evaluation):
            return evaluation, True
    return to_evaluation(treatment, done, time.perf_counter() - started), False


def _check_metrics(optimizer: BaseOptimizer, evaluation: TrialEvaluation) -> None:
    """An objective metric that a cleanly finished trial never recorded is a configuration error."""
    if evaluation.failed:
        return
    missing = [m for m in optimizer.objective.required_metrics if not evaluation.complete_values(m)]
    if missing:
        assert evaluation.treatment is not None
        message = (
            f"the pipeline never recorded objective metric(s) {missing}; "
            f"it recorded {evaluation.recorded_metrics or 'no metrics at all'}"
        )
        optimizer.abort(evaluation.treatment, message)
        raise ConfigurationError(message)


async def run_optimization(
    experiment: OptimizableExperiment,
    evaluate: Evaluate,
    optimizer: BaseOptimizer,
    num_trials: int,
    replicates_per_trial: int,
    *,
    progress: bool = False,
) -> Treatment:
    """Run ``optimizer`` against ``experiment`` and return the best treatment.

    ``evaluate(treatment, {replicate: seed}, scope)`` runs replicates through the experiment's
    execution plugin. Every trial runs exactly ``replicates_per_trial`` pipeline executions
    (fewer when the optimizer stops a poor trial early); the baseline is evaluated at most once,
    when the optimizer asks for it.

    Raises:
        ConfigurationError: for a non-positive ``num_trials``/``replicates_per_trial`` or an
            objective metric the pipeline never records (raised at the first clean trial).
        OptimizationError: when no trial succeeded, quoting the first failures.
        KeyboardInterrupt: after storing the interrupted trial as failed.
    """
    if not isinstance(optimizer, BaseOptimizer):
        raise ConfigurationError(f"optimizer must be a BaseOptimizer, got {type(optimizer).__name__}")
    _positive(num_trials, "num_trials")
    _positive(replicates_per_trial, "replicates_per_trial")
    run = OptimizationRun(
        experiment_name=experiment.name,
        master_seed=experiment.master_seed,
        replicates_per_trial=replicates_per_trial,
        num_trials=num_trials,
        pipeline_signature=experiment._pipeline_signature(),
        package_version=__version__,
    )
    optimizer.prepare(run)
    rounds = optimizer.rounds_to_run(num_trials)
    common_seeds = replicate_seeds(run.master_seed, replicates_per_trial, None)
    _log.info(
        "optimizing %r: %d trial(s) to run, %d replicate(s) each",
        run.experiment_name,
        rounds,
        replicates_per_trial,
    )
    if optimizer.wants_baseline():
        started = time.perf_counter()
        outcomes = await evaluate(None, dict(enumerate(common_seeds)), "trials/baseline")
        optimizer.tell_baseline(to_evaluation(None, outcomes, time.perf_counter() - started))
    bar = TrialProgress(
        progress, total=num_trials, initial=num_trials - rounds, description=run.experiment_name
    )
    best_value: float | None = None
    failures: list[str] = []
    try:
        for _ in range(rounds):
            for treatment in optimizer.ask():
                seeds = (
                    common_seeds
                    if optimizer.common_random_numbers
                    else replicate_seeds(
                        run.master_seed, replicates_per_trial, optimizer.trial_number(treatment)
                    )
                )
                try:
                    evaluation, pruned = await _evaluate_trial(optimizer, evaluate, treatment, seeds)
                except BaseException as exc:  # Ctrl+C or a broken execution plugin
                    optimizer.abort(treatment, f"interrupted: {type(exc).__name__}: {exc}")
                    raise
                _check_metrics(optimizer, evaluation)
                optimizer.tell_evaluation(evaluation, pruned=pruned)
                if evaluation.failed:
                    failures.append(f"{treatment.name}: {evaluation.failure_reason()}")
                elif not optimizer.objective.is_multi_objective and not pruned:
                    value = evaluation.objective_values(optimizer.objective)[optimizer.objective.metrics[0]]
                    better = best_value is None or (
                        value < best_value
                        if optimizer.objective.directions[0] == "minimize"
                        else value > best_value
                    )
                    if math.isfinite(value) and better:
                        best_value = value
                bar.advance(best_value)
            if optimizer.is_exhausted:
                _log.info("the optimizer has explored its whole search space; stopping early")
                break
    finally:
        bar.close()
    try:
        return optimizer.get_best_treatment()
    except OptimizationError as exc:
        if failures:
            raise OptimizationError(
                f"every trial failed; first failures: {' | '.join(failures[:3])}"
            ) from exc
        raise
