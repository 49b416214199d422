"""Compatibility path: crystallize-ml's ``crystallize.experiments.hypothesis`` (Hypothesis).

A thin re-export so ``from crystallize_opt.experiments.hypothesis import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.experiments.hypothesis import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ..exceptions import MissingMetricError
from ..hypothesis import Hypothesis, rank_by_p_value

__all__ = ["Hypothesis", "MissingMetricError", "rank_by_p_value"]
