"""Compatibility path: crystallize-ml's ``crystallize.experiments.experiment_builder`` (the fluent builder).

A thin re-export so ``from crystallize_opt.experiments.experiment_builder import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.experiments.experiment_builder import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ..experiment import ExperimentBuilder

__all__ = ["ExperimentBuilder"]
