"""The default sampler of a noise-aware search: Optuna's TPE, univariate once the pipeline is
known to be noisy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, TPESampler
from optuna.trial import FrozenTrial, TrialState

from ...plugins import derive_seed

#: Seed stream of the univariate TPE (``derive_seed(master, 0, 0, stream)``); the confirmation
#: and held-out phases use streams 1 and 2 (see ``_selection``).
NOISY_SAMPLER_STREAM = 3


class NoiseAwareTPE(BaseSampler):
    """Optuna's default TPE (multivariate) until the pipeline shows noise, then univariate TPE.

    :class:`OptunaOptimizer` uses it when noise handling is on and no sampler is given; the
    adapter sets :attr:`noisy` after the first trial's noise check (every worker, and a resumed
    study, reaches the same state from the stored trials). A deterministic pipeline is thus
    searched exactly as by ``TPESampler(seed=seed)`` given to the optimizer (both reseeded before
    each trial by the same rule, ``optimize._trial_seeds``), though not as by a bare Optuna loop
    with that sampler, which never reseeds.

    Why univariate under noise (``benchmarks/bench_noise.py``, tuning seeds 1000-1099): the
    multivariate TPE draws near the joint good set, which under noise is mostly lucky draws, and
    in 6 dimensions it often never leaves a flat region (Hartmann6 sd 1: 31% of runs with
    independent noise); univariate TPE recombines good values of each parameter, is trapped in
    5%, and its median regret was lower in 10 of the 12 noisy cells.

    Args:
        seed: seed of the multivariate TPE; the univariate one is seeded with
            ``derive_seed(seed, 0, 0, NOISY_SAMPLER_STREAM)`` (None: both unseeded).
    """

    def __init__(self, seed: int | None = None):
        self.seed = seed
        self._exact = TPESampler(seed=seed)
        self._univariate = TPESampler(
            seed=None if seed is None else derive_seed(seed, 0, 0, NOISY_SAMPLER_STREAM),
            multivariate=False,
        )
        # The only state: which TPE proposes (a sampler, so the study's settings record, which
        # keeps simple attributes, shows the seed and not this run-time fact).
        self._active = self._exact
        self._is_noisy: Callable[[], bool] | None = None

    def follow(self, is_noisy: Callable[[], bool]) -> None:
        """From now on, choose the TPE by ``is_noisy()`` before each trial (the adapter calls this
        once, when it configures the sampler for a run, with its noise search's finding)."""
        self._is_noisy = is_noisy

    @property
    def parts(self) -> tuple[TPESampler, TPESampler]:
        """The two TPEs (multivariate, univariate): what the optimizer reseeds before each trial
        (both, whichever proposes, so the choice between them never shifts a random stream)."""
        return self._exact, self._univariate

    @property
    def noisy(self) -> bool:
        """True once the univariate TPE proposes (after the noise check, see :meth:`follow`)."""
        return self._active is self._univariate

    @noisy.setter
    def noisy(self, value: bool) -> None:
        self._active = self._univariate if value else self._exact

    def __getstate__(self) -> dict[str, Any]:
        # What it follows belongs to the run of the process that set it; a worker process
        # follows its own (set again in prepare).
        return {**self.__dict__, "_is_noisy": None}

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._active.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._active.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._active.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self._is_noisy is not None:
            self.noisy = self._is_noisy()
        self._active.before_trial(study, trial)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._active.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._exact.reseed_rng()
        self._univariate.reseed_rng()


def default_sampler(seed: int | None, *, noise: bool) -> BaseSampler:
    """The sampler of an :class:`OptunaOptimizer` (or a study config) that names none:
    ``TPESampler(seed=seed)``, and with noise handling :class:`NoiseAwareTPE` ``(seed)``."""
    return NoiseAwareTPE(seed) if noise else TPESampler(seed=seed)
