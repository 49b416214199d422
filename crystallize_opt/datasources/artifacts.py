"""Compatibility path: crystallize-ml's ``crystallize.datasources.artifacts`` (the Artifact handle).

A thin re-export so ``from crystallize_opt.datasources.artifacts import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.datasources.artifacts import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ..artifacts import Artifact, default_loader, default_writer

__all__ = ["Artifact", "default_loader", "default_writer"]
