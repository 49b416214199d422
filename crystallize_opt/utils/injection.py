"""Compatibility path: crystallize-ml's ``crystallize.utils.injection`` (context injection).

A thin re-export so ``from crystallize_opt.utils.injection import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.utils.injection import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ..pipeline import inject_from_ctx

__all__ = ["inject_from_ctx"]
