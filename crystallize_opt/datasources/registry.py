"""Compatibility path: crystallize-ml's ``crystallize.datasources.registry`` (the datasource registry).

A thin re-export so ``from crystallize_opt.datasources.registry import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.datasources.registry import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ..pipeline import (
    clear_registry,
    get_datasource,
    list_datasources,
    register_datasource,
    unregister_datasource,
)

__all__ = [
    "clear_registry",
    "get_datasource",
    "list_datasources",
    "register_datasource",
    "unregister_datasource",
]
