"""Compatibility path: crystallize-ml's ``crystallize.utils.context`` (the context).

A thin re-export so ``from crystallize_opt.utils.context import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.utils.context import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ..context import ContextMetrics, FrozenContext, LoggingContext, standalone_context
from ..exceptions import ContextMutationError

__all__ = ["ContextMetrics", "ContextMutationError", "FrozenContext", "LoggingContext", "standalone_context"]
