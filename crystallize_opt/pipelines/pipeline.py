"""Compatibility path: crystallize-ml's ``crystallize.pipelines.pipeline`` (the Pipeline).

A thin re-export so ``from crystallize_opt.pipelines.pipeline import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.pipelines.pipeline import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ..exceptions import PipelineExecutionError
from ..pipeline import Pipeline

__all__ = ["Pipeline", "PipelineExecutionError"]
