"""Compatibility path: crystallize-ml's ``crystallize.utils`` (helpers).

A thin re-export so ``from crystallize_opt.utils import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.utils import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""
