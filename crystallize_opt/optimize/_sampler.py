"""The sampler of an optimizer that names none."""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Mapping
from typing import Any

from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.exceptions import ExperimentalWarning
from optuna.samplers import BaseSampler, GPSampler, TPESampler

from .._logging import get_logger
from ._cma import ResumableCmaEsSampler
from ._composite_samplers import HandOffSampler, NoiseCheckSampler, NoRepeatSampler

_log = get_logger("optimize")

#: Finished trials the noise-aware default proposes with Optuna's GPSampler before TPE takes
#: over: a bound on the time and memory of a proposal, not a tuned setting (GPSampler's fit is
#: cubic in the trials; at this count a proposal takes about a second on one core).
GP_SEARCH_TRIALS = 500
#: Numeric parameters from which the noise-aware default searches a noisy response over
#: numbers only with CMA-ES instead of TPE: chosen on the noise suite's tuning set
#: (``benchmarks/README.md``, "CMA-ES for five or more numbers"), where CMA-ES was better than
#: the TPE search on 5, 6 and 8 numbers and worse on 2 to 4.
CMA_SEARCH_PARAMS = 5

_told_without: set[str] = set()


def _installed(module: str, package: str, what: str) -> bool:
    """Whether ``module`` can be imported; the first time in a process that it cannot, log that
    the noise-aware search uses TPE ``what``, as ``package`` is missing."""
    if importlib.util.find_spec(module) is not None:
        return True
    if module not in _told_without:
        _told_without.add(module)
        _log.info(
            "noise-aware search with TPE %s: %s is not installed (pip install 'crystallize-opt[samplers]')",
            what,
            package,
        )
    return False


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
        space has a categorical parameter (interacting choices that TPE mostly missed); over
        numbers only, CMA-ES (:class:`ResumableCmaEsSampler` ``(seed=seed)``, Optuna's
        ``CmaEsSampler`` resumable exactly) from :data:`CMA_SEARCH_PARAMS` (5) parameters on
        (it returned better parameters than TPE there; it starts at the centre of the space) and
        ``TPESampler(seed=seed)`` below (where TPE did better). Without the ``cmaes`` package,
        TPE (logged once per process).

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
    if not _installed("torch", "PyTorch", "instead of the default Gaussian-process search"):
        return TPESampler(seed=seed)
    with warnings.catch_warnings():  # ``deterministic_objective`` is experimental in Optuna 5
        warnings.simplefilter("ignore", ExperimentalWarning)
        interpolating = GPSampler(seed=seed, deterministic_objective=True)
    # One TPE both replaces the GP's repeats and takes over from it: the sampler's generators
    # (reseeded before each trial by their order, see TrialSeeding) are then those of the
    # earlier default, so a noisy search over fewer than CMA_SEARCH_PARAMS numbers draws
    # exactly what it drew before.
    tpe = TPESampler(seed=seed)
    deterministic = HandOffSampler(NoRepeatSampler(interpolating, tpe), tpe, GP_SEARCH_TRIALS)
    numbers = sum(isinstance(value, (FloatDistribution, IntDistribution)) for value in space.values())
    if any(isinstance(value, CategoricalDistribution) for value in space.values()):
        noisy: BaseSampler = HandOffSampler(GPSampler(seed=seed), TPESampler(seed=seed), GP_SEARCH_TRIALS)
    elif numbers >= CMA_SEARCH_PARAMS and _installed(
        "cmaes", "cmaes", f"instead of CMA-ES for {numbers} numbers"
    ):
        noisy = ResumableCmaEsSampler(seed=seed, warn_independent_sampling=False)
    else:
        noisy = TPESampler(seed=seed)
    return NoiseCheckSampler(deterministic, noisy)
