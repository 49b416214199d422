"""Samplers made of two Optuna samplers, one of which proposes each trial.

``HandOffSampler`` chooses by how many trials have finished, ``NoiseCheckSampler`` by what the
noise-aware search's noise check found, ``NoRepeatSampler`` by whether the first one's proposal
repeats a point already evaluated. Each passes every call of Optuna's sampler contract for a
trial to the sampler chosen for it, and both samplers see every trial.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

#: The trials that count towards a hand-off: those that ran to an end and were told.
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
#: The trials that may still reach ``after_trial``.
_UNFINISHED = (TrialState.RUNNING, TrialState.WAITING)
#: The trials whose point a repeat would evaluate again: finished, or being evaluated now.
_EVALUATED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
#: Trials held in one process after which the ended ones are looked up and forgotten (a look-up
#: of the study's running trials, so not at every trial).
_FORGET_ENDED_AT = 64


class _ChoosingSampler(BaseSampler):
    """Pass each trial to one of two samplers, chosen (:meth:`_choose`) when the trial starts."""

    def __init__(self, first: BaseSampler, second: BaseSampler):
        self._pair = (first, second)
        #: Trial number -> the sampler proposing it, kept until the trial ends (several trials
        #: may be asked before one is told).
        self._running: dict[int, BaseSampler] = {}
        #: Size of ``_running`` at which the next look-up happens: doubled past what a look-up
        #: leaves, so a process with many trials really in flight does not look up at every trial.
        self._forget_at = _FORGET_ENDED_AT

    @property
    def samplers(self) -> tuple[BaseSampler, BaseSampler]:
        """The two samplers, in the order they were given."""
        return self._pair

    @abstractmethod
    def _choose(self, study: optuna.Study) -> BaseSampler:
        """The sampler for a trial that starts now."""

    def _for(self, study: optuna.Study, trial: FrozenTrial) -> BaseSampler:
        sampler = self._running.get(trial.number)
        if sampler is None:
            if len(self._running) >= self._forget_at:
                self._forget_ended(study)
            sampler = self._running[trial.number] = self._choose(study)
        return sampler

    def _forget_ended(self, study: optuna.Study) -> None:
        """Drop the trials that ended without this sampler's ``after_trial`` (told through
        another study object, failed by another worker's stale-trial check)."""
        running = {t.number for t in study.get_trials(deepcopy=False, states=_UNFINISHED)}
        self._running = {n: s for n, s in self._running.items() if n in running}
        self._forget_at = max(_FORGET_ENDED_AT, 2 * len(self._running))

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
        for sampler in self._pair:
            sampler.reseed_rng()


class HandOffSampler(_ChoosingSampler):
    """Propose with ``first`` until ``trials`` trials of the study have finished (complete or
    pruned), with ``then`` after.

    Both see every trial of the study: ``then`` starts from what ``first`` found. Which one
    proposes a trial depends only on the finished trials the study holds when it starts, not on
    trial numbers, so a study resumed after an interruption (which leaves a failed trial and
    shifts the numbers) hands off where an uninterrupted one does. The use: a sampler whose
    cost per trial grows with the trials (Optuna's ``GPSampler`` fits a Gaussian process to all
    of them, cubic in their number) for as long as it is affordable, then one whose cost grows
    slowly (``TPESampler``): the time and memory a proposal takes are then bounded by
    ``trials``, not by the budget.

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
        super().__init__(first, then)
        self._trials = trials

    @property
    def trials(self) -> int:
        """Finished trials after which ``then`` proposes."""
        return self._trials

    def _choose(self, study: optuna.Study) -> BaseSampler:
        finished = len(study.get_trials(deepcopy=False, states=_FINISHED))
        return self._pair[0] if finished < self._trials else self._pair[1]

    def __repr__(self) -> str:
        first, then = (_shown(sampler) for sampler in self._pair)
        return f"HandOffSampler({first}, {then}, trials={self._trials})"


class NoiseCheckSampler(_ChoosingSampler):
    """Propose with ``deterministic`` when the noise-aware search's noise check found the
    pipeline deterministic, with ``noisy`` when it found noise or has not ended yet (the first
    trial, and trials asked beside it by other workers).

    The optimizer attaches its noise check when it opens the study (:meth:`attach`); a resumed
    study's check is replayed before any proposal, so it goes on as an uninterrupted one.
    Unattached, it proposes with ``noisy``.
    """

    def __init__(self, deterministic: BaseSampler, noisy: BaseSampler):
        super().__init__(deterministic, noisy)
        self._check: Callable[[], bool | None] = lambda: None

    def attach(self, check: Callable[[], bool | None]) -> None:
        """Read the noise check's result from ``check`` (True: deterministic; None: not ended)."""
        self._check = check

    @property
    def pipeline_deterministic(self) -> bool | None:
        """What the attached noise check found (True: deterministic; None: not ended, or none attached)."""
        return self._check()

    def _choose(self, study: optuna.Study) -> BaseSampler:
        return self._pair[0] if self._check() is True else self._pair[1]

    def __repr__(self) -> str:
        deterministic, noisy = (_shown(sampler) for sampler in self._pair)
        return f"NoiseCheckSampler(deterministic={deterministic}, noisy={noisy})"


class NoRepeatSampler(_ChoosingSampler):
    """Propose with ``sampler``; where its relative proposal for a trial is a point the study has
    already evaluated or is evaluating (the same value of every parameter it proposes as a
    complete, pruned or running trial), that trial is proposed by ``fallback`` instead.

    For a deterministic objective, where a second evaluation of a point can only return the
    first one's value: Optuna's ``GPSampler`` proposes the best point again once its acquisition
    function has converged there, which would spend the rest of the budget on one point. Both
    samplers see every trial. Which one proposes a trial depends only on the trials the study
    holds when the first one proposes, so a resumed study goes on as an uninterrupted one.
    Proposals made by ``sample_independent`` alone (no relative search space: ``TPESampler``'s
    univariate default, a sampler's start-up trials) are never replaced.

    Args:
        sampler: proposes each trial first.
        fallback: proposes the trials whose ``sampler`` proposal repeats a point.
    """

    def __init__(self, sampler: BaseSampler, fallback: BaseSampler):
        super().__init__(sampler, fallback)

    def _choose(self, study: optuna.Study) -> BaseSampler:
        return self._pair[0]

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        sampler = self._for(study, trial)
        params = sampler.sample_relative(study, trial, search_space)
        if sampler is not self._pair[0] or not params or not _evaluated(study, trial, params):
            return params
        fallback = self._running[trial.number] = self._pair[1]
        fallback.before_trial(study, trial)
        return fallback.sample_relative(study, trial, fallback.infer_relative_search_space(study, trial))

    def __repr__(self) -> str:
        sampler, fallback = (_shown(sampler) for sampler in self._pair)
        return f"NoRepeatSampler({sampler}, fallback={fallback})"


def _shown(sampler: BaseSampler) -> str:
    """A composite sampler's repr (it names its parts), another sampler's class name (Optuna's
    samplers have no repr of their own)."""
    return repr(sampler) if isinstance(sampler, _ChoosingSampler) else type(sampler).__name__


def _evaluated(study: optuna.Study, trial: FrozenTrial, params: dict[str, Any]) -> bool:
    """True when another trial of ``study`` has (or is getting) every value of ``params``."""
    for other in study.get_trials(deepcopy=False, states=_EVALUATED):
        if other.number != trial.number and all(
            name in other.params and other.params[name] == value for name, value in params.items()
        ):
            return True
    return False
