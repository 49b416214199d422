"""Samplers: the random generators they draw from, and whether a trial came from the queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from ._studies import study_storage, trial_id

#: Where Optuna's samplers (5.0 and 5.1) keep their ``LazyRandomState`` generators: ``_rng``
#: (TPE, random, GP, NSGA-II/III, grid, brute force) and ``_cma_rng`` (CMA-ES).
_GENERATOR_ATTRS = ("_rng", "_cma_rng")
#: Where they keep the samplers they delegate to: TPE's and NSGA's random sampler, GP's, CMA-ES's
#: and QMC's independent sampler, the base sampler of ``PartialFixedSampler``.
_NESTED_SAMPLER_ATTRS = ("_random_sampler", "_independent_sampler", "_base_sampler")
#: Where they keep what one proposal's fit hands to the next: ``GPSampler`` starts fitting its
#: Gaussian processes from the kernel parameters of its previous fit (objective, constraints).
_FITTED_STATE_ATTRS = ("_gprs_cache_list", "_constraints_gprs_cache_list")


@dataclass(frozen=True)
class SamplerGenerators:
    """The random generators one Optuna sampler (and the samplers it delegates to) draws from,
    in a fixed order: Optuna's ``LazyRandomState`` objects, each reseeded in place (other parts
    of a sampler, such as NSGA-II's strategies, hold the same object).

    Attributes:
        lazy: the ``LazyRandomState`` objects.
        fitted: ``(sampler, attribute)`` of each state that one proposal's fit leaves for the
            next (see :meth:`seed`).
    """

    lazy: tuple[Any, ...]
    fitted: tuple[tuple[object, str], ...] = ()

    @property
    def seeded(self) -> bool:
        """True when every generator already exists: a ``LazyRandomState`` makes its generator at
        construction only when given a seed (else at first use, from the system's entropy), so
        on a fresh sampler this says whether it was seeded."""
        return all(state._rng is not None for state in self.lazy)

    def fingerprints(self) -> list[int]:
        """One number per generator, fixed by its current state (drawn from a copy, so the
        generator itself does not move): equal for samplers made alike with the same seed."""
        out = []
        for state in self.lazy:
            copy = np.random.RandomState()
            copy.set_state(state.rng.get_state())
            out.append(int(copy.randint(0, 2**31 - 1)))
        return out

    def seed(self, seeds: Sequence[int]) -> None:
        """Reseed generator ``k`` with ``seeds[k]`` (an integer from 0 to 2**32 - 1), in place,
        and forget what the previous fit left (``GPSampler``'s kernel parameters): a process
        that resumes a study has no such state, so with it the next proposal would depend on
        whether the run was interrupted. Without it the fit starts from Optuna's defaults."""
        for state, seed in zip(self.lazy, seeds, strict=True):
            state.rng.seed(seed)
        for holder, name in self.fitted:
            setattr(holder, name, None)


def sampler_generators(sampler: object) -> SamplerGenerators | None:
    """The generators ``sampler`` draws from (see :class:`SamplerGenerators`), or None when none
    is found where Optuna keeps them.

    Fast path (Optuna 5.0 and 5.1): the ``LazyRandomState`` objects at ``_rng`` and ``_cma_rng``
    of the sampler and, recursively, of the samplers at ``_random_sampler``,
    ``_independent_sampler`` and ``_base_sampler`` and in a ``samplers`` tuple (crystallize-opt's
    ``HandOffSampler`` and ``NoiseCheckSampler``). Fallback (None): a sampler whose generators
    this module cannot find (a later Optuna moved them, or a sampler of another package): the
    caller leaves it as it is.
    """
    try:
        from optuna.samplers._lazy_random_state import LazyRandomState
    except ImportError:
        return None
    if not hasattr(LazyRandomState(None), "_rng"):  # what SamplerGenerators.seeded reads
        return None
    found: list[Any] = []
    fitted: list[tuple[object, str]] = []
    seen: set[int] = set()

    def walk(current: object) -> None:
        if id(current) in seen:
            return
        seen.add(id(current))
        for name in _GENERATOR_ATTRS:
            state = getattr(current, name, None)
            if isinstance(state, LazyRandomState) and id(state) not in seen:
                seen.add(id(state))
                found.append(state)
        fitted.extend((current, name) for name in _FITTED_STATE_ATTRS if hasattr(current, name))
        for name in _NESTED_SAMPLER_ATTRS:
            nested = getattr(current, name, None)
            if isinstance(nested, optuna.samplers.BaseSampler):
                walk(nested)
        # crystallize-opt's own composite samplers (HandOffSampler, NoiseCheckSampler) name theirs publicly.
        for nested in getattr(current, "samplers", ()):
            if isinstance(nested, optuna.samplers.BaseSampler):
                walk(nested)

    walk(sampler)
    return SamplerGenerators(tuple(found), tuple(fitted)) if found else None


def trial_is_enqueued(trial: optuna.Trial) -> bool:
    """True when ``trial`` was created from the study's queue (``Study.enqueue_trial``: a warm
    start, a retry, an intensification), so its parameters were fixed rather than sampled.

    Fast path (Optuna 5.0 and 5.1): ``trial._fixed_params``, read from the stored trial when
    it was created. Fallback: its system attribute ``fixed_params``, read from the storage (one
    query; Optuna 5 names no public system attributes of a live trial).
    """
    try:
        fixed = trial._fixed_params
    except AttributeError:
        study = trial.study
        fixed = study_storage(study).get_trial_system_attrs(trial_id(study, trial)).get("fixed_params")
    return bool(fixed)
