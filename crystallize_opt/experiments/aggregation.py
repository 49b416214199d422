"""Compatibility path: crystallize-ml's ``crystallize.experiments.aggregation`` (the replicate aggregator).

A thin re-export so ``from crystallize_opt.experiments.aggregation import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.experiments.aggregation import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ..result import AggregateData, ReplicateResult, ResultAggregator

__all__ = ["AggregateData", "ReplicateResult", "ResultAggregator"]
