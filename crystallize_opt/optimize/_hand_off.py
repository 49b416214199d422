"""A sampler that proposes with one Optuna sampler for a study's first trials and another after."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

#: The trials that count towards the hand-off: those that ran to an end and were told.
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class HandOffSampler(BaseSampler):
    """Propose with ``first`` until ``trials`` trials of the study have finished (complete or
    pruned), with ``then`` after.

    Both see every trial of the study: ``then`` starts from what ``first`` found. Which one
    proposes a trial depends only on the finished trials the study holds when it starts, not on
    trial numbers, so a study resumed after an interruption (which leaves a failed trial and
    shifts the numbers) hands off where an uninterrupted one does. The use: a sampler whose cost per trial grows with the trials
    (Optuna's ``GPSampler`` fits a Gaussian process to all of them, cubic in their number) for
    as long as it is affordable, then one whose cost grows slowly (``TPESampler``): the time
    and memory a proposal takes are then bounded by ``trials``, not by the budget.

    Args:
        first: proposes while fewer than ``trials`` trials have finished.
        then: proposes the trials after.
        trials: finished trials after which ``then`` proposes (at least 0).

    Raises:
        ValueError: if ``trials`` is negative.
    """

    def __init__(self, first: BaseSampler, then: BaseSampler, trials: int):
        if trials < 0:
            raise ValueError(f"HandOffSampler: trials must be at least 0, got {trials!r}")
        self._first = first
        self._then = then
        self._trials = trials
        #: Trial number -> the sampler proposing it, decided when the trial starts and kept
        #: until it ends (several trials may be asked before one is told).
        self._running: dict[int, BaseSampler] = {}

    @property
    def samplers(self) -> tuple[BaseSampler, BaseSampler]:
        """The two samplers, ``first`` then ``then``."""
        return self._first, self._then

    @property
    def trials(self) -> int:
        """Finished trials after which ``then`` proposes."""
        return self._trials

    def _for(self, study: optuna.Study, trial: FrozenTrial) -> BaseSampler:
        sampler = self._running.get(trial.number)
        if sampler is None:
            finished = len(study.get_trials(deepcopy=False, states=_FINISHED))
            sampler = self._running[trial.number] = self._first if finished < self._trials else self._then
        return sampler

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._for(study, trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._for(study, trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._for(study, trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._for(study, trial).before_trial(study, trial)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._for(study, trial).after_trial(study, trial, state, values)
        self._running.pop(trial.number, None)

    def reseed_rng(self) -> None:
        self._first.reseed_rng()
        self._then.reseed_rng()

    def __repr__(self) -> str:
        return f"HandOffSampler({type(self._first).__name__}, {type(self._then).__name__}, trials={self._trials})"
