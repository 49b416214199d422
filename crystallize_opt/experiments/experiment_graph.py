"""Compatibility path: crystallize-ml's ``crystallize.experiments.experiment_graph`` (the experiment DAG).

A thin re-export so ``from crystallize_opt.experiments.experiment_graph import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.experiments.experiment_graph import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from .._paths import find_experiments_root
from ..artifacts import ExperimentInput
from ..experiment import ExperimentGraph

__all__ = ["ExperimentGraph", "ExperimentInput", "find_experiments_root"]
