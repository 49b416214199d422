"""Compatibility path: crystallize-ml's ``crystallize.experiments`` (experiments).

A thin re-export so ``from crystallize_opt.experiments import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.experiments import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ..experiment import Experiment, ExperimentBuilder, ExperimentGraph
from ..hypothesis import Hypothesis
from ..treatment import Treatment

__all__ = ["Experiment", "ExperimentBuilder", "ExperimentGraph", "Hypothesis", "Treatment"]
