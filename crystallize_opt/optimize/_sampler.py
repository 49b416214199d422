"""The sampler of an optimizer that names none."""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Mapping
from typing import Any

from optuna.distributions import CategoricalDistribution
from optuna.exceptions import ExperimentalWarning
from optuna.samplers import BaseSampler, GPSampler, TPESampler

from .._logging import get_logger
from ._composite_samplers import HandOffSampler, NoiseCheckSampler, NoRepeatSampler

_log = get_logger("optimize")

#: Finished trials the noise-aware default proposes with Optuna's GPSampler before TPE takes
#: over: a bound on the time and memory of a proposal, not a tuned setting (GPSampler's fit is
#: cubic in the trials; at this count a proposal takes about a second on one core).
GP_SEARCH_TRIALS = 500

_told_without_torch = False


def default_sampler(
    seed: int | None, *, noise_aware: bool = False, space: Mapping[str, Any] | None = None
) -> BaseSampler:
    """The sampler of an :class:`OptunaOptimizer` (or a study config) that names none.

    - Without noise handling: ``TPESampler(seed=seed)``, Optuna's default TPE.
    - Noise-aware (``noise_aware``), with a fixed search space (``space``, a mapping) and
      PyTorch installed: a :class:`NoiseCheckSampler` that chooses by what the noise check
      found (what did better on the noise suite's tuning set, ``benchmarks/README.md``, "The
      search"):

      - a deterministic pipeline: Optuna's ``GPSampler(seed=seed,
        deterministic_objective=True)`` (its Gaussian process interpolates the values instead
        of smoothing them as noise), inside a :class:`NoRepeatSampler` whose fallback,
        ``TPESampler(seed=seed)``, proposes the trials where the GP would evaluate a point
        again (the same TPE takes over from the GP);
      - a noisy pipeline (and the noise check's own trial): ``GPSampler(seed=seed)`` when the
        space has a categorical parameter (interacting choices that TPE mostly missed),
        ``TPESampler(seed=seed)`` otherwise (a noisy continuous response, where it did better).

      Each GP search hands off to ``TPESampler(seed=seed)`` after :data:`GP_SEARCH_TRIALS`
      finished trials (:class:`HandOffSampler`), which bounds a proposal's cost.
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
    with warnings.catch_warnings():  # ``deterministic_objective`` is experimental in Optuna 5
        warnings.simplefilter("ignore", ExperimentalWarning)
        interpolating = GPSampler(seed=seed, deterministic_objective=True)
    # One TPE both replaces the GP's repeats and takes over from it: the sampler's generators
    # (reseeded before each trial by their order, see TrialSeeding) are then those of the
    # earlier default, so a noisy continuous search draws exactly what it drew before.
    tpe = TPESampler(seed=seed)
    deterministic = HandOffSampler(NoRepeatSampler(interpolating, tpe), tpe, GP_SEARCH_TRIALS)
    if any(isinstance(value, CategoricalDistribution) for value in space.values()):
        noisy: BaseSampler = HandOffSampler(GPSampler(seed=seed), TPESampler(seed=seed), GP_SEARCH_TRIALS)
    else:
        noisy = TPESampler(seed=seed)
    return NoiseCheckSampler(deterministic, noisy)
