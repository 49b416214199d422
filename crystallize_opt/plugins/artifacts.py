"""Compatibility path: crystallize-ml's ``crystallize.plugins.artifacts`` (reading results.json files).

A thin re-export so ``from crystallize_opt.plugins.artifacts import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.plugins.artifacts import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ._metrics_files import load_all_metrics, load_metrics

__all__ = ["load_all_metrics", "load_metrics"]
