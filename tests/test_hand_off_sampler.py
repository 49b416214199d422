"""HandOffSampler: one sampler proposes a study's first trials, another the rest, each seeing all."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial

from crystallize_opt import _optuna_compat as compat
from crystallize_opt.optimize._hand_off import HandOffSampler


class Recording(optuna.samplers.RandomSampler):
    """A real random sampler that remembers which trials it proposed and how many trials of the
    study it saw when it did."""

    def __init__(self, seed: int):
        super().__init__(seed=seed)
        self.proposed: list[int] = []
        self.seen: list[int] = []

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        self.proposed.append(trial.number)
        self.seen.append(len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))))
        return super().sample_independent(study, trial, param_name, param_distribution)


def quadratic(trial: optuna.Trial) -> float:
    return (trial.suggest_float("x", -2.0, 2.0) - 0.5) ** 2


def test_the_first_sampler_proposes_the_first_trials_and_the_second_the_rest_seeing_all() -> None:
    first, then = Recording(1), Recording(2)
    study = optuna.create_study(sampler=HandOffSampler(first, then, trials=4))
    study.optimize(quadratic, n_trials=9)
    assert first.proposed == [0, 1, 2, 3]
    assert then.proposed == [4, 5, 6, 7, 8]
    assert then.seen[0] == 4  # what the first found is there for the second
    # Before the hand-off the study proposes what the first sampler alone would have.
    alone = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    alone.optimize(quadratic, n_trials=4)
    assert [t.params for t in study.trials[:4]] == [t.params for t in alone.trials]


def test_a_hand_off_at_trial_zero_is_the_second_sampler_alone() -> None:
    first, then = Recording(1), Recording(2)
    optuna.create_study(sampler=HandOffSampler(first, then, trials=0)).optimize(quadratic, n_trials=3)
    assert first.proposed == [] and then.proposed == [0, 1, 2]


def test_a_negative_hand_off_is_refused() -> None:
    with pytest.raises(ValueError, match="trials must be at least 0, got -1"):
        HandOffSampler(Recording(1), Recording(2), trials=-1)


def test_the_generators_of_both_samplers_are_found_for_per_trial_seeding() -> None:
    sampler = HandOffSampler(optuna.samplers.RandomSampler(seed=1), optuna.samplers.TPESampler(seed=2), 3)
    generators = compat.sampler_generators(sampler)
    assert generators is not None and len(generators.lazy) == 3  # random; TPE's own and its random sampler's
    assert generators.seeded
