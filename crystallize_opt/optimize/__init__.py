"""Optimization of treatments: the optimizer contract and the Optuna adapter.

Two kinds of names live here:

- the user API (re-exported by ``crystallize_opt``): :class:`BaseOptimizer`,
  :class:`OptunaOptimizer`, :class:`Objective`, :class:`NoiseHandling`, :class:`HandOffSampler`,
  :class:`NoRepeatSampler`, :class:`ResumableCmaEsSampler` and the run's records;
- the engine interface, for the packages above this one (``experiment`` runs the loop and the
  worker processes, ``config`` checks a study file's settings with the constructors' own rules,
  ``cli`` reads a stored study). These are not for users and may change between releases.
  :class:`TrialSeeding` and :func:`proposed_trials` are the rule by which a seeded sampler draws
  each trial's randomness, for a bare Optuna loop that must propose the same trials (the
  overhead benchmark, a replay in the tests).

Other packages import from here, never from this package's ``_private`` modules
(``tests/test_layers.py`` checks it).
"""

from ._arguments import check_arguments, check_warm_start
from ._base import BaseOptimizer, OptimizationRun, WorkerRole
from ._cma import ResumableCmaEsSampler
from ._collaborators import collaborators_of
from ._composite_samplers import HandOffSampler, NoiseCheckSampler, NoRepeatSampler
from ._dask import run_dask_workers
from ._evaluation import TrialEvaluation
from ._loop import finish_optimization, run_optimization
from ._noise import NoiseHandling, WinnerSelection, stored_selection
from ._objective import Objective
from ._optuna import OptunaOptimizer
from ._progress import execution_bar
from ._replay import ReplayReport, replay_trial
from ._sampler import CMA_SEARCH_PARAMS, GP_SEARCH_TRIALS, default_sampler
from ._space import SearchSpace
from ._study import best_of, treatment_of
from ._trial_seeds import TrialSeeding, proposed_trials
from ._workers import run_workers

__all__ = [
    "CMA_SEARCH_PARAMS",
    "GP_SEARCH_TRIALS",
    "BaseOptimizer",
    "HandOffSampler",
    "NoRepeatSampler",
    "NoiseCheckSampler",
    "NoiseHandling",
    "Objective",
    "OptimizationRun",
    "OptunaOptimizer",
    "ReplayReport",
    "ResumableCmaEsSampler",
    "SearchSpace",
    "TrialEvaluation",
    "TrialSeeding",
    "WinnerSelection",
    "WorkerRole",
    "best_of",
    "check_arguments",
    "check_warm_start",
    "collaborators_of",
    "default_sampler",
    "execution_bar",
    "finish_optimization",
    "proposed_trials",
    "replay_trial",
    "run_dask_workers",
    "run_optimization",
    "run_workers",
    "stored_selection",
    "treatment_of",
]
