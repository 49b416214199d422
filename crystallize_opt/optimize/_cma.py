"""Optuna's CMA-ES sampler, its proposals independent of trial numbers."""

from __future__ import annotations

import copy
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import CmaEsSampler
from optuna.trial import FrozenTrial


class ResumableCmaEsSampler(CmaEsSampler):
    """Optuna's :class:`~optuna.samplers.CmaEsSampler` (same arguments, same search) whose
    proposals do not depend on trial numbers.

    Optuna's sampler seeds each proposal with its generator's next draw plus the trial's number. A
    study resumed after an interrupted trial holds one failed trial more, so every later trial's
    number is shifted by one and Optuna's sampler proposes other points than in a run that went
    straight through. This one proposes as if every trial were number 0; crystallize-opt reseeds
    the sampler's generator before each trial from the proposals the study holds
    (:class:`~crystallize_opt.optimize.TrialSeeding`), so each proposal still draws its own
    points, and a resumed study proposes what an uninterrupted one did. Used alone, the
    generator advances with each proposal, as Optuna's does.

    CMA-ES keeps its state in the study (each generation's optimizer is stored with a trial),
    so a resumed study goes on from the generation it reached.
    """

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        # Optuna reads the trial's number only to offset the proposal's seed (its id, kept,
        # says where the generation and optimizer state are stored).
        renumbered = copy.copy(trial)
        renumbered.number = 0
        return super().sample_relative(study, renumbered, search_space)
