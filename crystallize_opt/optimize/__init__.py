"""Optimization of treatments: the optimizer contract and the Optuna adapter."""

from ._base import BaseOptimizer, OptimizationRun, WorkerRole
from ._evaluation import TrialEvaluation
from ._noise import NoiseHandling, WinnerSelection
from ._objective import Objective
from ._optuna import OptunaOptimizer
from ._replay import ReplayReport

__all__ = [
    "BaseOptimizer",
    "NoiseHandling",
    "Objective",
    "OptimizationRun",
    "OptunaOptimizer",
    "ReplayReport",
    "TrialEvaluation",
    "WinnerSelection",
    "WorkerRole",
]
