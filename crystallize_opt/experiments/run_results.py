"""Compatibility path: crystallize-ml's ``crystallize.experiments.run_results`` (per-replicate results).

A thin re-export so ``from crystallize_opt.experiments.run_results import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.experiments.run_results import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ..result import ReplicateResult

__all__ = ["ReplicateResult"]
