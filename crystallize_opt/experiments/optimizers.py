"""Compatibility path: crystallize-ml's ``crystallize.experiments.optimizers`` (the optimizer interface).

A thin re-export so ``from crystallize_opt.experiments.optimizers import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.experiments.optimizers import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ..optimize import BaseOptimizer, Objective

__all__ = ["BaseOptimizer", "Objective"]
