"""Compatibility path: crystallize-ml's ``crystallize.experiments.result`` (Result).

A thin re-export so ``from crystallize_opt.experiments.result import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.experiments.result import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ..result import Result

__all__ = ["Result"]
