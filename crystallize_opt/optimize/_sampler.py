"""The sampler of an optimizer that names none."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler, GPSampler, TPESampler
from optuna.trial import FrozenTrial, TrialState

from .._logging import get_logger
from ._hand_off import HandOffSampler

_log = get_logger("optimize")

#: Finished trials the noise-aware default proposes with Optuna's GPSampler before TPE takes
#: over: a bound on the time and memory of a proposal, not a tuned setting (GPSampler's fit is
#: cubic in the trials; at this count a proposal takes about a second on one core).
GP_SEARCH_TRIALS = 500

_told_without_torch = False


class NoiseCheckSampler(BaseSampler):
    """Propose with ``deterministic`` when the noise-aware search's noise check found the
    pipeline deterministic, with ``noisy`` when it found noise or has not ended yet (the first
    trial, and trials asked beside it by other workers).

    The optimizer attaches its noise check when it opens the study (:meth:`attach`); a resumed
    study's check is replayed before any proposal, so it goes on as an uninterrupted one.
    Unattached, it proposes with ``noisy``.
    """

    def __init__(self, deterministic: BaseSampler, noisy: BaseSampler):
        self._deterministic = deterministic
        self._noisy = noisy
        self._check: Callable[[], bool | None] = lambda: None
        #: Trial number -> the sampler proposing it, kept until the trial ends.
        self._running: dict[int, BaseSampler] = {}

    def attach(self, check: Callable[[], bool | None]) -> None:
        """Read the noise check's result from ``check`` (True: deterministic; None: not ended)."""
        self._check = check

    @property
    def pipeline_deterministic(self) -> bool | None:
        """What the attached noise check found (True: deterministic; None: not ended, or none attached)."""
        return self._check()

    @property
    def samplers(self) -> tuple[BaseSampler, BaseSampler]:
        """The two samplers, for a deterministic pipeline then for a noisy one."""
        return self._deterministic, self._noisy

    def _for(self, trial: FrozenTrial) -> BaseSampler:
        sampler = self._running.get(trial.number)
        if sampler is None:
            sampler = self._running[trial.number] = (
                self._deterministic if self._check() is True else self._noisy
            )
        return sampler

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._for(trial).before_trial(study, trial)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._for(trial).after_trial(study, trial, state, values)
        self._running.pop(trial.number, None)

    def reseed_rng(self) -> None:
        self._deterministic.reseed_rng()
        self._noisy.reseed_rng()

    def __repr__(self) -> str:
        return f"NoiseCheckSampler(deterministic={self._deterministic!r}, noisy={type(self._noisy).__name__})"


def default_sampler(
    seed: int | None, *, noise_aware: bool = False, space: Mapping[str, Any] | None = None
) -> BaseSampler:
    """The sampler of an :class:`OptunaOptimizer` (or a study config) that names none.

    - Without noise handling: ``TPESampler(seed=seed)``, Optuna's default (multivariate) TPE.
    - Noise-aware (``noise_aware``), with a fixed search space (``space``, a mapping) and
      PyTorch installed, a Gaussian-process search, ``HandOffSampler(GPSampler(seed=seed),
      TPESampler(seed=seed), GP_SEARCH_TRIALS)`` (TPE after :data:`GP_SEARCH_TRIALS` finished
      trials, which bounds a proposal's cost), where it did better on the noise suite's tuning
      set (``benchmarks/README.md``, "The search"): when the space has a categorical parameter
      (interacting choices that TPE mostly missed), and otherwise when the noise check finds
      the pipeline deterministic (:class:`NoiseCheckSampler`; a noisy continuous response is
      searched with ``TPESampler(seed=seed)``, which did better there).
    - Noise-aware without PyTorch, or with a conditional (callable) search space, which
      ``GPSampler`` does not model: ``TPESampler(seed=seed)`` (logged once per process when
      PyTorch is what is missing).

    The GP search's proposals also depend on whether ``greenlet`` is installed (Optuna then
    optimizes its acquisition function in batches): the ``samplers`` extra installs both.
    """
    if not noise_aware or not isinstance(space, Mapping):
        return TPESampler(seed=seed)
    if importlib.util.find_spec("torch") is None:
        global _told_without_torch
        if not _told_without_torch:
            _told_without_torch = True
            _log.info(
                "noise-aware search with TPE: PyTorch is not installed, which the default Gaussian-process "
                "search needs (pip install 'crystallize-opt[samplers]')"
            )
        return TPESampler(seed=seed)
    gp = HandOffSampler(GPSampler(seed=seed), TPESampler(seed=seed), GP_SEARCH_TRIALS)
    if any(isinstance(value, CategoricalDistribution) for value in space.values()):
        return gp
    return NoiseCheckSampler(gp, TPESampler(seed=seed))
