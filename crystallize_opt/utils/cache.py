"""Compatibility path: crystallize-ml's ``crystallize.utils.cache`` (step-cache hashing).

A thin re-export so ``from crystallize_opt.utils.cache import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.utils.cache import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ..pipeline import compute_hash

__all__ = ["compute_hash"]
