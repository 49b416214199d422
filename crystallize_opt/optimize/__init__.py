"""Optimization of treatments: the optimizer contract and the Optuna adapter."""

from ._base import BaseOptimizer, OptimizationRun
from ._evaluation import TrialEvaluation
from ._objective import Objective
from ._optuna import OptunaOptimizer
from ._replay import ReplayReport

__all__ = [
    "BaseOptimizer",
    "Objective",
    "OptimizationRun",
    "OptunaOptimizer",
    "ReplayReport",
    "TrialEvaluation",
]
