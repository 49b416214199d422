"""Compatibility path: crystallize-ml's ``crystallize.pipelines`` (pipelines and steps).

A thin re-export so ``from crystallize_opt.pipelines import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.pipelines import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ..pipeline import Pipeline, PipelineStep

__all__ = ["Pipeline", "PipelineStep"]
