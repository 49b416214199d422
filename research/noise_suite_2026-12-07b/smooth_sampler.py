"""Prototype (research only, not in the package): a sampler whose inner TPE ranks the finished
trials by smoothed values instead of their one noisy observation.

``kind="gp"``: the posterior mean of the package's Gaussian process (``SeedEffectGP``) at each
trial's parameters, hyperparameters refitted every ``refit`` trials (warm-started from the last
fit); ``kind="knn"``: the mean of the ``k`` nearest trials' values (unit-cube distance). Both
start after ``start`` finished trials. The study is shown to TPE through a view that replaces
the values of ``Study._get_trials`` (a private Optuna API; fine for a prototype).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from optuna.samplers import BaseSampler, TPESampler
from optuna.trial import TrialState

from crystallize_opt.optimize._noise._encoding import UnitCube
from crystallize_opt.optimize._noise._gp import SeedEffectGP, single_threaded_blas


class _View:
    def __init__(self, study: Any, replaced: dict[int, float]):
        self._study = study
        self._replaced = replaced

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = False, states: Any = None, use_cache: bool = False) -> list[Any]:
        out = []
        for trial in self._study._get_trials(deepcopy=False, states=states, use_cache=use_cache):
            value = self._replaced.get(trial.number)
            if value is not None:
                trial = copy.copy(trial)
                trial.value = value
            out.append(trial)
        return out

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[Any]:
        return self._get_trials(False, states)


class SmoothedSampler(BaseSampler):
    def __init__(self, seed: int, kind: str = "gp", start: int = 20, refit: int = 10, k: int = 5):
        self._base_sampler = TPESampler(seed=seed)  # where the package's per-trial reseeding looks
        self.kind, self.start, self.refit, self.k = kind, start, refit, k
        self._theta: np.ndarray | None = None
        self._fitted_at = 0
        self._cache: tuple[Any, dict[int, float]] = (None, {})

    def _smoothed(self, inputs: np.ndarray, values: np.ndarray) -> np.ndarray:
        if self.kind == "knn":
            distances = ((inputs[:, None, :] - inputs[None, :, :]) ** 2).sum(-1)
            return values[np.argsort(distances, axis=1)[:, : self.k]].mean(1)
        model = SeedEffectGP(inputs, values, np.zeros(len(values), dtype=np.int64))
        if self._theta is None or len(values) - self._fitted_at >= self.refit:
            model.fit(self._theta, restarts=2 if self._theta is None else 1)
            self._theta, self._fitted_at = model.theta, len(values)
        else:
            model._condition(self._theta)
        return model.mean(inputs)

    def _view(self, study: Any) -> _View:
        trials = [
            t
            for t in study._get_trials(deepcopy=False, states=(TrialState.COMPLETE,), use_cache=True)
            if t.values is not None and len(t.values) == 1
        ]
        key = (len(trials), trials[-1].number if trials else -1)
        if self._cache[0] != key:
            replaced: dict[int, float] = {}
            if len(trials) >= self.start:
                distributions: dict[str, Any] = {}
                for trial in trials:
                    distributions.update(trial.distributions)
                cube = UnitCube(distributions)
                kept = [t for t in trials if set(t.params) == set(distributions)]
                inputs = np.array([cube.encode(t.params) for t in kept])
                with single_threaded_blas():
                    smoothed = self._smoothed(inputs, np.array([t.values[0] for t in kept]))
                replaced = {t.number: float(v) for t, v in zip(kept, smoothed, strict=True)}
            self._cache = (key, replaced)
        return _View(study, self._cache[1])

    def infer_relative_search_space(self, study: Any, trial: Any) -> Any:
        return self._base_sampler.infer_relative_search_space(self._view(study), trial)

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> Any:
        return self._base_sampler.sample_relative(self._view(study), trial, search_space)

    def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: Any) -> Any:
        return self._base_sampler.sample_independent(self._view(study), trial, param_name, param_distribution)

    def before_trial(self, study: Any, trial: Any) -> None:
        self._base_sampler.before_trial(study, trial)

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        self._base_sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._base_sampler.reseed_rng()
