"""Compatibility path: crystallize-ml's ``crystallize.experiments.treatment`` (Treatment).

A thin re-export so ``from crystallize_opt.experiments.treatment import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.experiments.treatment import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ..treatment import Treatment, _MappingApplier

__all__ = ["Treatment", "_MappingApplier"]
