"""Compatibility path: crystallize-ml's ``crystallize.utils.constants`` (reserved context keys and file names).

A thin re-export so ``from crystallize_opt.utils.constants import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.utils.constants import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from .._constants import BASELINE_CONDITION, CONDITION_KEY, METADATA_FILENAME, REPLICATE_KEY, SEED_USED_KEY

__all__ = ["BASELINE_CONDITION", "CONDITION_KEY", "METADATA_FILENAME", "REPLICATE_KEY", "SEED_USED_KEY"]
