"""Compatibility path: crystallize-ml's ``crystallize.pipelines.pipeline_step`` (the PipelineStep base).

A thin re-export so ``from crystallize_opt.pipelines.pipeline_step import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.pipelines.pipeline_step import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ..pipeline import PipelineStep

__all__ = ["PipelineStep"]
