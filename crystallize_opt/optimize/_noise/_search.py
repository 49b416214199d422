"""Noise-aware search on an Optuna study: what the Optuna adapter delegates to when
``noise=`` is set (trial plans, racing, pooled values told, intensification, the winner)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from ...exceptions import ConfigurationError
from ...records import TrialRecord, WinnerSelection
from ...treatment import Treatment
from .._base import EvaluateReplicates
from .._evaluation import TrialEvaluation
from .._objective import Objective
from .._space import SearchSpace
from .._study import treatment_params
from ._encoding import UnitCube
from ._policy import NoisePolicy, TrialPlan
from ._selection import select_winner
from ._settings import NoiseHandling

_OBSERVED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def check_noise_settings(
    noise: NoiseHandling | bool | None, objective: Objective, common_random_numbers: bool
) -> NoiseHandling | None:
    """The settings to use (``True``: the defaults), after checking they fit the objective.

    Raises:
        ConfigurationError: for a multi-objective or constrained objective, an aggregate other
            than the mean, independent seeds per trial, or a value that is not settings.
    """
    if noise is None or noise is False:
        return None
    if noise is True:
        noise = NoiseHandling()
    if not isinstance(noise, NoiseHandling):
        raise ConfigurationError(f"noise must be a NoiseHandling, True or None, got {type(noise).__name__}")
    if objective.is_multi_objective or objective.constraints:
        raise ConfigurationError("noise handling supports a single objective without constraints")
    if objective.aggregate != "mean":
        raise ConfigurationError(
            f"noise handling pools replicates by their mean; the objective's aggregate is {objective.aggregate!r}"
        )
    if not common_random_numbers:
        raise ConfigurationError(
            "noise handling compares trials on the same seeds (paired); it needs common_random_numbers=True"
        )
    return noise


class NoiseSearch:
    """The noise-aware side of one :class:`OptunaOptimizer` run.

    Args:
        settings: the noise settings.
        objective: the single objective.
        space: the search space (a dict space lets the model rank parameter sets).
        budget: pipeline executions in all.
    """

    def __init__(self, settings: NoiseHandling, objective: Objective, space: SearchSpace, budget: int):
        self.metric = objective.metrics[0]
        self.policy = NoisePolicy(settings, budget, objective.directions[0] == "minimize")
        self.unit_cube = None if space.is_conditional else UnitCube(space.distributions)
        self._plans: dict[str, TrialPlan] = {}

    # -- following the study -------------------------------------------------------------------

    def sync(self, study: optuna.Study) -> None:
        """Observe every finished trial not seen yet, in number order (all of them on resume,
        other workers' trials in a shared study). Queued intensification trials are already
        in the study, so nothing is queued here."""
        for trial in study.get_trials(deepcopy=False, states=_OBSERVED_STATES):
            if trial.number not in self.policy.observed:
                self._observe_stored(trial)

    def _observe_stored(self, trial: FrozenTrial) -> None:
        record = TrialRecord.from_trial(trial)
        replicates = None if record is None else record.replicates
        if record is None or replicates is None:  # given up before running ("not needed") or interrupted
            self.policy.observed.add(trial.number)
            return
        column = (record.values or {}).get(self.metric) or []
        values = None
        if trial.state != TrialState.FAIL and len(column) == len(replicates):
            values = {int(r): float(v) for r, v in zip(replicates, column, strict=True) if v is not None}
        params = treatment_params(trial)
        self._observe(
            trial.number, params, trial.params, values, len(replicates), record.executions, record.noise
        )

    def _observe(
        self,
        number: int,
        params: Mapping[str, Any],
        trial_params: Mapping[str, Any],
        values: dict[int, float] | None,
        finished: int,
        executions: float,
        facts: Mapping[str, Any] | None,
    ) -> dict[str, Any] | None:
        """Observe a trial: ``values`` of its ``finished`` replicates (all must have a finite
        value, else none counts), ``executions`` spent, by cost (a replicate stopped inside its
        learning curve spent the share of its steps it ran, without a value)."""
        if values is not None and (
            len(values) < finished or not all(math.isfinite(v) for v in values.values())
        ):
            values = None
        wanted = self.policy.observe(number, params, trial_params, values, executions, facts)
        incumbent = self.policy.incumbent
        return dict(incumbent.trial_params) if wanted and incumbent is not None else None

    # -- one trial -----------------------------------------------------------------------------

    def replicates_for(self, treatment: Treatment) -> list[int]:
        """The replicate indices ``treatment``'s trial runs (its seeds follow from them)."""
        plan = self.policy.plan_trial(treatment.params)
        self._plans[treatment.name] = plan
        return plan.replicates

    def checks_noise(self, treatment: Treatment) -> bool:
        """True when ``treatment``'s trial is the noise check (two replicates of the first
        parameters: whether the pipeline is noisy at all)."""
        plan = self._plans.get(treatment.name)
        return plan is not None and self.policy.incumbent is None and len(plan.replicates) > 1

    def should_stop(
        self, treatment: Treatment, evaluation: TrialEvaluation, pruner: Callable[[], bool] | None = None
    ) -> bool:
        """After each replicate of a racing trial: ``pruner()`` when given (an Optuna pruner
        decides), else the paired racing rule. Trials that do not race (the noise check,
        another replicate of known parameters) never stop early."""
        plan = self._plans.get(treatment.name)
        if plan is None or not plan.races:
            return False
        if pruner is not None:
            return pruner()
        return self.policy.should_stop(treatment.params, self._values(evaluation))

    def finish(
        self,
        number: int,
        trial_params: Mapping[str, Any],
        evaluation: TrialEvaluation,
        *,
        stopped: bool,
        failed: bool,
    ) -> tuple[float, dict[str, Any] | None, dict[str, Any]]:
        """Observe a finished trial; return the value to tell (its parameters' pooled mean),
        parameters to queue for intensification (or None), and its racing facts (for
        :attr:`TrialRecord.noise`, where a resumed search reads them back). A failed trial only
        counts its executions."""
        assert evaluation.treatment is not None
        treatment = evaluation.treatment
        plan = self._plans.pop(treatment.name, None) or TrialPlan(
            list(evaluation.replicates), len(evaluation.replicates), False
        )
        values = None
        if not failed:
            values = self._values(evaluation)
        facts = NoisePolicy.record(plan, stopped, (math.nan, 0))
        wanted = self._observe(
            number,
            treatment.params,
            trial_params,
            values,
            len(evaluation.replicates),
            evaluation.executions,
            facts,
        )
        pooled = self.policy.pooled_mean(treatment.params)
        facts.update(pooled_mean=pooled[0], pooled_n=pooled[1])
        return pooled[0], wanted, facts

    def _values(self, evaluation: TrialEvaluation) -> dict[int, float]:
        """The objective's value per replicate index (replicates without one left out)."""
        column = evaluation.values.get(self.metric, [])
        return {r: v for r, v in zip(evaluation.replicates, column, strict=False) if v is not None}

    def forget(self, treatment: Treatment) -> None:
        self._plans.pop(treatment.name, None)

    # -- the end -------------------------------------------------------------------------------

    @property
    def noisy(self) -> bool:
        """True once the first trial's replicates differed (the pipeline is noisy)."""
        return self.policy.deterministic is False

    @property
    def deterministic(self) -> bool | None:
        """What the noise check found: True when the first trial's replicates were identical,
        False when they differed, None before it ended."""
        return self.policy.deterministic

    @property
    def search_done(self) -> bool:
        return self.policy.search_left <= 0

    def progress(self, study: optuna.Study) -> tuple[float, int]:
        """Pipeline executions spent, and the budget (``num_trials * replicates_per_trial``).
        Executions count by cost: one a pruner stopped inside its learning curve counts the
        share of its steps it ran (see ``records.executions_run``).

        Spent are the search's executions (every observed trial's, failed ones included) and,
        once the search is over and ``study`` holds the selection made from exactly these
        trials (see :meth:`settled`), its confirmation and held-out executions (the winner's and
        the baseline's): a run that chose its winner ends at the budget, unless the selection
        needed fewer executions than the plan kept for it (no confirmation round with a single
        candidate). The study is read only once the search is over."""
        spent = self.policy.spent
        if self.search_done:
            _, selection = self.settled(study)
            if selection is not None:
                executions = selection.executions
                spent += int(executions.get("confirmation", 0)) + int(executions.get("holdout", 0))
        return spent, self.policy.plan.budget

    def settled(self, study: optuna.Study) -> tuple[bool, WinnerSelection | None]:
        """``(True, selection)`` when the study already holds the selection made from exactly
        these trials, ``(True, None)`` when no parameter set succeeded (nothing to choose), and
        ``(False, None)`` when the winner is still to be chosen."""
        self.sync(study)
        if not any(True for _ in self.policy.entries()):
            return True, None
        stored = WinnerSelection.from_study(study)
        if (
            stored is not None
            and stored.executions.get("search") == self.policy.spent
            and stored.executions.get("budget") == self.policy.plan.budget
        ):
            return True, stored
        return False, None

    async def select(
        self, study: optuna.Study, master_seed: int, evaluate: EvaluateReplicates, seed_scheme: str
    ) -> WinnerSelection | None:
        """The winner of this search: stored if the study already holds one made from exactly
        these trials (see :meth:`settled`), else chosen now (and stored), on fresh seeds that
        follow the study's ``seed_scheme`` (see :func:`select_winner`). None when no parameter
        set succeeded."""
        done, selection = self.settled(study)
        if done:
            return selection
        selection = await select_winner(
            self.policy, self.unit_cube, self.metric, master_seed, evaluate, seed_scheme
        )
        selection.store(study)
        return selection


def stored_selection(study: optuna.Study) -> WinnerSelection | None:
    """The winner selection stored with ``study`` by a noise-aware optimization, if any.

    Raises:
        RecordError: if the stored selection is malformed.
    """
    return WinnerSelection.from_study(study)
