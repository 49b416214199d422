"""The samplers the noise-aware default is made of: HandOffSampler (one sampler proposes a study's
first trials, another the rest, each seeing all), NoiseCheckSampler (one for a deterministic
pipeline, another for a noisy one) and NoRepeatSampler (another sampler where the first would
evaluate a point again)."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.trial import FrozenTrial

from crystallize_opt import HandOffSampler
from crystallize_opt.optimize import NoiseCheckSampler, NoRepeatSampler, TrialSeeding


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


def quadratic_of(params: dict[str, Any]) -> float:
    return float((params["x"] - 0.5) ** 2 + params["y"] ** 2)


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


def test_per_trial_seeding_reaches_both_samplers() -> None:
    """Reseeded for the same proposal, each sampler proposes the same point again, before and
    after the hand-off (what makes a resumed study propose what an uninterrupted one did)."""
    sampler = HandOffSampler(optuna.samplers.RandomSampler(seed=1), optuna.samplers.TPESampler(seed=2), 3)
    seeding = TrialSeeding.of(sampler)
    assert seeding is not None
    study = optuna.create_study(sampler=sampler)
    space = {"x": FloatDistribution(-2.0, 2.0), "y": FloatDistribution(-2.0, 2.0)}

    def proposed_twice(proposal: int) -> tuple[dict[str, Any], dict[str, Any]]:
        points = []
        for _ in range(2):
            seeding.reseed(proposal)
            trial = study.ask(space)
            points.append(trial.params)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)  # not finished: no hand-off
        return points[0], points[1]

    first, again = proposed_twice(0)
    assert first == again
    for x in (0.1, 0.7, -1.3):  # three finished trials: the next proposal is TPE's
        study.enqueue_trial({"x": x, "y": x})
        trial = study.ask(space)
        study.tell(trial, quadratic_of(trial.params))
    first, again = proposed_twice(3)
    assert first == again
    assert [type(s) for s in sampler.samplers] == [optuna.samplers.RandomSampler, optuna.samplers.TPESampler]


def test_the_noise_check_sampler_proposes_with_the_sampler_its_check_names() -> None:
    deterministic, noisy = Recording(1), Recording(2)
    sampler = NoiseCheckSampler(deterministic, noisy)
    study = optuna.create_study(sampler=sampler)
    study.optimize(quadratic, n_trials=2)  # unattached: as if noisy
    found: list[bool | None] = [None]
    sampler.attach(lambda: found[0])
    study.optimize(quadratic, n_trials=1)  # the check has not ended
    found[0] = True
    study.optimize(quadratic, n_trials=2)
    found[0] = False
    study.optimize(quadratic, n_trials=1)
    assert noisy.proposed == [0, 1, 2, 5] and deterministic.proposed == [3, 4]


def test_trials_ended_by_another_study_object_are_not_held_forever() -> None:
    """A trial told through another ``Study`` object on the same storage (another worker's, or
    a stale-trial check's) never reaches this sampler's ``after_trial``: the sampler forgets it
    once enough trials are in flight, so a long-running worker's memory stays bounded."""
    storage = optuna.storages.InMemoryStorage()
    sampler = HandOffSampler(optuna.samplers.RandomSampler(seed=1), optuna.samplers.RandomSampler(seed=2), 5)
    study = optuna.create_study(storage=storage, sampler=sampler, study_name="s")
    other = optuna.load_study(study_name="s", storage=storage, sampler=optuna.samplers.RandomSampler())
    space = {"x": FloatDistribution(-2.0, 2.0)}
    kept = []
    for _ in range(300):
        trial = study.ask(space)
        other.tell(trial.number, quadratic_of({"x": trial.params["x"], "y": 0.0}))
        kept.append(len(sampler._running))
    assert max(kept) <= 64
    held = study.ask(space)  # a trial still running is kept until it ends
    for _ in range(100):
        other.tell(study.ask(space).number, 1.0)
    assert held.number in sampler._running
    study.tell(held, 1.0)
    assert held.number not in sampler._running


class Converged(optuna.samplers.BaseSampler):
    """A real sampler whose relative proposal is always ``point`` (what GPSampler does once its
    acquisition function has converged on the best point); it remembers what it proposed."""

    def __init__(self, point: dict[str, float], move: float = 0.0):
        self.point, self.move = dict(point), move
        self.relative: list[int] = []
        self.independent: list[int] = []

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return optuna.search_space.intersection_search_space(study.get_trials(deepcopy=False))

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        self.relative.append(trial.number)
        return {name: self.point[name] + self.move * trial.number for name in search_space}

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        self.independent.append(trial.number)
        return self.point[param_name]


def two_d(trial: optuna.Trial) -> float:
    return quadratic_of({"x": trial.suggest_float("x", -2.0, 2.0), "y": trial.suggest_float("y", -2.0, 2.0)})


def test_a_repeated_point_is_proposed_by_the_fallback_and_every_point_is_new() -> None:
    converged, fallback = Converged({"x": 0.5, "y": 0.0}), Recording(7)
    study = optuna.create_study(sampler=NoRepeatSampler(converged, fallback))
    study.optimize(two_d, n_trials=8)
    points = [(t.params["x"], t.params["y"]) for t in study.trials]
    assert points[0] == (0.5, 0.0)  # proposed independently (no relative space yet): kept
    assert len(set(points)) == 8  # the converged point is evaluated once
    assert converged.relative == list(range(1, 8))  # it was asked first each time...
    assert sorted(set(fallback.proposed)) == list(range(1, 8))  # ...and replaced by the fallback
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


def test_new_points_are_kept_and_the_fallback_never_proposes() -> None:
    moving, fallback = Converged({"x": 0.0, "y": 0.0}, move=0.1), Recording(7)
    study = optuna.create_study(sampler=NoRepeatSampler(moving, fallback))
    study.optimize(two_d, n_trials=6)
    assert fallback.proposed == []
    assert [round(t.params["x"], 9) for t in study.trials] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]


def test_a_point_being_evaluated_by_another_trial_counts_as_a_repeat() -> None:
    """Two trials asked before either is told (workers, or a batch of asks): the second does
    not evaluate the first one's point again."""
    converged, fallback = Converged({"x": 0.5, "y": 0.0}), Recording(7)
    study = optuna.create_study(sampler=NoRepeatSampler(converged, fallback))
    study.optimize(two_d, n_trials=1)
    space = {"x": FloatDistribution(-2.0, 2.0), "y": FloatDistribution(-2.0, 2.0)}
    study.enqueue_trial({"x": 1.0, "y": 1.0})
    running = study.ask(space)  # enqueued: a running trial at (1, 1)
    converged.point = {"x": 1.0, "y": 1.0}
    second = study.ask(space)
    assert (second.params["x"], second.params["y"]) != (1.0, 1.0)
    assert second.number in fallback.proposed
    study.tell(running, 1.0)
    study.tell(second, 1.0)
