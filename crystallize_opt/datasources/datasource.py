"""Compatibility path: crystallize-ml's ``crystallize.datasources.datasource`` (the DataSource base and ExperimentInput).

A thin re-export so ``from crystallize_opt.datasources.datasource import ...`` works where a crystallize-ml 0.27
user wrote ``from crystallize.datasources.datasource import ...``; the objects are the ones
``crystallize_opt`` exports (see docs/migrating-from-crystallize.md, "Module paths").
New code imports from ``crystallize_opt`` directly.
"""

from ..artifacts import ExperimentInput, MultiArtifactDataSource
from ..pipeline import DataSource

__all__ = ["DataSource", "ExperimentInput", "MultiArtifactDataSource"]
