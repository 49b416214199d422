"""Compatibility path: crystallize-ml's ``crystallize.plugins.plugins`` (the lifecycle plugins).

A thin re-export so ``from crystallize_opt.plugins.plugins import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.plugins.plugins import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ._artifacts import ArtifactPlugin
from ._base import BasePlugin
from ._logging import LoggingPlugin
from ._seed import SeedPlugin, default_seed_function

__all__ = ["ArtifactPlugin", "BasePlugin", "LoggingPlugin", "SeedPlugin", "default_seed_function"]
